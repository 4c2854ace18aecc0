import CZlib
import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Behaviour of the synthetic-export generator: determinism, the data
/// contract of every export, and the latent signal (truth.csv.gz).
final class SyntheticExportGeneratorTests: XCTestCase {
    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: SyntheticGenTestSupport.sharedDirectory)
        super.tearDown()
    }

    /// Generates into a temporary directory removed after the test.
    private func generate(_ options: SyntheticExportOptions) throws -> SyntheticGenTestSupport.Generated {
        let generated = try SyntheticGenTestSupport.generate(options)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: generated.directory) }
        return generated
    }

    // MARK: determinism

    func testSameSeedGivesByteIdenticalFilesWhateverTheThreadCount() throws {
        let options = SyntheticExportOptions(customers: 260, days: 40, seed: 5, endDate: "2026-03-02", threads: 1)
        var parallel = options
        parallel.threads = 4
        let one = try generate(options)
        let four = try generate(parallel)
        XCTAssertEqual(one.summary.filesWritten, four.summary.filesWritten)
        XCTAssertEqual(one.summary.files, four.summary.files)
        XCTAssertEqual(one.summary.churnedCustomers, four.summary.churnedCustomers)
        for path in one.summary.filesWritten {
            let a = try Data(contentsOf: one.url(path))
            let b = try Data(contentsOf: four.url(path))
            XCTAssertEqual(a, b, "\(path) differs between 1 and 4 threads")
        }
        // And a rerun into the same directory reproduces the bytes.
        let again = try SyntheticExportGenerator.generate(options: parallel, to: one.directory)
        XCTAssertEqual(again.files, one.summary.files)
        for path in one.summary.filesWritten {
            XCTAssertEqual(try Data(contentsOf: one.url(path)), try Data(contentsOf: four.url(path)), path)
        }
    }

    func testAnotherSeedGivesDifferentData() throws {
        let base = SyntheticExportOptions(customers: 200, days: 20, seed: 5, endDate: "2026-03-02", threads: 2)
        var other = base
        other.seed = 6
        let a = try generate(base)
        let b = try generate(other)
        XCTAssertEqual(a.summary.filesWritten, b.summary.filesWritten, "the layout depends on the window only")
        for path in [
            "exports/accounts.csv.gz", "exports/activity-2026-03-01.csv.gz", "exports/uptime-2026-02.csv.gz",
            "truth.csv.gz",
        ] {
            XCTAssertNotEqual(try a.text(path), try b.text(path), "\(path) should change with the seed")
        }
    }

    // MARK: layout and row counts

    func testLayoutAndRowCountsFollowTheOptions() throws {
        let f = try SyntheticGenTestSupport.shared()
        let days = f.options.days
        let activityFiles = f.summary.filesWritten.filter { $0.hasPrefix("exports/activity-") }
        XCTAssertEqual(activityFiles.count, days)
        XCTAssertEqual(activityFiles.first, "exports/activity-\(f.windowStartText).csv.gz")
        XCTAssertEqual(activityFiles.last, "exports/activity-2026-11-23.csv.gz")
        XCTAssertEqual(
            f.summary.filesWritten.filter { $0.hasPrefix("exports/uptime-") },
            [
                "exports/uptime-2026-07.csv.gz", "exports/uptime-2026-08.csv.gz", "exports/uptime-2026-09.csv.gz",
                "exports/uptime-2026-10.csv.gz", "exports/uptime-2026-11.csv.gz",
            ])
        XCTAssertEqual(
            f.summary.filesWritten.filter { $0.hasPrefix("exports/tickets-") },
            [
                "exports/tickets-2026-07.jsonl.gz", "exports/tickets-2026-08.jsonl.gz",
                "exports/tickets-2026-09.jsonl.gz",
                "exports/tickets-2026-10.jsonl.gz", "exports/tickets-2026-11.jsonl.gz",
            ])
        XCTAssertTrue(f.summary.filesWritten.contains("truth.csv.gz"))
        XCTAssertTrue(f.summary.filesWritten.contains("exports/accounts.csv.gz"))
        XCTAssertTrue(f.summary.filesWritten.contains("exports/savings.csv.gz"))
        XCTAssertEqual(f.summary.files.count, days + 5 + 5 + 3)

        // Accounts: one row per customer, unique zero-padded ids.
        XCTAssertEqual(f.accounts.count, f.options.customers)
        XCTAssertEqual(Set(f.accounts.map(\.id)).count, f.options.customers)
        XCTAssertEqual(f.accounts.first?.id, "cust_000001")
        XCTAssertEqual(f.accounts.last?.id, "cust_001500")
        XCTAssertEqual(f.summary.rowsPerExport["accounts"], f.options.customers)
        XCTAssertEqual(f.summary.churnedCustomers, f.accounts.filter { $0.churnedAt != nil }.count)

        // Uptime: exactly one row per customer per subscribed day.
        var expectedUptime = 0
        for account in f.accounts {
            let first = max(f.windowStart, account.startDay)
            let last = account.churnedAt.map { Int(floor(Double($0) / 86_400)) } ?? f.windowEnd
            expectedUptime += max(0, last - first + 1)
        }
        XCTAssertEqual(f.uptime.count, expectedUptime)
        XCTAssertEqual(f.summary.rowsPerExport["uptime"], expectedUptime)

        // Activity: about activityRate * customers * days rows.
        let expected = f.options.activityRate * Double(f.options.customers * days)
        XCTAssertEqual(Double(f.activity.count), expected, accuracy: expected * 0.1)
        XCTAssertEqual(f.summary.rowsPerExport["activity"], f.activity.count)

        // Savings: a handful per customer; tickets exist; truth at each month end plus the end date.
        XCTAssertEqual(Double(f.savings.count) / Double(f.options.customers), 5, accuracy: 2.5)
        XCTAssertGreaterThan(f.tickets.count, f.options.customers / 2)
        XCTAssertEqual(
            Set(f.truth.map(\.asOf)), ["2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-23"])
    }

    func testDefaultSampleStaysSmall() throws {
        let result = try generate(SyntheticExportOptions(threads: 2))
        XCTAssertEqual(result.summary.customers, 300)
        XCTAssertEqual(result.summary.files.filter { $0.export == "activity" }.count, 180)
        XCTAssertEqual(result.summary.windowStart, "2026-05-28")
        XCTAssertEqual(result.summary.windowEnd, "2026-11-23")
        XCTAssertLessThan(result.summary.totalBytes, 4_000_000, "the committed sample must stay a few MB")
        let churnShare = Double(result.summary.churnedCustomers) / 300
        XCTAssertTrue((0.07...0.30).contains(churnShare), "churn over 180 days was \(churnShare)")
    }

    // MARK: gzip

    func testEveryFileIsValidGzipAndActivityFilesHaveTwoMembers() throws {
        let f = try SyntheticGenTestSupport.shared()
        for path in f.summary.filesWritten {
            let status = try SyntheticGenTestSupport.run(["gzip", "-t", f.url(path).path]).status
            XCTAssertEqual(status, 0, "gzip -t failed on \(path)")
        }
        let activity = f.summary.filesWritten.filter { $0.hasPrefix("exports/activity-") }
        for (index, path) in activity.enumerated() where index % 6 == 0 || index == activity.count - 1 {
            let (members, text) = try SyntheticGenTestSupport.inflateMembers(Data(contentsOf: f.url(path)))
            XCTAssertEqual(members, 2, "\(path) should hold two gzip members")
            XCTAssertEqual(text, try f.text(path), "zlib and gzip -dc disagree on \(path)")
        }
    }

    // MARK: data contract

    func testAccountsFollowTheContract() throws {
        let f = try SyntheticGenTestSupport.shared()
        let header = try f.lines("exports/accounts.csv.gz").first
        XCTAssertEqual(
            header,
            "customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules,acquisition_cost,nps"
        )
        let quoted = try f.lines("exports/accounts.csv.gz").filter { $0.contains("\"") }
        XCTAssertFalse(quoted.isEmpty, "some names must need RFC 4180 quoting")
        XCTAssertTrue(f.accounts.contains { $0.name.contains(",") })
        XCTAssertTrue(f.accounts.contains { $0.name.contains("\"") })
        var insideWindow = 0
        for a in f.accounts {
            XCTAssertEqual(a.fields.count, 11)
            XCTAssertTrue(["starter", "professional", "enterprise"].contains(a.plan))
            XCTAssertNotNil(a.fields[3].range(of: #"^[0-9]+\.[0-9]{2}$"#, options: .regularExpression), a.fields[3])
            XCTAssertGreaterThanOrEqual(a.seats, 1)
            XCTAssertEqual(a.featuresAvailable, ["starter": 8, "professional": 15, "enterprise": 25][a.plan])
            XCTAssertTrue((6...12).contains(a.trainingModules))
            if !a.fields[9].isEmpty {
                XCTAssertNotNil(a.fields[9].range(of: #"^[0-9]+\.[0-9]{2}$"#, options: .regularExpression))
            }
            if let nps = Int(a.fields[10]) {
                XCTAssertTrue((0...10).contains(nps))
            } else {
                XCTAssertEqual(a.fields[10], "")
            }
            if !a.fields[5].isEmpty {
                XCTAssertNotNil(
                    a.fields[5].range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$"#, options: .regularExpression),
                    a.fields[5])
                XCTAssertGreaterThanOrEqual(a.churnedAt!, Int64(f.windowStart) * 86_400)
            }
            if a.startDay >= f.windowStart { insideWindow += 1 }
        }
        let n = Double(f.accounts.count)
        XCTAssertEqual(Double(f.accounts.filter { $0.fields[9].isEmpty }.count) / n, 0.10, accuracy: 0.04)
        XCTAssertEqual(Double(f.accounts.filter { $0.fields[10].isEmpty }.count) / n, 0.30, accuracy: 0.05)
        XCTAssertGreaterThan(insideWindow, 50, "some subscriptions start inside the window")
        XCTAssertLessThan(insideWindow, f.accounts.count / 2)
    }

    func testActivityRowsAreWellFormedAndSortedByTime() throws {
        let f = try SyntheticGenTestSupport.shared()
        let types: Set<String> = [
            "login", "feature_use", "api_call", "mobile_session", "dashboard_view", "work_order_completed",
            "training_completed",
        ]
        var offsetRows = 0
        var seenTypes = Set<String>()
        for path in f.summary.filesWritten where path.hasPrefix("exports/activity-") {
            let lines = try f.lines(path)
            XCTAssertEqual(lines.first, "customer_id,user_id,occurred_at,event_type,feature,duration_s")
            let fileDay = SyntheticGenTestSupport.parseDate(
                String(path.dropFirst("exports/activity-".count).prefix(10)))!
            var previous = Int64.min
            for line in lines.dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                XCTAssertEqual(fields.count, 6, line)
                guard fields.count == 6, let instant = SyntheticGenTestSupport.parseInstant(fields[2]) else {
                    XCTFail("bad row \(line)")
                    continue
                }
                XCTAssertGreaterThanOrEqual(instant, previous, "rows of \(path) must be sorted by time")
                previous = instant
                XCTAssertEqual(Int(instant / 86_400), fileDay, "\(fields[2]) is not on the file's (UTC) day")
                if !fields[2].hasSuffix("Z") { offsetRows += 1 }
                XCTAssertTrue(fields[1].hasPrefix(fields[0] + "-u"), line)
                XCTAssertTrue(types.contains(fields[3]), line)
                seenTypes.insert(fields[3])
                switch fields[3] {
                case "feature_use": XCTAssertFalse(fields[4].isEmpty, line)
                case "training_completed":
                    XCTAssertNotNil(fields[4].range(of: #"^module_\d{2}$"#, options: .regularExpression), line)
                default: XCTAssertEqual(fields[4], "", line)
                }
                XCTAssertTrue(fields[5].isEmpty || Int(fields[5]) != nil, line)
            }
        }
        XCTAssertEqual(seenTypes, types)
        let share = Double(offsetRows) / Double(f.activity.count)
        XCTAssertTrue((0.01...0.06).contains(share), "offset timestamps on \(share) of rows")
    }

    func testEveryReferencedCustomerExistsAndRespectsItsSubscription() throws {
        let f = try SyntheticGenTestSupport.shared()
        let accounts = Dictionary(uniqueKeysWithValues: f.accounts.map { ($0.id, $0) })
        var checkedChurned = Set<String>()
        for row in f.activity {
            guard let account = accounts[row.customer] else {
                XCTFail("activity references unknown \(row.customer)")
                continue
            }
            if let churnedAt = account.churnedAt {
                XCTAssertLessThan(row.instant, churnedAt, "\(row.customer) has activity after churned_at")
                checkedChurned.insert(row.customer)
            }
            XCTAssertGreaterThanOrEqual(
                row.instant, Int64(account.startDay) * 86_400, "\(row.customer) has activity before its start")
            XCTAssertLessThanOrEqual(row.user, account.seats)
            if let module = row.module { XCTAssertLessThanOrEqual(module, account.trainingModules) }
        }
        XCTAssertGreaterThan(checkedChurned.count, 20, "churned customers were active before churning")
        for ticket in f.tickets {
            guard let account = accounts[ticket.customer] else {
                XCTFail("ticket for unknown \(ticket.customer)")
                continue
            }
            if let churnedAt = account.churnedAt { XCTAssertLessThan(ticket.opened, churnedAt) }
        }
        for row in f.uptime {
            guard let account = accounts[row.customer] else {
                XCTFail("uptime for unknown \(row.customer)")
                continue
            }
            XCTAssertGreaterThanOrEqual(row.day, account.startDay)
            if let churnedAt = account.churnedAt { XCTAssertLessThanOrEqual(Int64(row.day) * 86_400, churnedAt) }
        }
        for row in f.savings { XCTAssertNotNil(accounts[row.customer], row.customer) }
        for row in f.truth {
            guard let account = accounts[row.customer] else {
                XCTFail("truth for unknown \(row.customer)")
                continue
            }
            let asOf = SyntheticGenTestSupport.parseDate(row.asOf)!
            XCTAssertGreaterThanOrEqual(asOf, account.startDay)
            if let churnedAt = account.churnedAt { XCTAssertGreaterThanOrEqual(churnedAt, Int64(asOf + 1) * 86_400) }
        }
    }

    func testUptimeAndSavingsValues() throws {
        let f = try SyntheticGenTestSupport.shared()
        XCTAssertEqual(try f.lines("exports/uptime-2026-08.csv.gz").first, "customer_id,date,uptime_pct")
        XCTAssertEqual(try f.lines("exports/savings.csv.gz").first, "customer_id,recorded_at,amount,category")
        var high = 0
        for row in f.uptime {
            XCTAssertTrue((0...100).contains(row.value), "\(row.value)")
            XCTAssertNotNil(row.text.range(of: #"^\d{1,3}(\.\d{1,3})?$"#, options: .regularExpression), row.text)
            if row.value >= 99.5 { high += 1 }
        }
        let highShare = Double(high) / Double(f.uptime.count)
        XCTAssertTrue((0.9..<1).contains(highShare), "uptime >= 99.5 on \(highShare) of rows")
        for row in f.savings {
            XCTAssertGreaterThanOrEqual(row.amount, 0)
            XCTAssertNotNil(row.amountText.range(of: #"^\d+\.\d{2}$"#, options: .regularExpression), row.amountText)
            XCTAssertTrue(["labor", "downtime", "inventory", "energy"].contains(row.category), row.category)
        }
    }

    func testTicketUpdatesRepeatTheTicketWithWhatIsKnown() throws {
        let f = try SyntheticGenTestSupport.shared()
        var firstSeen: [String: SyntheticGenTestSupport.Ticket] = [:]
        var statusesPerTicket: [String: [String]] = [:]
        for ticket in f.tickets {
            XCTAssertTrue(["low", "medium", "high", "urgent"].contains(ticket.priority))
            switch ticket.status {
            case "open":
                XCTAssertNil(ticket.firstResponse)
                XCTAssertNil(ticket.resolved)
            case "pending":
                XCTAssertNotNil(ticket.firstResponse)
                XCTAssertNil(ticket.resolved)
            case "resolved", "closed":
                XCTAssertNotNil(ticket.firstResponse)
                XCTAssertNotNil(ticket.resolved)
            default:
                XCTFail("status \(ticket.status)")
            }
            if let response = ticket.firstResponse { XCTAssertGreaterThan(response, ticket.opened) }
            if let resolved = ticket.resolved, let response = ticket.firstResponse {
                XCTAssertGreaterThan(resolved, response)
            }
            // A row sits in the month file of its own update, never earlier.
            let latest = [ticket.opened, ticket.firstResponse ?? 0, ticket.resolved ?? 0].max()!
            XCTAssertGreaterThanOrEqual(ticket.fileMonth, SyntheticGenTestSupport.monthLabel(latest), ticket.id)
            if let first = firstSeen[ticket.id] {
                XCTAssertEqual(first.customer, ticket.customer)
                XCTAssertEqual(first.opened, ticket.opened)
                XCTAssertEqual(first.priority, ticket.priority)
            } else {
                firstSeen[ticket.id] = ticket
                XCTAssertEqual(ticket.status, "open", "a ticket first appears when opened")
                XCTAssertEqual(ticket.fileMonth, SyntheticGenTestSupport.monthLabel(ticket.opened))
            }
            statusesPerTicket[ticket.id, default: []].append(ticket.status)
        }
        XCTAssertNotNil(f.tickets.first?.id.range(of: #"^t_\d{6,}$"#, options: .regularExpression))
        let order = ["open", "pending", "resolved", "closed"]
        for (id, statuses) in statusesPerTicket {
            let ranks = statuses.map { order.firstIndex(of: $0)! }
            XCTAssertEqual(ranks, Array(0..<ranks.count), "\(id) went through \(statuses)")
        }
        XCTAssertTrue(statusesPerTicket.values.contains { $0.count == 4 })
        XCTAssertTrue(statusesPerTicket.values.contains { $0.count < 4 }, "some tickets are still open at the end")
        let crossMonth = f.tickets.filter {
            $0.status != "open" && $0.fileMonth != SyntheticGenTestSupport.monthLabel($0.opened)
        }
        XCTAssertFalse(crossMonth.isEmpty, "some updates land in a later month file")
    }

    // MARK: the latent signal

    /// Known answer: the truth file is calibrated, lower latent health means
    /// more churn, and the exports follow health.
    func testLowerLatentHealthChurnsMoreAndTruthIsCalibrated() throws {
        let f = try SyntheticGenTestSupport.shared()
        let churnedAt = Dictionary(uniqueKeysWithValues: f.accounts.map { ($0.id, $0.churnedAt) })
        var scored: [(p: Double, h: Double, churned: Bool)] = []
        for row in f.truth {
            let asOf = SyntheticGenTestSupport.parseDate(row.asOf)!
            guard asOf + 30 <= f.windowEnd else { continue }  // the 30 days after must be observed
            let end = Int64(asOf + 1) * 86_400
            let churned = churnedAt[row.customer]!.map { $0 >= end && $0 < end + 30 * 86_400 } ?? false
            scored.append((row.probability, row.health, churned))
        }
        XCTAssertGreaterThan(scored.count, 3_000)
        let positives = scored.filter(\.churned).count
        XCTAssertGreaterThan(positives, 40)
        let realised = Double(positives) / Double(scored.count)
        let predicted = scored.map(\.p).reduce(0, +) / Double(scored.count)
        XCTAssertEqual(predicted, realised, accuracy: 0.015, "truth probabilities are calibrated")

        let auc = SyntheticGenTestSupport.auc(scores: scored.map(\.p), labels: scored.map(\.churned))
        XCTAssertGreaterThan(auc, 0.75, "truth AUC \(auc)")

        let byHealth = scored.sorted { $0.h < $1.h }
        let quarter = byHealth.count / 4
        let low = byHealth.prefix(quarter).filter(\.churned).count
        let high = byHealth.suffix(quarter).filter(\.churned).count
        XCTAssertGreaterThan(low, 4 * max(high, 1), "lowest-health quarter churned \(low), highest \(high)")
        XCTAssertGreaterThan(-SyntheticGenTestSupport.correlation(scored.map(\.h), scored.map(\.p)), 0.5)

        // Exports follow health: per customer at the last month end, healthier
        // customers have more activity and savings per seat and fewer tickets.
        let lastTruth = f.truth.filter { $0.asOf == "2026-10-31" }
        let health = Dictionary(uniqueKeysWithValues: lastTruth.map { ($0.customer, $0.health) })
        let seats = Dictionary(uniqueKeysWithValues: f.accounts.map { ($0.id, Double($0.seats)) })
        let from = Int64(SyntheticGenTestSupport.parseDate("2026-10-02")!) * 86_400
        let to = Int64(SyntheticGenTestSupport.parseDate("2026-11-01")!) * 86_400
        var activity: [String: Double] = [:]
        var users: [String: Set<Int>] = [:]
        for row in f.activity where row.instant >= from && row.instant < to && health[row.customer] != nil {
            activity[row.customer, default: 0] += 1
            users[row.customer, default: []].insert(row.user)
        }
        var tickets: [String: Double] = [:]
        for t in f.tickets where t.status == "open" && t.opened >= from - 60 * 86_400 && t.opened < to {
            tickets[t.customer, default: 0] += 1
        }
        var savings: [String: Double] = [:]
        for s in f.savings { savings[s.customer, default: 0] += s.amount }
        let ids = health.keys.sorted()
        let h = ids.map { health[$0]! }
        let perSeat = ids.map { (activity[$0] ?? 0) / seats[$0]!.squareRoot() }
        let userShare = ids.map { Double(users[$0]?.count ?? 0) / seats[$0]! }
        let ticketCounts = ids.map { tickets[$0] ?? 0 }
        let savingsPerSeat = ids.map { (savings[$0] ?? 0) / seats[$0]! }
        XCTAssertGreaterThan(SyntheticGenTestSupport.correlation(h, perSeat), 0.3)
        XCTAssertGreaterThan(SyntheticGenTestSupport.correlation(h, userShare), 0.3)
        XCTAssertLessThan(SyntheticGenTestSupport.correlation(h, ticketCounts), -0.1)
        XCTAssertGreaterThan(SyntheticGenTestSupport.correlation(h, savingsPerSeat), 0.2)
    }

    /// The truth probability is the exact answer of the chain: Monte-Carlo
    /// runs of the simulation's own transition and hazard agree with it.
    func testTruthProbabilityMatchesMonteCarloOfTheSimulation() {
        let cases: [(baseline: Int, infra: Int, h: Int)] = [(30, 2, 25), (60, 0, 60), (45, 1, 30), (80, 0, 20)]
        for (k, c) in cases.enumerated() {
            let exact = SyntheticLatentModel.churnProbabilities(baseline: c.baseline, infraClass: c.infra)[c.h]
            var r = SyntheticRandom.stream(seed: 99, tag: 1_000, k)
            let paths = 40_000
            var churned = 0
            for _ in 0..<paths {
                var h = c.h
                for _ in 0..<30 {
                    let level = SyntheticLatentModel.level(r.uniform(), infraClass: c.infra)
                    h = SyntheticLatentModel.transition(
                        h, baseline: c.baseline, penalty: SyntheticLatentModel.penaltySteps[level], u1: r.uniform(),
                        u2: r.uniform())
                    if r.uniform() < SyntheticLatentModel.hazard[h] {
                        churned += 1
                        break
                    }
                }
            }
            let estimate = Double(churned) / Double(paths)
            let se = max((exact * (1 - exact) / Double(paths)).squareRoot(), 0.000_5)
            XCTAssertEqual(estimate, exact, accuracy: 4.5 * se, "case \(c)")
        }
        // Monotone: lower health, higher 30-day churn.
        let table = SyntheticLatentModel.churnProbabilities(baseline: 50, infraClass: 0)
        for i in 1...100 { XCTAssertLessThanOrEqual(table[i], table[i - 1]) }
        XCTAssertGreaterThan(table[10], 0.2)
        XCTAssertGreaterThan(table[10], 8 * table[50])
        XCTAssertLessThan(table[90], 0.01)
    }

    func testInvalidOptionsAreRejected() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "synthetic-invalid-\(UUID().uuidString)"
        ).path
        for options in [
            SyntheticExportOptions(endDate: "2026-02-30"),
            SyntheticExportOptions(endDate: "23/11/2026"),
            SyntheticExportOptions(customers: 0),
            SyntheticExportOptions(days: 0),
            SyntheticExportOptions(activityRate: -1),
            SyntheticExportOptions(threads: 0),
            SyntheticExportOptions(gzipLevel: 10),
        ] {
            XCTAssertThrowsError(try SyntheticExportGenerator.generate(options: options, to: dir), "\(options)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
    }
}

// MARK: - Helpers

/// Test-only helpers: run the generator into a temporary directory, read
/// its files back through `gzip -dc`, and parse them.
extension SyntheticGenTestSupport {
    struct Generated: Sendable {
        let directory: String
        let summary: SyntheticExportSummary

        func url(_ path: String) -> URL { URL(fileURLWithPath: directory).appendingPathComponent(path) }
        func text(_ path: String) throws -> String { try SyntheticGenTestSupport.gunzip(url(path)) }
    }

    static func generate(
        _ options: SyntheticExportOptions, into name: String = "synthetic-export-tests-\(UUID().uuidString)"
    ) throws -> Generated {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        let summary = try SyntheticExportGenerator.generate(options: options, to: directory)
        return Generated(directory: directory, summary: summary)
    }

    /// Inflates every gzip member with zlib; returns the member count and the text.
    static func inflateMembers(_ data: Data) throws -> (members: Int, text: String) {
        var bytes = [UInt8](data)
        var output: [UInt8] = []
        var members = 0
        var offset = 0
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        while offset < bytes.count {
            // zlib remembers the stream's address: keep it on the C heap.
            guard let stream = ch_zstream_allocate() else { throw SyntheticExportError.io("calloc") }
            defer {
                inflateEnd(stream)
                free(stream)
            }
            guard ch_inflate_init_gzip(stream) == Z_OK else { throw SyntheticExportError.io("inflateInit") }
            var status: Int32 = Z_OK
            try bytes.withUnsafeMutableBufferPointer { input in
                stream.pointee.next_in = input.baseAddress! + offset
                stream.pointee.avail_in = UInt32(input.count - offset)
                repeat {
                    status = buffer.withUnsafeMutableBufferPointer { out in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = UInt32(chunk)
                        return inflate(stream, Z_NO_FLUSH)
                    }
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw SyntheticExportError.io("inflate \(status)")
                    }
                    output.append(contentsOf: buffer[0..<(chunk - Int(stream.pointee.avail_out))])
                } while status != Z_STREAM_END
                offset = input.count - Int(stream.pointee.avail_in)
            }
            members += 1
        }
        return (members, String(decoding: output, as: UTF8.self))
    }

    // MARK: parsing

    static func days(year: Int, month: Int, day: Int) -> Int {
        // Days since 1970-01-01, independent of the generator's own calendar.
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return Int(calendar.date(from: components)!.timeIntervalSince1970 / 86_400)
    }

    nonisolated(unsafe) private static var dayCache: [String: Int] = [:]
    private static let dayCacheLock = NSLock()

    /// `yyyy-MM-dd` to days since 1970.
    static func parseDate(_ text: String) -> Int? {
        let key = String(text.prefix(10))
        dayCacheLock.lock()
        defer { dayCacheLock.unlock() }
        if let cached = dayCache[key] { return cached }
        let parts = key.split(separator: "-")
        guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        let value = days(year: y, month: m, day: d)
        dayCache[key] = value
        return value
    }

    /// `yyyy-MM-ddTHH:MM:SS` followed by `Z` or `+HH:MM`/`-HH:MM`, to seconds since 1970.
    static func parseInstant(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[10] == UInt8(ascii: "T"), let day = parseDate(text) else { return nil }
        func two(_ i: Int) -> Int { Int(b[i] - 48) * 10 + Int(b[i + 1] - 48) }
        var seconds = Int64(day) * 86_400 + Int64(two(11) * 3_600 + two(14) * 60 + two(17))
        if b.count == 20 && b[19] == UInt8(ascii: "Z") { return seconds }
        guard b.count == 25, b[19] == UInt8(ascii: "+") || b[19] == UInt8(ascii: "-") else { return nil }
        let offset = Int64(two(20) * 3_600 + two(23) * 60)
        seconds += b[19] == UInt8(ascii: "+") ? -offset : offset
        return seconds
    }

    static func monthLabel(_ instant: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(instant))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%04d-%02d", c.year!, c.month!)
    }

    /// RFC 4180 fields of one line (no embedded newlines in these files).
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)[...]
        while let ch = chars.popFirst() {
            if quoted {
                if ch == "\"" {
                    if chars.first == "\"" {
                        field.append("\"")
                        chars.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(ch)
                }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(ch)
            }
        }
        fields.append(field)
        return fields
    }

    static func auc(scores: [Double], labels: [Bool]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            for k in i...j { ranks[order[k]] = Double(i + j) / 2 + 1 }
            i = j + 1
        }
        let positives = labels.filter { $0 }.count
        let negatives = labels.count - positives
        let rankSum = zip(ranks, labels).filter(\.1).map(\.0).reduce(0, +)
        return (rankSum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }

    // MARK: the shared fixture

    struct Account: Sendable {
        let fields: [String]
        var id: String { fields[0] }
        var name: String { fields[1] }
        var plan: String { fields[2] }
        let startDay: Int
        let churnedAt: Int64?
        var seats: Int { Int(fields[6])! }
        var featuresAvailable: Int { Int(fields[7])! }
        var trainingModules: Int { Int(fields[8])! }
    }

    struct Activity: Sendable {
        let customer: String
        let user: Int
        let instant: Int64
        let module: Int?
    }

    struct Ticket: Sendable {
        let id: String
        let customer: String
        let opened: Int64
        let firstResponse: Int64?
        let resolved: Int64?
        let priority: String
        let status: String
        let fileMonth: String
    }

    struct Uptime: Sendable {
        let customer: String
        let day: Int
        let value: Double
        let text: String
    }

    struct Saving: Sendable {
        let customer: String
        let amount: Double
        let amountText: String
        let category: String
    }

    struct Truth: Sendable {
        let customer: String
        let asOf: String
        let probability: Double
        let health: Double
    }

    struct Fixture: Sendable {
        let options: SyntheticExportOptions
        let generated: Generated
        var summary: SyntheticExportSummary { generated.summary }
        let windowStart: Int
        let windowEnd: Int
        var windowStartText: String { generated.summary.windowStart }
        let accounts: [Account]
        let activity: [Activity]
        let tickets: [Ticket]
        let uptime: [Uptime]
        let savings: [Saving]
        let truth: [Truth]

        func url(_ path: String) -> URL { generated.url(path) }
        func text(_ path: String) throws -> String { try generated.text(path) }
        func lines(_ path: String) throws -> [String] {
            try text(path).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    /// 1,500 customers over the 120 days ending 2026-11-23, generated once.
    static func shared() throws -> Fixture { try sharedFixture.get() }

    private static let sharedFixture: Result<Fixture, any Error> = Result { try makeFixture() }

    /// Where the shared fixture is written (removed by the test class's tearDown).
    static let sharedDirectory = FileManager.default.temporaryDirectory
        .appendingPathComponent("synthetic-export-tests-shared-\(ProcessInfo.processInfo.processIdentifier)").path

    private static func makeFixture() throws -> Fixture {
        let options = SyntheticExportOptions(customers: 1_500, days: 120, seed: 11, endDate: "2026-11-23", threads: 2)
        let generated = try generate(options, into: (sharedDirectory as NSString).lastPathComponent)
        let windowEnd = parseDate(options.endDate)!
        func lines(_ path: String) throws -> [Substring] {
            try generated.text(path).split(separator: "\n").dropFirst().map { $0 }
        }

        let accounts = try lines("exports/accounts.csv.gz").map { line -> Account in
            let fields = csvFields(String(line))
            return Account(
                fields: fields, startDay: parseDate(fields[4])!,
                churnedAt: fields[5].isEmpty ? nil : parseInstant(fields[5]))
        }
        var activity: [Activity] = []
        var uptime: [Uptime] = []
        var tickets: [Ticket] = []
        for path in generated.summary.filesWritten {
            if path.hasPrefix("exports/activity-") {
                for line in try lines(path) {
                    let f = line.split(separator: ",", omittingEmptySubsequences: false)
                    let user = Int(f[1].split(separator: "u").last!)!
                    let module = f[3] == "training_completed" ? Int(f[4].dropFirst("module_".count)) : nil
                    activity.append(
                        Activity(
                            customer: String(f[0]), user: user, instant: parseInstant(String(f[2]))!, module: module))
                }
            } else if path.hasPrefix("exports/uptime-") {
                for line in try lines(path) {
                    let f = line.split(separator: ",")
                    uptime.append(
                        Uptime(
                            customer: String(f[0]), day: parseDate(String(f[1]))!, value: Double(f[2])!,
                            text: String(f[2])))
                }
            } else if path.hasPrefix("exports/tickets-") {
                let month = String(path.dropFirst("exports/tickets-".count).prefix(7))
                for line in try generated.text(path).split(separator: "\n") {
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    XCTAssertEqual(
                        Set(object.keys),
                        [
                            "ticket_id", "customer_id", "opened_at", "first_response_at", "resolved_at", "priority",
                            "status",
                        ])
                    tickets.append(
                        Ticket(
                            id: object["ticket_id"] as! String,
                            customer: object["customer_id"] as! String,
                            opened: parseInstant(object["opened_at"] as! String)!,
                            firstResponse: (object["first_response_at"] as? String).flatMap(parseInstant),
                            resolved: (object["resolved_at"] as? String).flatMap(parseInstant),
                            priority: object["priority"] as! String,
                            status: object["status"] as! String,
                            fileMonth: month))
                }
            }
        }
        let savings = try lines("exports/savings.csv.gz").map { line -> Saving in
            let f = line.split(separator: ",")
            return Saving(
                customer: String(f[0]), amount: Double(f[2])!, amountText: String(f[2]), category: String(f[3]))
        }
        let truth = try lines("truth.csv.gz").map { line -> Truth in
            let f = line.split(separator: ",")
            return Truth(customer: String(f[0]), asOf: String(f[1]), probability: Double(f[2])!, health: Double(f[3])!)
        }
        return Fixture(
            options: options, generated: generated,
            windowStart: windowEnd - options.days + 1, windowEnd: windowEnd,
            accounts: accounts, activity: activity, tickets: tickets,
            uptime: uptime, savings: savings, truth: truth)
    }
}
