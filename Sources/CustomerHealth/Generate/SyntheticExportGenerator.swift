import Foundation

/// Writes realistic gzipped exports from a documented latent process
/// (docs/generator.md): accounts, daily activity, monthly tickets and
/// uptime, savings, and the hidden truth.
///
/// Layout under the output directory:
/// - `exports/accounts.csv.gz`
/// - `exports/activity-YYYY-MM-DD.csv.gz`, one per day, two gzip members each
/// - `exports/tickets-YYYY-MM.jsonl.gz`, `exports/uptime-YYYY-MM.csv.gz`, one per month
/// - `exports/savings.csv.gz`
/// - `truth.csv.gz` (outside exports/)
public enum SyntheticExportGenerator {
    /// Simulates and writes every file. Same options, same bytes, whatever
    /// `options.threads` is. Export files left in `directory/exports` by an
    /// earlier run (same names or patterns) are removed first.
    public static func generate(options: SyntheticExportOptions, to directory: String) throws -> SyntheticExportSummary
    {
        let world = try SyntheticWorld(options: options)
        let exportsDirectory = (directory as NSString).appendingPathComponent("exports")
        try prepare(directory: directory, exports: exportsDirectory)

        // Pass 1: every customer's attributes, hidden-health path, churn,
        // tickets and savings (fixed chunks, merged in chunk order).
        let population = SyntheticPopulation(world: world)
        try SyntheticParallel.run(tasks: population.chunkCount, threads: world.threads) { chunk in
            population.simulateChunk(chunk)
        }
        let writer = Writer(world: world, population: population, exports: exportsDirectory, root: directory)

        // Pass 2: every file is an independent task; the biggest go first.
        var tasks: [@Sendable () throws -> WrittenFile?] = []
        let profile = world.profile
        if profile.writesUptime {
            for month in world.months.indices { tasks.append { try writer.writeUptime(month: month) } }
        }
        for day in 0..<world.days { tasks.append { try writer.writeActivity(day: day) } }
        tasks.append { try writer.writeTruth() }
        if profile.writesTickets {
            for month in world.months.indices { tasks.append { try writer.writeTickets(month: month) } }
        }
        if profile.writesSavings { tasks.append { try writer.writeSavings() } }
        tasks.append { try writer.writeAccounts() }
        tasks.append { try writer.writePipeline() }
        let jobs = tasks
        let results = SyntheticSlots<WrittenFile?>(count: jobs.count, repeating: nil)
        try SyntheticParallel.run(tasks: jobs.count, threads: world.threads) { index in
            results[index] = try jobs[index]()
        }

        var files: [SyntheticExportSummary.File] = []
        for index in 0..<tasks.count {
            guard let written = results[index] else { continue }
            let path = (directory as NSString).appendingPathComponent(written.path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            files.append(.init(path: written.path, export: written.export, rows: written.rows, bytes: size))
        }
        files.sort { $0.path < $1.path }
        var churned = 0
        var returned = 0
        for c in 0..<world.customers {
            if profile.lapses {
                let quiet = population.lapses[c]
                if !quiet.isEmpty { churned += 1 }
                // Back after its first lapse: the customer has a subscribed day after it.
                if let day = quiet.first,
                    (Int(day) + 1..<world.days).contains(where: {
                        population.health[$0 * world.customers + c] != SyntheticPopulation.notSubscribed
                    })
                {
                    returned += 1
                }
            } else if population.customers[c].churned {
                churned += 1
            }
        }
        return SyntheticExportSummary(
            directory: directory,
            files: files,
            customers: world.customers,
            churnedCustomers: churned,
            returnedCustomers: returned,
            windowStart: SyntheticCalendar.dateString(world.windowStart),
            windowEnd: SyntheticCalendar.dateString(world.windowEnd))
    }

    private static func prepare(directory: String, exports: String) throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: exports, withIntermediateDirectories: true)
        } catch {
            throw SyntheticExportError.io("cannot create \(exports): \(error)")
        }
        let existing = (try? manager.contentsOfDirectory(atPath: exports)) ?? []
        for name in existing.sorted() where isGeneratedExport(name) {
            try? manager.removeItem(atPath: (exports as NSString).appendingPathComponent(name))
        }
    }

    private static func isGeneratedExport(_ name: String) -> Bool {
        name == "accounts.csv.gz" || name == "savings.csv.gz"
            || (name.hasPrefix("activity-") && name.hasSuffix(".csv.gz"))
            || (name.hasPrefix("events-") && (name.hasSuffix(".csv.gz") || name.hasSuffix(".jsonl.gz")))
            || (name.hasPrefix("uptime-") && name.hasSuffix(".csv.gz"))
            || (name.hasPrefix("tickets-") && name.hasSuffix(".jsonl.gz"))
    }

    struct WrittenFile {
        let path: String
        let export: String
        let rows: Int
    }

    /// One activity row before sorting; `key` = second << 44 | customer << 14 | event.
    struct ActivityEvent {
        var key: UInt64
        var customer: Int32
        var duration: Int32
        var user: UInt16
        var offsetMinutes: Int16
        var type: UInt8
        var feature: UInt8
    }

    /// One line of a tickets file: the ticket's state right after `kind`
    /// (0 opened, 1 first response, 2 resolved, 3 closed) happened at `time`.
    struct TicketEvent {
        var time: Int64
        var ticket: Int32
        var kind: UInt8
    }

    /// Formats and writes the files from the simulated population.
    final class Writer: @unchecked Sendable {
        let world: SyntheticWorld
        let population: SyntheticPopulation
        let exports: String
        let root: String
        let idLength: Int
        /// Customer ids back to back, `idLength` bytes each.
        let ids: [UInt8]
        /// `yyyy-MM-dd` of each window day.
        let dates: [[UInt8]]
        /// Activity normalisation: mean sqrt(seats) * engagement over subscribed customer-days.
        let engagementMean: Double
        /// customers * days / subscribed customer-days: the expected total of
        /// activity rows is activityRate * customers * days.
        let volumeScale: Double
        /// Cumulative event-type weights per (plan, health index), 7 each.
        let typeCDF: [Double]
        /// The own-events profile's cumulative event weights per health index, 7 each.
        let ownTypeCDF: [Double]
        let featureNames: [[UInt8]]
        let eventTypeNames: [[UInt8]]
        /// Tickets sorted by (opened, customer, sequence); position + 1 is the ticket number.
        let tickets: [SyntheticTicketDraft]
        let ticketWidth: Int
        /// Ticket lines per month, sorted by (time, ticket, kind).
        let ticketEvents: [[TicketEvent]]
        let savings: [SyntheticSaving]

        init(world: SyntheticWorld, population: SyntheticPopulation, exports: String, root: String) {
            self.world = world
            self.population = population
            self.exports = exports
            self.root = root
            let n = world.customers
            idLength = 5 + world.idWidth
            var ids: [UInt8] = []
            ids.reserveCapacity(n * idLength)
            for c in 0..<n { ids.append(contentsOf: world.customerID(c)) }
            self.ids = ids
            dates = (0..<world.days).map { SyntheticCalendar.dateBytes(world.windowStart + $0) }

            var total = 0.0
            var customerDays = 0
            for c in 0..<n {
                let customer = population.customers[c]
                total += population.engagement[c]
                if world.profile.lapses {
                    for t in 0..<world.days where population.health[t * n + c] != SyntheticPopulation.notSubscribed {
                        customerDays += 1
                    }
                } else {
                    customerDays += max(0, Int(customer.lastDay) - Int(customer.firstDay) + 1)
                }
            }
            engagementMean = customerDays > 0 && total > 0 ? total / Double(customerDays) : 1
            volumeScale = customerDays > 0 ? Double(n * world.days) / Double(customerDays) : 1

            var cdf: [Double] = []
            cdf.reserveCapacity(3 * 101 * 7)
            for plan in 0..<3 {
                for i in 0...100 {
                    cdf += Writer.cumulative(SyntheticWorld.eventWeights(h: Double(i) / 100, plan: plan))
                }
            }
            typeCDF = cdf
            var own: [Double] = []
            if world.profile == .ownEvents {
                for i in 0...100 { own += Writer.cumulative(SyntheticProfile.ownEventWeights(h: Double(i) / 100)) }
            }
            ownTypeCDF = own
            featureNames = SyntheticWorld.features.map { Array($0.utf8) }
            switch world.profile {
            case .ownEvents: eventTypeNames = SyntheticProfile.ownEventNames.map { Array($0.utf8) }
            case .nestedJSONL: eventTypeNames = SyntheticProfile.segmentEventNames.map { Array($0.utf8) }
            default: eventTypeNames = SyntheticWorld.eventTypes.map { Array($0.utf8) }
            }

            var drafts: [SyntheticTicketDraft] = []
            for chunk in 0..<population.chunkCount { drafts.append(contentsOf: population.tickets[chunk]) }
            drafts.sort {
                ($0.opened, $0.customer, $0.sequence) < ($1.opened, $1.customer, $1.sequence)
            }
            tickets = drafts
            ticketWidth = max(6, String(drafts.count).count)
            let endSecond = Int64(world.windowEnd + 1) * 86_400 - 1
            var events = [[TicketEvent]](repeating: [], count: world.months.count)
            for (index, ticket) in drafts.enumerated() {
                let times = [ticket.opened, ticket.responded, ticket.resolved, ticket.closed]
                for (kind, time) in times.enumerated() where time >= 0 && time <= endSecond {
                    let month = world.monthOfDay[Int(time / 86_400) - world.windowStart]
                    events[month].append(TicketEvent(time: time, ticket: Int32(index), kind: UInt8(kind)))
                }
            }
            for month in events.indices {
                events[month].sort { ($0.time, $0.ticket, $0.kind) < ($1.time, $1.ticket, $1.kind) }
            }
            ticketEvents = events

            var allSavings: [SyntheticSaving] = []
            for chunk in 0..<population.chunkCount { allSavings.append(contentsOf: population.savings[chunk]) }
            allSavings.sort { ($0.day, $0.customer, $0.sequence) < ($1.day, $1.customer, $1.sequence) }
            savings = allSavings
        }

        /// Cumulative shares of the weights, the last exactly 1.
        static func cumulative(_ weights: [Double]) -> [Double] {
            let sum = weights.reduce(0, +)
            var running = 0.0
            var out = weights.map { w -> Double in
                running += w / sum
                return running
            }
            out[out.count - 1] = 1
            return out
        }

        private func sink(_ relativePath: String) throws -> SyntheticByteSink {
            try SyntheticByteSink(path: (root as NSString).appendingPathComponent(relativePath), level: world.gzipLevel)
        }

        @inline(__always)
        private func customerID(_ c: Int, to out: SyntheticByteSink) {
            ids.withUnsafeBufferPointer { out.bytes($0.baseAddress! + c * idLength, idLength) }
        }

        /// `yyyy-MM-ddTHH:MM:SSZ` for seconds since 1970.
        private func timestamp(_ seconds: Int64, to out: SyntheticByteSink) {
            let day = Int(seconds / 86_400)
            let second = Int(seconds % 86_400)
            let t = day - world.windowStart
            if t >= 0 && t < world.days { out.bytes(dates[t]) } else { out.bytes(SyntheticCalendar.dateBytes(day)) }
            out.byte(UInt8(ascii: "T"))
            clock(second, to: out)
            out.byte(UInt8(ascii: "Z"))
        }

        @inline(__always)
        private func clock(_ second: Int, to out: SyntheticByteSink) {
            out.twoDigits(second / 3_600)
            out.byte(UInt8(ascii: ":"))
            out.twoDigits((second / 60) % 60)
            out.byte(UInt8(ascii: ":"))
            out.twoDigits(second % 60)
        }

        // MARK: activity

        /// The day's activity events of every subscribed customer, in time order:
        /// how many from its health and seats, each one's time, type, user,
        /// feature and duration drawn from the customer's stream for the day.
        private func activityEvents(day t: Int) -> [ActivityEvent] {
            let n = world.customers
            let customers = population.customers
            let health = population.health
            let scale = world.activityRate * volumeScale * world.dayFactor[t] / engagementMean
            var events: [ActivityEvent] = []
            events.reserveCapacity(Int(min(Double(n) * world.activityRate * volumeScale * 1.5, 20_000_000)) + 16)
            for c in 0..<n {
                let index = health[t * n + c]
                if index == SyntheticPopulation.notSubscribed { continue }
                let customer = customers[c]
                let h = Double(index) / 100
                let seats = Double(customer.seats)
                var r = SyntheticRandom.stream(seed: world.seed, tag: SyntheticWorld.tagActivity, c, t)
                let count = min(16_383, r.poisson(scale * seats.squareRoot() * SyntheticWorld.engagement(h: h)))
                if count == 0 { continue }
                let activeUsers = max(1, Int((seats * (0.12 + 0.83 * h)).rounded()))
                let breadth = max(1, Int((Double(customer.featuresAvailable) * (0.15 + 0.85 * h)).rounded()))
                let own = world.profile == .ownEvents
                let cdfBase = own ? Int(index) * 7 : (Int(customer.plan) * 101 + Int(index)) * 7
                let cdf = own ? ownTypeCDF : typeCDF
                let zone = Int(customer.utcOffsetHours) * 3_600
                let cut = (t == Int(customer.lastDay) && customer.churned) ? Int(customer.churnSecond) : 86_400
                for e in 0..<count {
                    let local = r.uniform() < 0.85 ? Int(13 * 3_600 + 2.7 * 3_600 * r.bell()) : r.int(below: 86_400)
                    let second = ((local - zone) % 86_400 + 86_400) % 86_400
                    let u = r.uniform()
                    var type = 6
                    for j in 0..<6 where u < cdf[cdfBase + j] {
                        type = j
                        break
                    }
                    let v = r.uniform()
                    let user = 1 + Int(Double(activeUsers) * v * v)
                    var feature = 0
                    var duration = -1
                    switch type {
                    case 1:
                        let w = r.uniform()
                        feature = Int(Double(breadth) * w * (0.4 + 0.6 * w))
                        duration = 20 + Int(r.exponential(mean: 120 + 360 * h))
                    case 3: duration = 15 + Int(r.exponential(mean: 240))
                    case 4: duration = 5 + Int(r.exponential(mean: 90))
                    case 5: duration = 300 + Int(r.exponential(mean: 2_400))
                    case 6:
                        feature = 1 + r.int(below: Int(customer.trainingModules))
                        duration = 600 + r.int(below: 3_000)
                    default: break
                    }
                    if duration >= 0 && r.uniform() < 0.02 { duration = -1 }
                    var offset = Int16.min
                    if r.uniform() < 0.03 { offset = Int16(zone != 0 ? zone / 60 : 60) }
                    if second >= cut { continue }
                    events.append(
                        ActivityEvent(
                            key: UInt64(second) << 44 | UInt64(c) << 14 | UInt64(e),
                            customer: Int32(c), duration: Int32(duration), user: UInt16(user),
                            offsetMinutes: offset, type: UInt8(type), feature: UInt8(feature)))
                }
            }
            events.sort { $0.key < $1.key }
            return events
        }

        func writeActivity(day t: Int) throws -> WrittenFile {
            let events = activityEvents(day: t)

            let date = dates[t]
            switch world.profile {
            case .ownEvents: return try writeOwnEvents(day: t, events: events)
            case .nestedJSONL: return try writeSegmentEvents(day: t, events: events)
            default: break
            }
            let path = "exports/activity-\(SyntheticCalendar.dateString(world.windowStart + t)).csv.gz"
            let out = try sink(path)
            out.ascii("customer_id,user_id,occurred_at,event_type,feature,duration_s\n")
            let half = events.count / 2
            for (row, event) in events.enumerated() {
                if row == half { try out.startNewMember() }
                let c = Int(event.customer)
                customerID(c, to: out)
                out.byte(UInt8(ascii: ","))
                userID(event, to: out)
                out.byte(UInt8(ascii: ","))
                occurredAt(event, day: t, date: date, to: out)
                out.byte(UInt8(ascii: ","))
                out.bytes(eventTypeNames[Int(event.type)])
                out.byte(UInt8(ascii: ","))
                featureName(event, to: out)
                out.byte(UInt8(ascii: ","))
                if event.duration >= 0 { out.int(Int(event.duration)) }
                out.byte(UInt8(ascii: "\n"))
                try out.endRow()
            }
            if events.isEmpty { try out.startNewMember() }
            try out.close()
            return WrittenFile(path: path, export: "activity", rows: events.count)
        }

        /// An event's time: UTC with a Z, or (3% of events) local time with its offset.
        private func occurredAt(_ event: ActivityEvent, day t: Int, date: [UInt8], to out: SyntheticByteSink) {
            let second = Int(event.key >> 44)
            if event.offsetMinutes == Int16.min {
                out.bytes(date)
                out.byte(UInt8(ascii: "T"))
                clock(second, to: out)
                out.byte(UInt8(ascii: "Z"))
            } else {
                let offset = Int(event.offsetMinutes)
                let local = second + offset * 60
                let shift = local < 0 ? -1 : (local >= 86_400 ? 1 : 0)
                out.bytes(SyntheticCalendar.dateBytes(world.windowStart + t + shift))
                out.byte(UInt8(ascii: "T"))
                clock(local - shift * 86_400, to: out)
                out.byte(UInt8(ascii: offset < 0 ? "-" : "+"))
                out.twoDigits(abs(offset) / 60)
                out.byte(UInt8(ascii: ":"))
                out.twoDigits(abs(offset) % 60)
            }
        }

        private func userID(_ event: ActivityEvent, to out: SyntheticByteSink) {
            customerID(Int(event.customer), to: out)
            out.ascii("-u")
            out.int(Int(event.user), width: 2)
        }

        /// The feature of a feature_use event, the module of a training_completed one.
        private func featureName(_ event: ActivityEvent, to out: SyntheticByteSink) {
            if event.type == 1 {
                out.bytes(featureNames[Int(event.feature)])
            } else if event.type == 6 {
                out.ascii("module_")
                out.twoDigits(Int(event.feature))
            }
        }

        /// The own-events product: its own column names and event names, UTC
        /// times written with a space and no zone, no feature or duration.
        private func writeOwnEvents(day t: Int, events: [ActivityEvent]) throws -> WrittenFile {
            let path = "exports/events-\(SyntheticCalendar.dateString(world.windowStart + t)).csv.gz"
            let out = try sink(path)
            out.ascii("account_id,user,timestamp,event_name\n")
            for event in events {
                customerID(Int(event.customer), to: out)
                out.byte(UInt8(ascii: ","))
                userID(event, to: out)
                out.byte(UInt8(ascii: ","))
                out.bytes(dates[t])
                out.byte(UInt8(ascii: " "))
                clock(Int(event.key >> 44), to: out)
                out.byte(UInt8(ascii: ","))
                out.bytes(eventTypeNames[Int(event.type)])
                out.byte(UInt8(ascii: "\n"))
                try out.endRow()
            }
            try out.close()
            return WrittenFile(path: path, export: "activity", rows: events.count)
        }

        /// Segment-style track calls, one JSON object a line, the account in
        /// context.groupId and the time in epoch milliseconds.
        private func writeSegmentEvents(day t: Int, events: [ActivityEvent]) throws -> WrittenFile {
            let path = "exports/events-\(SyntheticCalendar.dateString(world.windowStart + t)).jsonl.gz"
            let out = try sink(path)
            for event in events {
                out.ascii("{\"type\":\"track\",\"event\":\"")
                out.bytes(eventTypeNames[Int(event.type)])
                out.ascii("\",\"userId\":\"")
                userID(event, to: out)
                out.ascii("\",\"timestamp\":")
                let seconds = (world.windowStart + t) * 86_400 + Int(event.key >> 44)
                out.int(seconds * 1_000 + Int(event.key & 0x3FFF) % 1_000)
                out.ascii(",\"context\":{\"groupId\":\"")
                customerID(Int(event.customer), to: out)
                out.ascii("\"},\"properties\":{")
                if event.type == 1 || event.type == 6 {
                    out.ascii("\"feature\":\"")
                    featureName(event, to: out)
                    out.byte(UInt8(ascii: "\""))
                }
                out.ascii("}}\n")
                try out.endRow()
            }
            try out.close()
            return WrittenFile(path: path, export: "activity", rows: events.count)
        }

        /// The pipeline that reads the profile's exports.
        func writePipeline() throws -> WrittenFile? {
            let path = (root as NSString).appendingPathComponent("pipeline.yaml")
            do {
                try world.profile.pipelineYAML().write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw SyntheticExportError.io("cannot write \(path): \(error)")
            }
            return nil
        }

        // MARK: uptime

        func writeUptime(month index: Int) throws -> WrittenFile {
            let month = world.months[index]
            let n = world.customers
            let customers = population.customers
            let health = population.health
            let path = "exports/uptime-\(month.label).csv.gz"
            let out = try sink(path)
            out.ascii("customer_id,date,uptime_pct\n")
            var rows = 0
            for t in month.first...month.last {
                let date = dates[t]
                for c in 0..<n where health[t * n + c] != SyntheticPopulation.notSubscribed {
                    let value = world.uptime(c, day: t, infraClass: Int(customers[c].infraClass)).thousandths
                    customerID(c, to: out)
                    out.byte(UInt8(ascii: ","))
                    out.bytes(date)
                    out.byte(UInt8(ascii: ","))
                    out.thousandths(value)
                    out.byte(UInt8(ascii: "\n"))
                    rows += 1
                    try out.endRow()
                }
            }
            try out.close()
            return WrittenFile(path: path, export: "uptime", rows: rows)
        }

        // MARK: tickets

        func writeTickets(month index: Int) throws -> WrittenFile {
            let path = "exports/tickets-\(world.months[index].label).jsonl.gz"
            let out = try sink(path)
            for event in ticketEvents[index] {
                let ticket = tickets[Int(event.ticket)]
                out.ascii("{\"ticket_id\": \"t_")
                out.int(Int(event.ticket) + 1, width: ticketWidth)
                out.ascii("\", \"customer_id\": \"")
                customerID(Int(ticket.customer), to: out)
                out.ascii("\", \"opened_at\": \"")
                timestamp(ticket.opened, to: out)
                out.ascii("\", \"first_response_at\": ")
                if event.kind >= 1 {
                    out.byte(UInt8(ascii: "\""))
                    timestamp(ticket.responded, to: out)
                    out.byte(UInt8(ascii: "\""))
                } else {
                    out.ascii("null")
                }
                out.ascii(", \"resolved_at\": ")
                if event.kind >= 2 {
                    out.byte(UInt8(ascii: "\""))
                    timestamp(ticket.resolved, to: out)
                    out.byte(UInt8(ascii: "\""))
                } else {
                    out.ascii("null")
                }
                out.ascii(", \"priority\": \"")
                out.string(SyntheticWorld.priorities[Int(ticket.priority)])
                out.ascii("\", \"status\": \"")
                switch event.kind {
                case 0: out.ascii("open")
                case 1: out.ascii("pending")
                case 2: out.ascii("resolved")
                default: out.ascii("closed")
                }
                out.ascii("\"}\n")
                try out.endRow()
            }
            try out.close()
            return WrittenFile(path: path, export: "tickets", rows: ticketEvents[index].count)
        }

        // MARK: savings, accounts, truth

        func writeSavings() throws -> WrittenFile {
            let path = "exports/savings.csv.gz"
            let out = try sink(path)
            out.ascii("customer_id,recorded_at,amount,category\n")
            for saving in savings {
                customerID(Int(saving.customer), to: out)
                out.byte(UInt8(ascii: ","))
                out.bytes(dates[Int(saving.day)])
                out.byte(UInt8(ascii: ","))
                out.cents(Int(saving.cents))
                out.byte(UInt8(ascii: ","))
                out.string(SyntheticWorld.savingsCategories[Int(saving.category)])
                out.byte(UInt8(ascii: "\n"))
                try out.endRow()
            }
            try out.close()
            return WrittenFile(path: path, export: "savings", rows: savings.count)
        }

        func writeAccounts() throws -> WrittenFile {
            let path = "exports/accounts.csv.gz"
            let out = try sink(path)
            let profile = world.profile
            var header = "customer_id,name,plan,mrr,subscription_start"
            if profile.writesChurnedAt { header += ",churned_at" }
            if profile.writesSeats { header += ",seats" }
            if profile.writesFeaturesAvailable { header += ",features_available" }
            if profile.writesTrainingModules { header += ",training_modules" }
            out.string(header + ",acquisition_cost,nps\n")
            for c in 0..<world.customers {
                let customer = population.customers[c]
                customerID(c, to: out)
                out.byte(UInt8(ascii: ","))
                out.string(world.companyName(c))
                out.byte(UInt8(ascii: ","))
                out.string(SyntheticWorld.planNames[Int(customer.plan)])
                out.byte(UInt8(ascii: ","))
                out.cents(Int(customer.mrrCents))
                out.byte(UInt8(ascii: ","))
                out.bytes(SyntheticCalendar.dateBytes(Int(customer.startDay)))
                if profile.writesChurnedAt {
                    out.byte(UInt8(ascii: ","))
                    if customer.churned {
                        timestamp(
                            Int64(world.windowStart + Int(customer.lastDay)) * 86_400 + Int64(customer.churnSecond),
                            to: out)
                    }
                }
                if profile.writesSeats {
                    out.byte(UInt8(ascii: ","))
                    out.int(Int(customer.seats))
                }
                if profile.writesFeaturesAvailable {
                    out.byte(UInt8(ascii: ","))
                    out.int(profile == .ownEvents ? SyntheticProfile.ownFeatureEvents : Int(customer.featuresAvailable))
                }
                if profile.writesTrainingModules {
                    out.byte(UInt8(ascii: ","))
                    out.int(Int(customer.trainingModules))
                }
                out.byte(UInt8(ascii: ","))
                if customer.acquisitionCents >= 0 { out.cents(Int(customer.acquisitionCents)) }
                out.byte(UInt8(ascii: ","))
                if customer.nps >= 0 { out.int(Int(customer.nps)) }
                out.byte(UInt8(ascii: "\n"))
                try out.endRow()
            }
            try out.close()
            return WrittenFile(path: path, export: "accounts", rows: world.customers)
        }

        func writeTruth() throws -> WrittenFile {
            let n = world.customers
            var tables = [[Double]?](repeating: nil, count: 101 * 3)
            let path = "truth.csv.gz"
            let out = try sink(path)
            out.ascii("customer_id,as_of,churn_probability_30d,latent_health\n")
            var rows = 0
            for t in world.truthDays {
                for c in 0..<n {
                    let index = population.health[t * n + c]
                    if index == SyntheticPopulation.notSubscribed { continue }
                    let customer = population.customers[c]
                    if customer.churned && Int(customer.lastDay) == t { continue }
                    if population.lapsed(c, on: t) { continue }
                    let key = Int(customer.baseline) * 3 + Int(customer.infraClass)
                    if tables[key] == nil {
                        tables[key] = SyntheticLatentModel.churnProbabilities(
                            baseline: Int(customer.baseline), infraClass: Int(customer.infraClass))
                    }
                    let probability = tables[key]![Int(index)]
                    customerID(c, to: out)
                    out.byte(UInt8(ascii: ","))
                    out.bytes(dates[t])
                    out.byte(UInt8(ascii: ","))
                    let micro = Int((probability * 1_000_000).rounded())
                    out.int(micro / 1_000_000)
                    out.byte(UInt8(ascii: "."))
                    out.int(micro % 1_000_000, width: 6)
                    out.byte(UInt8(ascii: ","))
                    out.int(Int(index) / 100)
                    out.byte(UInt8(ascii: "."))
                    out.twoDigits(Int(index) % 100)
                    out.byte(UInt8(ascii: "\n"))
                    rows += 1
                    try out.endRow()
                }
            }
            try out.close()
            return WrittenFile(path: path, export: "truth", rows: rows)
        }
    }
}
