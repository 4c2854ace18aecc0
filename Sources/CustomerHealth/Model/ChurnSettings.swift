import Foundation

/// The `churn:` section of a pipeline file: where the model lives, what
/// counts as churn, and how training samples history.
public struct ChurnSettings: Sendable, Equatable {
    public enum IfMissing: String, Sendable { case train, stop, skip }
    public enum Insufficient: String, Sendable { case warn, stop }

    /// Model file path (resolved against the pipeline's folder); nil: no churn model.
    public var modelPath: String?
    public var ifMissing: IfMissing = .stop
    public var horizonDays = 30
    /// Observation dates: every N days back from the newest eligible date, or month ends.
    public var observeEvery: ReplayStep = .days(30)
    /// Churn for exports without churned_at: no activity for this many days.
    public var inactivityDays: Int? = nil
    public var validationDates = 2
    public var minPositives = 200
    public var onInsufficientData: Insufficient = .stop
    public var seed: UInt64 = 42
    public var reasonCodes = 3

    public init() {}

    static func load(_ node: ConfigNode, resolve: (String) -> String) throws -> ChurnSettings {
        var s = ChurnSettings()
        s.modelPath = try node.string("model").map(resolve)
        let missing = try node.string("if_missing", default: "stop")
        guard let m = IfMissing(rawValue: missing) else { throw node.failure("expected train, stop or skip, found \"\(missing)\"", key: "if_missing") }
        s.ifMissing = m
        s.horizonDays = try node.int("horizon_days", default: 30, range: 1...3650)
        let every = try node.string("observe_every", default: "30d")
        guard let step = ReplayStep(every) else { throw node.failure("expected a step such as 30d or 1m (month ends), found \"\(every)\"", key: "observe_every") }
        if case .months(let n) = step, n != 1 {
            throw node.failure("months step must be 1m (every month end), found \"\(every)\"", key: "observe_every")
        }
        s.observeEvery = step
        if node.has("inactivity_days") { s.inactivityDays = try node.int("inactivity_days", default: 0, range: 1...3650) }
        s.validationDates = try node.int("validation_dates", default: 2, range: 1...1000)
        s.minPositives = try node.int("min_positives", default: 200, range: 0...100_000_000)
        let insufficient = try node.string("on_insufficient_data", default: "stop")
        guard let i = Insufficient(rawValue: insufficient) else { throw node.failure("expected warn or stop, found \"\(insufficient)\"", key: "on_insufficient_data") }
        s.onInsufficientData = i
        s.seed = UInt64(try node.int("seed", default: 42, range: 0...Int.max))
        s.reasonCodes = try node.int("reason_codes", default: 3, range: 0...12)
        return s
    }
}

/// What the churn model reads, in model order: the product's twelve
/// customer metrics, then the same usage put per seat (trees split on one
/// feature at a time, so a ratio they need must be given to them).
public enum ChurnFeatures {
    public static let names = [
        "days_since_last_login", "monthly_active_users", "daily_active_users", "feature_adoption_rate",
        "support_tickets_30d", "avg_first_response_hours", "uptime_percentage", "cost_savings_achieved",
        "training_completion_rate", "api_calls_30d", "work_orders_completed_30d", "months_since_subscription_start",
        "seats", "logins_30d", "monthly_active_users_per_seat", "daily_active_users_per_seat",
        "support_tickets_30d_per_seat", "cost_savings_per_seat", "work_orders_30d_per_seat", "features_used_30d",
    ]

    /// The model's inputs; unknown values are NaN (missing).
    public static func vector(_ f: FeatureVector, account: AccountRecord) -> [Double] {
        let seats = Double(max(1, account.seats))
        return [
            f.daysSinceLastLogin.map(Double.init) ?? .nan, Double(f.monthlyActiveUsers), f.dailyActiveUsers,
            f.featureAdoptionRate, Double(f.supportTickets30d), f.avgFirstResponseHours ?? .nan, f.uptimePercentage ?? .nan,
            f.costSavingsAchieved, f.trainingCompletionRate ?? .nan, Double(f.apiCalls30d), Double(f.workOrders30d),
            f.monthsSinceSubscriptionStart,
            seats, Double(f.logins30d), Double(f.monthlyActiveUsers) / seats, f.dailyActiveUsers / seats,
            Double(f.supportTickets30d) / seats, f.costSavingsAchieved / seats, Double(f.workOrders30d) / seats,
            Double(f.featuresUsed30d),
        ]
    }

    /// A value as a person reads it in a reason code.
    static func display(_ name: String, _ v: Double) -> JSONValue {
        if v.isNaN { return .null }
        switch name {
        case "feature_adoption_rate", "training_completion_rate": return .number(v, places: 4)
        case "daily_active_users", "avg_first_response_hours", "cost_savings_achieved": return .number(v, places: 2)
        case "uptime_percentage": return .number(v, places: 3)
        case "months_since_subscription_start": return .number(v, places: 1)
        case let n where n.hasSuffix("_per_seat"): return .number(v, places: 3)
        default: return .number(v, places: 0)
        }
    }
}
