import Foundation

/// Static facts of one simulated customer plus its subscription interval.
struct SyntheticCustomer {
    /// 0 starter, 1 professional, 2 enterprise.
    var plan: UInt8 = 0
    /// 0 stable, 1 average, 2 flaky infrastructure (uptime incidents).
    var infraClass: UInt8 = 0
    /// Baseline health, grid index 0...100.
    var baseline: UInt8 = 0
    var featuresAvailable: UInt8 = 0
    var trainingModules: UInt8 = 0
    /// Offset of the customer's local time from UTC, hours.
    var utcOffsetHours: Int8 = 0
    /// 0...10, or -1 for empty.
    var nps: Int8 = -1
    var seats: Int32 = 1
    /// Subscription start, days since 1970-01-01.
    var startDay: Int32 = 0
    /// First and last subscribed day as window indices (last is the churn day
    /// or the window's last day).
    var firstDay: Int32 = 0
    var lastDay: Int32 = 0
    /// Second of `lastDay` (UTC) at which the customer churned, or -1 if it did not.
    var churnSecond: Int32 = -1
    var mrrCents: Int64 = 0
    /// -1 for empty.
    var acquisitionCents: Int64 = -1

    var churned: Bool { churnSecond >= 0 }
}

/// A ticket as drawn: times are seconds since 1970 (UTC), -1 for never.
struct SyntheticTicketDraft {
    var customer: Int32
    var sequence: Int32
    var priority: UInt8
    var opened: Int64
    var responded: Int64
    var resolved: Int64
    var closed: Int64
}

/// One savings row: `day` is a window index.
struct SyntheticSaving {
    var day: Int32
    var customer: Int32
    var sequence: Int32
    var category: UInt8
    var cents: Int64
}

/// One calendar month (or the part of it) inside the window.
struct SyntheticMonth: Sendable {
    let year: Int
    let month: Int
    /// Window indices of its first and last day inside the window.
    let first: Int
    let last: Int
    /// `yyyy-MM`.
    var label: String {
        let y = String(year)
        return month < 10 ? "\(y)-0\(month)" : "\(y)-\(month)"
    }
}

/// Everything fixed by the options: window, calendar, catalogues and tables.
struct SyntheticWorld: Sendable {
    let seed: UInt64
    let customers: Int
    let days: Int
    let activityRate: Double
    let gzipLevel: Int
    let threads: Int
    let profile: SyntheticProfile
    /// First and last day of the window, days since 1970-01-01.
    let windowStart: Int
    let windowEnd: Int
    /// Digits of the zero-padded customer number (at least 6).
    let idWidth: Int
    let months: [SyntheticMonth]
    /// Month index of each window day.
    let monthOfDay: [Int]
    /// Window indices at which truth.csv.gz is taken: each month end inside the window, plus the last day.
    let truthDays: [Int]
    /// Weekday factor (mean 1 over a week) of each window day.
    let dayFactor: [Double]

    // Random-stream tags.
    static let tagAttributes: UInt64 = 1
    static let tagHealth: UInt64 = 2
    static let tagUptime: UInt64 = 3
    static let tagTickets: UInt64 = 4
    static let tagSavings: UInt64 = 5
    static let tagActivity: UInt64 = 6
    static let tagName: UInt64 = 7

    static let planNames = ["starter", "professional", "enterprise"]
    static let planFeatures = [8, 15, 25]
    static let pricePerSeatCents = [2_900, 5_900, 9_900]
    static let planBaselineMean = [0.58, 0.62, 0.66]
    /// Monday ... Sunday.
    static let weekdayFactor = [1.2, 1.2, 1.2, 1.2, 1.2, 0.55, 0.45]
    /// Customer time zones (hours from UTC) and their shares.
    static let utcOffsets: [Int] = [-8, -7, -6, -5, 0, 1, 2, 10]
    static let utcOffsetShares: [Double] = [0.14, 0.06, 0.12, 0.25, 0.12, 0.18, 0.08, 0.05]

    /// Feature catalogue in popularity order; a plan gets the first 8, 15 or 25.
    static let features: [String] = [
        "scheduling", "work_orders", "asset_registry", "mobile_app", "notifications",
        "reporting_basic", "checklists", "time_tracking",
        "inventory", "preventive_maintenance", "purchase_orders", "vendor_portal",
        "meter_readings", "reporting_custom", "integrations",
        "multi_site", "sso", "audit_log", "api_access", "iot_sensors",
        "energy_monitoring", "predictive_maintenance", "budgeting", "sla_management",
        "data_warehouse_export",
    ]

    static let eventTypes: [String] = [
        "login", "feature_use", "api_call", "mobile_session",
        "dashboard_view", "work_order_completed", "training_completed",
    ]
    static let apiFactorByPlan = [0.3, 1.0, 1.5]

    /// Relative weights of the event types at health h for a plan.
    static func eventWeights(h: Double, plan: Int) -> [Double] {
        [
            0.30 + 0.30 * (1 - h),  // login
            0.18 + 0.30 * h,  // feature_use
            (0.02 + 0.12 * h) * apiFactorByPlan[plan],  // api_call
            0.08 + 0.06 * h,  // mobile_session
            0.10 + 0.04 * h,  // dashboard_view
            0.05 + 0.15 * h,  // work_order_completed
            0.004 + 0.012 * h,  // training_completed
        ]
    }

    /// Activity intensity of a customer-day before normalisation.
    @inline(__always)
    static func engagement(h: Double) -> Double { 0.05 + h * h }

    static let priorities = ["low", "medium", "high", "urgent"]
    /// Mean hours to first response and mean days from response to resolution, by priority.
    static let responseHours = [20.0, 10.0, 4.0, 1.0]
    static let resolutionDays = [3.0, 2.0, 1.0, 0.4]
    /// Extra daily ticket rate on a day of uptime level 0...3.
    static let incidentTicketRate = [0.0, 0.02, 0.10, 0.35]

    static let savingsCategories = ["labor", "downtime", "inventory", "energy"]
    static let savingsCategoryShares = [0.40, 0.25, 0.20, 0.15]
    static let savingsCategoryScale = [1.0, 1.3, 0.8, 0.5]

    init(options: SyntheticExportOptions) throws {
        try options.validate()
        guard let end = SyntheticCalendar.parse(options.endDate) else {
            throw SyntheticExportError.invalidOption("bad end date \(options.endDate)")
        }
        seed = options.seed
        customers = options.customers
        days = options.days
        activityRate = options.activityRate
        gzipLevel = options.gzipLevel
        threads = options.threads
        profile = options.profile
        windowEnd = end
        windowStart = end - options.days + 1
        idWidth = max(6, String(options.customers).count)

        var months: [SyntheticMonth] = []
        var monthOfDay: [Int] = []
        var truthDays: [Int] = []
        var dayFactor: [Double] = []
        for t in 0..<options.days {
            let day = windowStart + t
            let (y, m, d) = SyntheticCalendar.civil(day)
            if let lastMonth = months.last, lastMonth.year == y, lastMonth.month == m {
                months[months.count - 1] = SyntheticMonth(year: y, month: m, first: lastMonth.first, last: t)
            } else {
                months.append(SyntheticMonth(year: y, month: m, first: t, last: t))
            }
            monthOfDay.append(months.count - 1)
            if d == SyntheticCalendar.daysInMonth(year: y, month: m) || t == options.days - 1 {
                truthDays.append(t)
            }
            dayFactor.append(Self.weekdayFactor[SyntheticCalendar.weekday(day)])
        }
        self.months = months
        self.monthOfDay = monthOfDay
        self.truthDays = truthDays
        self.dayFactor = dayFactor
    }

    /// `cust_000123` for customer index 122.
    func customerID(_ index: Int) -> [UInt8] {
        var digits = Array(String(index + 1).utf8)
        if digits.count < idWidth { digits = [UInt8](repeating: 48, count: idWidth - digits.count) + digits }
        return Array("cust_".utf8) + digits
    }

    // MARK: Per-customer draws

    /// Static attributes (everything but the subscription's end).
    func attributes(_ c: Int) -> SyntheticCustomer {
        var r = SyntheticRandom.stream(seed: seed, tag: Self.tagAttributes, c)
        var customer = SyntheticCustomer()
        let u = r.uniform()
        let plan = u < 0.50 ? 0 : (u < 0.85 ? 1 : 2)
        customer.plan = UInt8(plan)
        let seats: Int
        switch plan {
        case 0: seats = 1 + r.int(below: 10)
        case 1: seats = 5 + r.int(below: 36)
        default:
            let v = r.uniform()
            seats = 20 + Int(180 * v * v)
        }
        customer.seats = Int32(seats)
        customer.featuresAvailable = UInt8(Self.planFeatures[plan])
        customer.trainingModules = UInt8(6 + r.int(below: 7))
        let infra = r.uniform()
        customer.infraClass = infra < 0.70 ? 0 : (infra < 0.92 ? 1 : 2)
        let baseline = (100 * (Self.planBaselineMean[plan] + 0.16 * r.normal())).rounded()
        customer.baseline = UInt8(min(95, max(8, baseline)))
        var pick = r.uniform()
        var zone = Self.utcOffsets.count - 1
        for (k, share) in Self.utcOffsetShares.enumerated() {
            if pick < share {
                zone = k
                break
            }
            pick -= share
        }
        customer.utcOffsetHours = Int8(Self.utcOffsets[zone])
        if r.uniform() < 0.85 {
            customer.startDay = Int32(windowStart - 1 - r.int(below: 1_095))
        } else {
            customer.startDay = Int32(windowStart + r.int(below: days))
        }
        let discount = plan == 2 ? 0.25 * r.uniform() : 0.10 * r.uniform()
        customer.mrrCents = Int64((Double(seats * Self.pricePerSeatCents[plan]) * (1 - discount)).rounded())
        let acquisition = r.uniform()
        let multiple = 3 + 9 * r.uniform()
        customer.acquisitionCents = acquisition < 0.10 ? -1 : Int64((Double(customer.mrrCents) * multiple).rounded())
        let npsMissing = r.uniform() < 0.30
        let nps = (Double(customer.baseline) / 10 + 1.5 + 1.8 * r.normal()).rounded()
        customer.nps = npsMissing ? -1 : Int8(min(10, max(0, nps)))
        customer.firstDay = Int32(max(0, Int(customer.startDay) - windowStart))
        customer.lastDay = Int32(days - 1)
        return customer
    }

    /// The uptime of customer `c` on window day `t`: its level (0...3, drives
    /// the health penalty) and value in thousandths of a percent.
    @inline(__always)
    func uptime(_ c: Int, day t: Int, infraClass: Int) -> (level: Int, thousandths: Int) {
        var r = SyntheticRandom.stream(seed: seed, tag: Self.tagUptime, c, t)
        let level = SyntheticLatentModel.level(r.uniform(), infraClass: infraClass)
        let value: Int
        switch level {
        case 0: value = r.uniform() < 0.55 ? 100_000 : 99_500 + r.int(below: 500)
        case 1: value = 98_000 + r.int(below: 1_500)
        case 2: value = 95_000 + r.int(below: 3_000)
        default: value = r.uniform() < 0.05 ? r.int(below: 60_000) : 60_000 + r.int(below: 35_000)
        }
        return (level, value)
    }

    /// Company name, RFC 4180-quoted when it holds a comma or a quote.
    func companyName(_ c: Int) -> String {
        var r = SyntheticRandom.stream(seed: seed, tag: Self.tagName, c)
        let first = Self.nameFirst[r.int(below: Self.nameFirst.count)]
        let trade = Self.nameTrade[r.int(below: Self.nameTrade.count)]
        let suffix = Self.nameSuffix[r.int(below: Self.nameSuffix.count)]
        let style = r.uniform()
        let name: String
        if style < 0.04 {
            let nick = Self.nameNick[r.int(below: Self.nameNick.count)]
            name = "\(first) \"\(nick)\" \(trade) \(suffix)"
        } else if style < 0.30 && (suffix == "Inc." || suffix == "LLC" || suffix == "Ltd") {
            name = "\(first) \(trade), \(suffix)"
        } else if style < 0.36 {
            let partner = Self.nameFirst[r.int(below: Self.nameFirst.count)]
            name = "\(first) & \(partner) \(trade)"
        } else {
            name = "\(first) \(trade) \(suffix)"
        }
        if name.contains(",") || name.contains("\"") {
            return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return name
    }

    static let nameFirst = [
        "Acme", "Summit", "Northwind", "Blue Ridge", "Ironclad", "Harbor", "Pioneer", "Granite",
        "Redwood", "Silverline", "Keystone", "Evergreen", "Atlas", "Beacon", "Cascade", "Frontier",
        "Highland", "Liberty", "Meridian", "Orchard", "Prairie", "Riverbend", "Sterling", "Titan",
        "Vanguard", "Willow", "Cobalt", "Crescent", "Falcon", "Lakeshore", "O'Neill", "Bayside",
    ]
    static let nameTrade = [
        "Facilities", "Maintenance", "Mechanical", "Property Services", "Building Services", "HVAC",
        "Plumbing", "Electric", "Logistics", "Manufacturing", "Field Services", "Fleet", "Energy",
        "Construction", "Equipment", "Hospitality", "Health Systems", "Foods",
    ]
    static let nameSuffix = ["Inc.", "LLC", "Co.", "Group", "Partners", "Ltd", "Corp."]
    static let nameNick = ["Pro", "Quick", "Best", "Eagle", "Ace"]
}

/// Output of the per-customer simulation pass.
final class SyntheticPopulation: @unchecked Sendable {
    let world: SyntheticWorld
    let customers: SyntheticSlots<SyntheticCustomer>
    /// Health grid index per (window day, customer), day-major: `health[t * n + c]`;
    /// 255 where the customer is not subscribed that day.
    let health: SyntheticSlots<UInt8>
    /// Sum over subscribed days of sqrt(seats) * engagement(h), per customer.
    let engagement: SyntheticSlots<Double>
    /// Fixed-size chunks of customers (independent of the thread count).
    let chunkSize = 2_048
    let tickets: SyntheticSlots<[SyntheticTicketDraft]>
    let savings: SyntheticSlots<[SyntheticSaving]>
    /// Profiles whose churned customers go quiet and may come back: the
    /// window days on which each customer went quiet (its last active day).
    let lapses: SyntheticSlots<[Int32]>

    static let notSubscribed: UInt8 = 255

    init(world: SyntheticWorld) {
        self.world = world
        let n = world.customers
        customers = SyntheticSlots(count: n, repeating: SyntheticCustomer())
        health = SyntheticSlots(count: n * world.days, repeating: Self.notSubscribed)
        engagement = SyntheticSlots(count: n, repeating: 0)
        let chunks = (n + chunkSize - 1) / chunkSize
        tickets = SyntheticSlots(count: chunks, repeating: [])
        savings = SyntheticSlots(count: chunks, repeating: [])
        lapses = SyntheticSlots(count: world.profile.lapses ? n : 0, repeating: [])
    }

    /// True when customer `c` went quiet at the end of window day `t`.
    func lapsed(_ c: Int, on t: Int) -> Bool { world.profile.lapses && lapses[c].contains(Int32(t)) }

    var chunkCount: Int { tickets.count }

    /// Simulates every customer of one chunk.
    func simulateChunk(_ chunk: Int) {
        let n = world.customers
        let lower = chunk * chunkSize
        let upper = min(n, lower + chunkSize)
        var chunkTickets: [SyntheticTicketDraft] = []
        var chunkSavings: [SyntheticSaving] = []
        var path = [UInt8](repeating: 0, count: world.days)
        var levels = [UInt8](repeating: 0, count: world.days)
        for c in lower..<upper {
            simulate(c, path: &path, levels: &levels, tickets: &chunkTickets, savings: &chunkSavings)
        }
        tickets[chunk] = chunkTickets
        savings[chunk] = chunkSavings
    }

    private func simulate(
        _ c: Int,
        path: inout [UInt8],
        levels: inout [UInt8],
        tickets: inout [SyntheticTicketDraft],
        savings: inout [SyntheticSaving]
    ) {
        let n = world.customers
        var customer = world.attributes(c)
        let baseline = Int(customer.baseline)
        let infra = Int(customer.infraClass)
        let penalties = SyntheticLatentModel.penaltySteps
        let hazard = SyntheticLatentModel.hazard

        // Hidden health: burn-in, then the subscribed window days.
        var r = SyntheticRandom.stream(seed: world.seed, tag: SyntheticWorld.tagHealth, c)
        var h = baseline
        for _ in 0..<SyntheticLatentModel.burnInDays {
            let level = SyntheticLatentModel.level(r.uniform(), infraClass: infra)
            h = SyntheticLatentModel.transition(
                h, baseline: baseline, penalty: penalties[level], u1: r.uniform(), u2: r.uniform())
        }
        let first = Int(customer.firstDay)
        var last = world.days - 1
        let seatScale = Double(customer.seats).squareRoot()
        var engagementSum = 0.0
        let lapses = world.profile.lapses
        var quietDays: [Int32] = []
        var quiet = false
        if first < world.days {
            for t in first..<world.days {
                if quiet {
                    // Gone quiet: no activity, tickets, uptime or savings until it comes back, afresh at its baseline.
                    path[t] = Self.notSubscribed
                    guard r.uniform() < SyntheticProfile.returnProbability else { continue }
                    quiet = false
                    h = baseline
                }
                let level = world.uptime(c, day: t, infraClass: infra).level
                h = SyntheticLatentModel.transition(
                    h, baseline: baseline, penalty: penalties[level], u1: r.uniform(), u2: r.uniform())
                health[t * n + c] = UInt8(h)
                path[t] = UInt8(h)
                levels[t] = UInt8(level)
                engagementSum += seatScale * SyntheticWorld.engagement(h: Double(h) / 100)
                if r.uniform() < hazard[h] {
                    if lapses {
                        quietDays.append(Int32(t))
                        quiet = true
                        continue
                    }
                    last = t
                    customer.churnSecond = Int32(r.int(below: 1_440) * 60)
                    break
                }
            }
        }
        if lapses { self.lapses[c] = quietDays }
        customer.lastDay = Int32(last)
        customers[c] = customer
        engagement[c] = engagementSum
        guard first <= last else { return }

        drawTickets(c, customer: customer, path: path, levels: levels, into: &tickets)
        drawSavings(c, customer: customer, path: path, into: &savings)
    }

    /// Tickets: a Poisson number per subscribed day, more when health is low
    /// and on days with uptime incidents.
    private func drawTickets(
        _ c: Int, customer: SyntheticCustomer, path: [UInt8], levels: [UInt8],
        into tickets: inout [SyntheticTicketDraft]
    ) {
        var r = SyntheticRandom.stream(seed: world.seed, tag: SyntheticWorld.tagTickets, c)
        let seatFactor = pow(Double(customer.seats), 0.3)
        let offset = Int(customer.utcOffsetHours) * 3_600
        var sequence: Int32 = 0
        for t in Int(customer.firstDay)...Int(customer.lastDay) where path[t] != Self.notSubscribed {
            let h = Double(path[t]) / 100
            let level = Int(levels[t])
            let sick = 1 - h
            let rate =
                (0.002 + 0.05 * sick * sick * sick) * seatFactor * world.dayFactor[t]
                + SyntheticWorld.incidentTicketRate[level]
            let count = r.poisson(rate)
            for _ in 0..<count {
                let local = Int(11 * 3_600 + 2.5 * 3_600 * r.bell())
                let second = ((local - offset) % 86_400 + 86_400) % 86_400
                var priority: Int
                let p = r.uniform()
                let shift = 0.25 * sick
                if p < 0.35 - shift {
                    priority = 0
                } else if p < 0.75 - shift {
                    priority = 1
                } else if p < 0.94 - 0.3 * shift {
                    priority = 2
                } else {
                    priority = 3
                }
                if level >= 2 && r.uniform() < 0.5 { priority = 3 }
                let slowness = 0.6 + 0.9 * sick
                let responseDelay = max(
                    60, Int(r.exponential(mean: SyntheticWorld.responseHours[priority] * 3_600 * slowness)))
                let resolveDelay = max(
                    600, Int(r.exponential(mean: SyntheticWorld.resolutionDays[priority] * 86_400 * (0.6 + 1.2 * sick)))
                )
                let closes = r.uniform() < 0.85
                let closeDelay = 86_400 + r.int(below: 6 * 86_400)
                if t == Int(customer.lastDay) && customer.churned && second >= Int(customer.churnSecond) { continue }
                let opened = Int64(world.windowStart + t) * 86_400 + Int64(second)
                let responded = opened + Int64(responseDelay)
                let resolved = responded + Int64(resolveDelay)
                tickets.append(
                    SyntheticTicketDraft(
                        customer: Int32(c), sequence: sequence, priority: UInt8(priority),
                        opened: opened, responded: responded, resolved: resolved,
                        closed: closes ? resolved + Int64(closeDelay) : -1))
                sequence += 1
            }
        }
    }

    /// Savings: about one row a month once the customer is 14 days in,
    /// growing with seats and with the square of the last 30 days' mean health.
    private func drawSavings(
        _ c: Int, customer: SyntheticCustomer, path: [UInt8], into savings: inout [SyntheticSaving]
    ) {
        var r = SyntheticRandom.stream(seed: world.seed, tag: SyntheticWorld.tagSavings, c)
        let first = Int(customer.firstDay)
        let eligible = max(first, Int(customer.startDay) + 14 - world.windowStart)
        let last = Int(customer.lastDay)
        let seatScale = pow(Double(customer.seats), 0.8)
        var sequence: Int32 = 0
        for month in world.months {
            let u = r.uniform()
            let count = u < 0.12 ? 0 : (u < 0.40 ? 2 : 1)
            let lo = max(month.first, eligible)
            let hi = min(month.last, last)
            guard lo <= hi else { continue }
            for _ in 0..<count {
                let t = lo + r.int(below: hi - lo + 1)
                // A quiet customer records no savings (only profiles with lapses have quiet days).
                if path[t] == Self.notSubscribed { continue }
                var total = 0
                var days = 0
                let from = max(first, t - 29)
                for d in from...t where path[d] != Self.notSubscribed {
                    total += Int(path[d])
                    days += 1
                }
                let mean = Double(total) / Double(days) / 100
                var pick = r.uniform()
                var category = SyntheticWorld.savingsCategories.count - 1
                for (k, share) in SyntheticWorld.savingsCategoryShares.enumerated() {
                    if pick < share {
                        category = k
                        break
                    }
                    pick -= share
                }
                let amount =
                    25_000 * seatScale * mean * mean * SyntheticWorld.savingsCategoryScale[category]
                    * exp(0.35 * r.normal())
                savings.append(
                    SyntheticSaving(
                        day: Int32(t), customer: Int32(c), sequence: sequence,
                        category: UInt8(category), cents: Int64(max(0, amount.rounded()))))
                sequence += 1
            }
        }
    }
}
