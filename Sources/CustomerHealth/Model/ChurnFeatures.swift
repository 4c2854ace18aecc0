import Foundation

/// One customer as of one day, as the model's inputs see it.
struct ModelInputContext {
    let features: FeatureVector
    let account: AccountRecord
    let activity: UnsafePointer<CustomerActivity>
    let registry: ProductEventRegistry
    /// The as-of day.
    let t: Int
    /// The first day the customer could have been active: the later of its
    /// start and the first day of history.
    let start: Int
    let seats: Double
    /// Weighted mean events per day: decayed (half-lives 14 and 30 days) and flat over a year.
    let recent14: Double
    let decayed30: Double
    let baseline365: Double

    init(features: FeatureVector, account: AccountRecord, data: IngestResult, customer c: Int, asOf: CalendarDay) {
        self.features = features
        self.account = account
        activity = UnsafePointer(data.aggregates.customers + c)
        registry = data.registry
        t = Int(asOf.number)
        start = max(
            Int(account.subscriptionStart.number), data.earliestActivityDay ?? Int(account.subscriptionStart.number))
        seats = Double(account.seatsOrOne)
        let agg = activity
        let t = self.t
        let start = self.start
        /// Weighted mean events per day over [max(start, t - span + 1), t].
        func meanDaily(_ weights: [Double], span: Int) -> Double {
            let from = max(start, t - span + 1)
            guard from <= t else { return .nan }
            var norm = 0.0
            for k in 0...(t - from) { norm += weights[k] }
            return agg.pointee.weightedEvents(from: from, to: t, weights: weights) / norm
        }
        recent14 = meanDaily(ChurnFeatures.decay14, span: 120)
        decayed30 = meanDaily(ChurnFeatures.decay30, span: 240)
        baseline365 = meanDaily(ChurnFeatures.flat, span: 365)
    }
}

/// One input of the churn model, declared once: its name (in the model file,
/// features.jsonl and reason codes), how it is computed as of a day, and
/// how a person reads it.
public struct ModelInput: Sendable {
    public let name: String
    /// What it is, for a customer-success manager: "Monthly active users per seat".
    public let words: String
    /// Decimals shown in reason codes.
    let places: Int
    let compute: @Sendable (ModelInputContext) -> Double
}

/// Where an event-derived input counts its events.
enum EventSource: Sendable, Equatable {
    case login
    case counted(EventCounts.Kind)
    case training
    /// A named product event (`events:` keep), by name.
    case product(String)

    /// As written in input names: a built-in kind's name, or a product event's name in quotes.
    var label: String {
        switch self {
        case .login: return "login"
        case .counted(let k): return EventSource.kindNames[Int(k.rawValue)]
        case .training: return "training_completed"
        case .product(let name): return "\"\(name)\""
        }
    }

    /// For people: "logins", "API calls", "Report Exported events".
    var words: String {
        switch self {
        case .login: return "Login days"
        case .counted(let k):
            return ["Feature uses", "API calls", "Mobile sessions", "Dashboard views", "Work orders completed"][
                Int(k.rawValue)]
        case .training: return "Training modules completed"
        case .product(let name): return name
        }
    }

    static let kindNames = ["feature_use", "api_call", "mobile_session", "dashboard_view", "work_order_completed"]

    init?(label: String) {
        if label.count >= 2 && label.hasPrefix("\"") && label.hasSuffix("\"") {
            self = .product(String(label.dropFirst().dropLast()))
            return
        }
        switch label {
        case "login": self = .login
        case "training_completed": self = .training
        default:
            guard let i = EventSource.kindNames.firstIndex(of: label) else { return nil }
            self = .counted(EventCounts.Kind(rawValue: UInt32(i))!)
        }
    }
}

/// The statistics derived from each event source (docs/model.md, "Inputs from the product's events").
enum EventStatistic: String, CaseIterable, Sendable {
    case count7 = "events_7d"
    case count28 = "events_28d"
    case count90 = "events_90d"
    case perSeat28 = "events_28d_per_seat"
    case recentVersusBaseline = "events_28d_vs_90d"
    case daysSince = "days_since_event"

    var places: Int {
        switch self {
        case .count7, .count28, .count90, .daysSince: return 0
        case .perSeat28, .recentVersusBaseline: return 3
        }
    }

    func words(_ source: EventSource) -> String {
        switch self {
        case .count7: return "\(source.words) in 7 days"
        case .count28: return "\(source.words) in 28 days"
        case .count90: return "\(source.words) in 90 days"
        case .perSeat28: return "\(source.words) per seat in 28 days"
        case .recentVersusBaseline: return "\(source.words) in 28 days against the 90-day rate"
        case .daysSince: return "Days since the last \(source.words.lowercased())"
        }
    }
}

/// The churn model's inputs: a fixed set every model reads, then inputs
/// derived from the product's own events, chosen per model on its training
/// dates (`EventInputSelection`). A model file names its inputs; scoring
/// computes each by name, so the order is the model's.
public enum ChurnFeatures {
    /// The fixed inputs: the product's customer metrics, the same usage put
    /// per seat (trees split on one feature at a time, so a ratio they need
    /// must be given to them), and longer and decayed windows (health drifts
    /// and takes shocks, so the recent level, the customer's own baseline and
    /// their ratio say more than one 30-day count).
    public static let fixed: [ModelInput] = [
        ModelInput(name: "days_since_last_login", words: "Days since the last login", places: 0) {
            $0.features.daysSinceLastLogin.map(Double.init) ?? .nan
        },
        ModelInput(name: "monthly_active_users", words: "Monthly active users", places: 0) {
            Double($0.features.monthlyActiveUsers)
        },
        ModelInput(name: "daily_active_users", words: "Daily active users", places: 2) { $0.features.dailyActiveUsers },
        ModelInput(name: "feature_adoption_rate", words: "Share of the plan's features used", places: 4) {
            $0.features.featureAdoptionRate ?? .nan
        },
        ModelInput(name: "support_tickets_30d", words: "Support tickets in 30 days", places: 0) {
            Double($0.features.supportTickets30d)
        },
        ModelInput(name: "avg_first_response_hours", words: "Average first response in hours", places: 2) {
            $0.features.avgFirstResponseHours ?? .nan
        },
        ModelInput(name: "uptime_percentage", words: "Uptime %", places: 3) { $0.features.uptimePercentage ?? .nan },
        ModelInput(name: "cost_savings_achieved", words: "Savings to date", places: 2) {
            $0.features.costSavingsAchieved
        },
        ModelInput(name: "training_completion_rate", words: "Training completed", places: 4) {
            $0.features.trainingCompletionRate ?? .nan
        },
        ModelInput(name: "api_calls_30d", words: "API calls in 30 days", places: 0) { Double($0.features.apiCalls30d) },
        ModelInput(name: "work_orders_completed_30d", words: "Work orders in 30 days", places: 0) {
            Double($0.features.workOrders30d)
        },
        ModelInput(name: "months_since_subscription_start", words: "Months as a customer", places: 1) {
            $0.features.monthsSinceSubscriptionStart
        },
        ModelInput(name: "seats", words: "Seats", places: 0) { $0.account.seats.map(Double.init) ?? .nan },
        ModelInput(name: "logins_30d", words: "Login days in 30 days", places: 0) { Double($0.features.logins30d) },
        ModelInput(name: "monthly_active_users_per_seat", words: "Monthly active users per seat", places: 3) {
            Double($0.features.monthlyActiveUsers) / $0.seats
        },
        ModelInput(name: "daily_active_users_per_seat", words: "Daily active users per seat", places: 3) {
            $0.features.dailyActiveUsers / $0.seats
        },
        ModelInput(name: "support_tickets_30d_per_seat", words: "Support tickets per seat in 30 days", places: 3) {
            Double($0.features.supportTickets30d) / $0.seats
        },
        ModelInput(name: "cost_savings_per_seat", words: "Savings per seat", places: 3) {
            $0.features.costSavingsAchieved / $0.seats
        },
        ModelInput(name: "work_orders_30d_per_seat", words: "Work orders per seat in 30 days", places: 3) {
            Double($0.features.workOrders30d) / $0.seats
        },
        ModelInput(name: "features_used_30d", words: "Features used in 30 days", places: 0) {
            Double($0.features.featuresUsed30d)
        },
        ModelInput(
            name: "events_per_seat_decayed_14d", words: "Recent events per seat a day (14-day half-life)", places: 3
        ) { $0.recent14 / $0.seats },
        ModelInput(name: "events_per_seat_decayed_30d", words: "Events per seat a day (30-day half-life)", places: 3) {
            $0.decayed30 / $0.seats
        },
        ModelInput(name: "events_per_seat_365d", words: "Events per seat a day over a year", places: 3) {
            $0.baseline365 / $0.seats
        },
        ModelInput(name: "events_recent_vs_365d", words: "Recent events against the year's rate", places: 3) {
            $0.baseline365 > 0 ? $0.recent14 / $0.baseline365 : .nan
        },
        ModelInput(
            name: "savings_per_record_365d_per_seat", words: "Average saving per record per seat over a year", places: 3
        ) { c in
            // The amount of a saving says how well the product works for the
            // customer; how many were recorded says more about bookkeeping.
            let agg = c.activity.pointee
            let records = agg.savings.count(from: c.t - 364, to: c.t)
            return records > 0
                ? Double(agg.savings.total(from: c.t - 364, to: c.t)) / 10_000 / Double(records) / c.seats : .nan
        },
        ModelInput(name: "users_14d_per_seat", words: "Users active in 14 days per seat", places: 3) { c in
            Double(c.activity.pointee.distinctNames(.user, from: c.t - 13, to: c.t)) / c.seats
        },
        ModelInput(name: "feature_adoption_90d", words: "Share of the plan's features used in 90 days", places: 3) {
            c in
            c.account.featuresAvailable.map {
                min(1, Double(c.activity.pointee.distinctNames(.feature, from: c.t - 89, to: c.t)) / Double(max(1, $0)))
            } ?? .nan
        },
        ModelInput(name: "feature_use_share_30d", words: "Share of the events that are feature uses", places: 3) { c in
            let agg = c.activity.pointee
            let featureUse = agg.counts.count(.featureUse, from: c.t - 29, to: c.t)
            var events = agg.logins.count(from: c.t - 29, to: c.t) + agg.productEvents(from: c.t - 29, to: c.t)
            for kind in EventCounts.Kind.allCases { events += agg.counts.count(kind, from: c.t - 29, to: c.t) }
            return events > 0 ? Double(featureUse) / Double(events) : .nan
        },
        ModelInput(name: "active_days_share_90d", words: "Share of the last 90 days with activity", places: 3) { c in
            let from = max(c.start, c.t - 89)
            return from <= c.t
                ? Double(c.activity.pointee.activeDayCount(from: from, to: c.t)) / Double(c.t - from + 1) : .nan
        },
    ]

    /// The fixed inputs' names, in model order.
    public static let names = fixed.map(\.name)
    private static let fixedByName = Dictionary(uniqueKeysWithValues: fixed.map { ($0.name, $0) })

    /// Decay weights 0.5^(age / half-life) for ages 0...365 days.
    static func decay(halfLife: Double) -> [Double] { (0...365).map { pow(0.5, Double($0) / halfLife) } }
    static let decay14 = decay(halfLife: 14)
    static let decay30 = decay(halfLife: 30)
    static let flat = [Double](repeating: 1, count: 366)

    /// The name of an event-derived input: `events_28d:api_call`, `events_28d:"Report Exported"`.
    static func name(_ statistic: EventStatistic, _ source: EventSource) -> String {
        "\(statistic.rawValue):\(source.label)"
    }

    /// An event-derived input, from its name.
    static func eventInput(named name: String) -> (EventStatistic, EventSource)? {
        guard let colon = name.firstIndex(of: ":"), let statistic = EventStatistic(rawValue: String(name[..<colon])),
            let source = EventSource(label: String(name[name.index(after: colon)...]))
        else { return nil }
        return (statistic, source)
    }

    /// The input of a name: a fixed one, or one derived from the events.
    public static func input(named name: String) -> ModelInput? {
        if let f = fixedByName[name] { return f }
        guard let (statistic, source) = eventInput(named: name) else { return nil }
        return ModelInput(name: name, words: statistic.words(source), places: statistic.places) { c in
            EventWindowCounts(c, source).value(statistic, seats: c.seats)
        }
    }

    /// Whether this customer-health can compute every one of `names`.
    static func unknown(in names: [String]) -> [String] { names.filter { input(named: $0) == nil } }

    /// The inputs `names` asks for, for customer `c` as of `asOf`; unknown values are NaN (missing).
    static func inputs(
        _ inputs: [ModelInput], features f: FeatureVector, account: AccountRecord, data: IngestResult, customer c: Int,
        asOf: CalendarDay
    ) -> [Double] {
        let context = ModelInputContext(features: f, account: account, data: data, customer: c, asOf: asOf)
        return inputs.map { $0.compute(context) }
    }

    /// A value as a person reads it in a reason code.
    static func display(_ name: String, _ v: Double) -> JSONValue {
        if v.isNaN { return .null }
        return .number(v, places: input(named: name)?.places ?? 3)
    }

    /// A reason code in words: "API calls in 28 days: 14, down from 40 a month over 90 days" (the
    /// baseline when the model also reads the 90-day count of the same events).
    static func describe(_ name: String, _ value: Double, inputs: [String: Double]) -> String {
        guard let input = input(named: name) else { return name }
        let shown = value.isNaN ? "none" : display(name, value).serialized()
        var text = "\(input.words): \(shown)"
        if let (statistic, source) = eventInput(named: name), statistic == .count28, !value.isNaN,
            let ninety = inputs[self.name(.count90, source)], !ninety.isNaN
        {
            let baseline = ninety * 28 / 90
            let rounded = JSONValue.number(baseline, places: 0).serialized()
            if abs(baseline - value) >= 1 {
                text += ", \(baseline > value ? "down" : "up") from \(rounded) a month over 90 days"
            }
        }
        return text
    }
}

/// One event source's counts over the windows that end on the as-of day, read in one pass.
struct EventWindowCounts {
    var c7 = 0
    var c28 = 0
    var c90 = 0
    var last: Int?
    let t: Int

    init(_ c: ModelInputContext, _ source: EventSource) {
        t = c.t
        let agg = c.activity.pointee
        switch source {
        case .login:
            c7 = agg.logins.count(from: t - 6, to: t)
            c28 = agg.logins.count(from: t - 27, to: t)
            c90 = agg.logins.count(from: t - 89, to: t)
            last = agg.logins.last(onOrBefore: t)
        case .counted(let kind):
            (c7, c28, c90, last) = agg.counts.windowCounts(kind, t: t)
        case .training:
            (c7, c28, c90, last) = agg.nameWindowCounts(.module, t: t)
        case .product(let name):
            guard let id = c.registry.id(of: name) else { return }
            // A name is kept or mapped to `feature`, never both: one of the two holds it.
            (c7, c28, c90, last) = agg.products.windowCounts(id, t: t)
            if c90 == 0 && last == nil { (c7, c28, c90, last) = agg.namedFeatures.windowCounts(id, t: t) }
        }
    }

    func value(_ statistic: EventStatistic, seats: Double) -> Double {
        switch statistic {
        case .count7: return Double(c7)
        case .count28: return Double(c28)
        case .count90: return Double(c90)
        case .perSeat28: return Double(c28) / seats
        case .recentVersusBaseline: return c90 > 0 ? (Double(c28) / 28) / (Double(c90) / 90) : .nan
        case .daysSince: return last.map { Double(t - $0) } ?? .nan
        }
    }
}
