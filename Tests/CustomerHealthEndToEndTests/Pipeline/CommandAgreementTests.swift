import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// One churn definition everywhere: on one data set per definition, `run`,
/// `replay`, `rescore`, `watch`, `backtest` and the training table agree
/// customer by customer on who is active and who churned, and all of them
/// agree with the definition worked out independently from the raw exports.
final class CommandAgreementTests: XCTestCase {
    /// The exports read back independently of the tool: each customer's
    /// start, churned_at and days with activity.
    struct Raw {
        var start: [String: Int] = [:]
        var churnedAt: [String: Int] = [:]
        var activeDays: [String: Set<Int>] = [:]
        var historyStart = Int.max
        var historyEnd = Int.min

        static func day(_ text: Substring) -> Int { Int(CalendarDay(String(text.prefix(10)))!.number) }

        init(exports: URL) throws {
            let accounts = try CommandAgreementTests.shell("gzip -dc '\(exports.path)/accounts.csv.gz'").split(
                separator: "\n")
            let header = accounts[0].split(separator: ",").map(String.init)
            let s = header.firstIndex(of: "subscription_start")!
            let c = header.firstIndex(of: "churned_at")
            for line in accounts.dropFirst() {
                // Names may hold quoted commas: read the other fields from the end, which has none.
                let id = String(line.prefix { $0 != "," })
                let tail = line.split(separator: ",", omittingEmptySubsequences: false)
                let back = header.count - 1
                start[id] = Raw.day(tail[tail.count - 1 - (back - s)])
                if let c, !tail[tail.count - 1 - (back - c)].isEmpty {
                    churnedAt[id] = Raw.day(tail[tail.count - 1 - (back - c)])
                }
            }
            // Every generated time is inside its file's UTC day: the file name's date.
            let pairs = try CommandAgreementTests.shell(
                """
                cd '\(exports.path)' && for f in activity-*.csv.gz; do d=${f#activity-}; d=${d%.csv.gz}; \
                gzip -dc "$f" | awk -F, -v d="$d" 'NR > 1 { print d "," $1 }'; done | sort -u
                """)
            for line in pairs.split(separator: "\n") {
                let d = Raw.day(line.prefix(10))
                activeDays[String(line.dropFirst(11)), default: []].insert(d)
                historyStart = min(historyStart, d)
                historyEnd = max(historyEnd, d)
            }
        }

        /// Per customer and day of the history, the latest active day on or before it (or nil).
        var lastActive: [String: [Int?]] = [:]

        mutating func index() {
            for (c, s) in start {
                var last: Int? = nil
                var days: [Int?] = []
                for d in historyStart...historyEnd {
                    if d >= s && activeDays[c, default: []].contains(d) { last = d }
                    days.append(last)
                }
                lastActive[c] = days
            }
        }

        /// Churned on day `d` by the definition, from the raw days.
        func churned(_ c: String, _ d: Int, inactivity n: Int?) -> Bool {
            guard let n else { return churnedAt[c].map { $0 <= d } ?? false }
            let clock = max(start[c]!, historyStart)
            guard d >= historyStart else { return false }
            let last = lastActive[c]![min(d, historyEnd) - historyStart] ?? clock
            return d - max(last, clock) >= n
        }

        func active(_ c: String, _ d: Int, inactivity n: Int?) -> Bool {
            start[c]! <= d && !churned(c, d, inactivity: n)
        }

        /// Churns within (d, d + h]: turns churned on one of those days.
        func label(_ c: String, _ d: Int, horizon h: Int, inactivity n: Int?) -> Bool {
            (d + 1...d + h).contains { churned(c, $0, inactivity: n) && !churned(c, $0 - 1, inactivity: n) }
        }
    }

    static func shell(_ command: String) throws -> String {
        String(decoding: try SyntheticGenTestSupport.run(["sh", "-c", command]).output, as: UTF8.self)
    }

    /// The generated data of each profile, made once for the class (two tests read the default profile's).
    nonisolated(unsafe) static var generated: [String: URL] = [:]

    override class func tearDown() {
        for folder in generated.values { try? FileManager.default.removeItem(at: folder) }
        generated = [:]
        super.tearDown()
    }

    /// A fresh copy of `customer-health generate --profile <profile>`'s output (generated once per class).
    func generatedCopy(_ profile: String, to root: URL) throws {
        let source: URL
        if let made = Self.generated[profile] {
            source = made
        } else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ch-agree-\(profile)-\(UUID().uuidString)")
            let g = try CLI.run([
                "generate", "--profile", profile, "--customers", "400", "--days", "180", "--seed", "11", "--output",
                folder.path,
            ])
            guard g.status == 0 else {
                try? FileManager.default.removeItem(at: folder)
                throw NSError(domain: "generate --profile \(profile): \(g.transcript)", code: 1)
            }
            Self.generated[profile] = folder
            source = folder
        }
        let copied = try SyntheticGenTestSupport.run(["cp", "-a", source.path, root.path])
        XCTAssertEqual(copied.status, 0, "cp -a")
    }

    func check(profile: String, editPipeline: (String) -> String = { $0 }, inactivity: Int?) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-agree-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try generatedCopy(profile, to: root)
        let pipeline = root.appendingPathComponent("pipeline.yaml").path
        try editPipeline(try String(contentsOfFile: pipeline, encoding: .utf8)).write(
            toFile: pipeline, atomically: true, encoding: .utf8)
        var raw = try Raw(exports: root.appendingPathComponent("exports"))
        raw.index()
        let day = raw.historyEnd - 40
        let asOf = CalendarDay(number: Int32(day)).description
        func out(_ name: String) -> String { root.appendingPathComponent(name).path }
        func ok(_ args: [String]) throws -> CLIResult {
            let r = try CLI.run(args + ["--quiet"])
            XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")): \(r.transcript)")
            return r
        }
        _ = try ok(["train", pipeline, "--export-table", out("table.csv")])
        _ = try ok(["run", pipeline, "--as-of", asOf, "--output", out("run")])
        _ = try ok([
            "replay", pipeline, "--from", CalendarDay(number: Int32(day - 7)).description, "--to", asOf, "--every",
            "7d",
            "--output", out("replay"),
        ])
        _ = try ok(["rescore", pipeline, "--features", out("run/\(asOf)/features.jsonl"), "--output", out("rescore")])
        _ = try ok(["backtest", pipeline, "--predictions", out("run/\(asOf)"), "--labels", out("labels.csv")])

        let expected = Set(raw.start.keys.filter { raw.active($0, day, inactivity: inactivity) })
        XCTAssertGreaterThan(expected.count, 100)
        let run = try RunOutputs(folder: URL(fileURLWithPath: out("run/\(asOf)")))
        let scored = Set(try run.scores.map { $0["customer_id"] as! String })
        XCTAssertEqual(scored, expected, "run: the customers scored are the ones active by the definition")
        var flags: [String: Bool] = [:]
        for line in try run.features { flags[line["customer_id"] as! String] = line["active"] as? Bool }
        XCTAssertEqual(Set(flags.filter(\.value).keys), expected, "features.jsonl")
        XCTAssertEqual(
            Set(flags.keys), Set(raw.start.keys.filter { raw.start[$0]! <= day }),
            "features.jsonl lists every customer that has started")
        let overview = try XCTUnwrap(run.kpis["overview"] as? [String: Any])
        XCTAssertEqual(JSON.int(overview["active_customers"]), expected.count, "kpis.json")
        let churned30 = raw.start.keys.filter { c in
            raw.start[c]! <= day
                && (day - 29...day).contains { d in
                    raw.churned(c, d, inactivity: inactivity) && !raw.churned(c, d - 1, inactivity: inactivity)
                        && raw.start[c]! <= d
                }
        }
        XCTAssertEqual(JSON.int(overview["churned_customers_30d"]), churned30.count, "kpis.json churned in 30 days")
        let atRisk = try XCTUnwrap(run.atRisk["customers"] as? [[String: Any]])
        XCTAssertTrue(Set(atRisk.map { $0["customer_id"] as! String }).isSubset(of: expected), "at-risk.json")

        for (name, folder) in [("replay", "replay/\(asOf)"), ("rescore", "rescore/\(asOf)")] {
            let other = try RunOutputs(folder: URL(fileURLWithPath: out(folder)))
            for file in ["scores.jsonl", "kpis.json", "at-risk.json", "at-risk.csv", "features.jsonl"] {
                XCTAssertEqual(try other.text(file), try run.text(file), "\(name): \(file)")
            }
        }

        // backtest: the same customers, labelled by the definition.
        let labels = try String(contentsOfFile: out("labels.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        var labelled: [String: Bool] = [:]
        for line in labels {
            let f = line.split(separator: ",")
            labelled[String(f[0])] = f[3] == "1"
        }
        XCTAssertEqual(Set(labelled.keys), expected, "backtest")
        let wrong = labelled.filter { $0.value != raw.label($0.key, day, horizon: 30, inactivity: inactivity) }
        XCTAssertEqual(
            wrong.count, 0, "backtest labels differ from the definition for \(wrong.keys.sorted().prefix(5))")
        XCTAssertGreaterThan(labelled.values.filter { $0 }.count, 0, "some customers churned in the horizon")

        // The training table: at each observation date, the active customers, with the definition's labels.
        var byDate: [String: [String: Bool]] = [:]
        for line in try String(contentsOfFile: out("table.csv"), encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            byDate[String(f[1]), default: [:]][String(f[0])] = f[3] == "1"
        }
        XCTAssertGreaterThan(byDate.count, 1)
        for (date, rows) in byDate {
            let d = Int(CalendarDay(date)!.number)
            XCTAssertEqual(
                Set(rows.keys), Set(raw.start.keys.filter { raw.active($0, d, inactivity: inactivity) }),
                "training rows on \(date)")
            let mislabelled = rows.filter { $0.value != raw.label($0.key, d, horizon: 30, inactivity: inactivity) }
            XCTAssertEqual(mislabelled.count, 0, "training labels on \(date): \(mislabelled.keys.sorted().prefix(5))")
        }

        // watch: its first look scores the newest day, as a run of that day does.
        _ = try ok(["run", pipeline, "--output", out("latest")])
        let watch = try CLI.run(["watch", pipeline, "--once", "--quiet", "--settle", "0", "--state", out("state")])
        XCTAssertEqual(watch.status, 0, watch.transcript)
        let checkpoint = try JSONDecoder().decode(
            WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: out("state/checkpoint.json"))))
        let latest = try RunOutputs(folder: URL(fileURLWithPath: out("latest/latest")))
        XCTAssertEqual(
            Set(checkpoint.customers.keys), Set(try latest.scores.map { $0["customer_id"] as! String }), "watch")
        XCTAssertEqual(
            Set(checkpoint.customers.keys),
            Set(raw.start.keys.filter { raw.active($0, raw.historyEnd, inactivity: inactivity) }))
    }

    func testChurnedAt() throws { try check(profile: "default", inactivity: nil) }

    func testSubscriptionEnd() throws {
        // The same accounts, read as a subscription export whose end date is in the churned_at column.
        try check(
            profile: "default",
            editPipeline: { text in
                text.replacingOccurrences(
                    of: "files: \"accounts*.csv.gz\"\n",
                    with: "files: \"accounts*.csv.gz\"\n    columns: {subscription_end: churned_at}\n")
                    + "churn_definition: {from: subscription_end}\n"
            }, inactivity: nil)
    }

    func testInactivityWithReturns() throws {
        try check(profile: "inactivity", inactivity: SyntheticProfile.inactivityDays)
    }
}
