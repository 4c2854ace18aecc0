/// A customer's metrics as of a day, the inputs of every score (docs/scoring.md
/// defines each). Optional values are unknown, not zero: a customer without
/// tickets has no response time.
public struct FeatureVector: Sendable, Equatable {
    public var daysSinceLastLogin: Int?
    public var logins30d: Int = 0
    public var monthlyActiveUsers: Int = 0
    public var dailyActiveUsers: Double = 0
    public var featuresUsed30d: Int = 0
    /// nil when the account's features_available is unknown.
    public var featureAdoptionRate: Double?
    public var supportTickets30d: Int = 0
    public var avgFirstResponseHours: Double?
    public var uptimePercentage: Double?
    public var costSavingsAchieved: Double = 0
    public var trainingModulesCompleted: Int = 0
    public var trainingCompletionRate: Double?
    public var apiCalls30d: Int = 0
    public var mobileSessions30d: Int = 0
    public var dashboardViews30d: Int = 0
    public var workOrders30d: Int = 0
    public var monthsSinceSubscriptionStart: Double = 0
    public var daysToFirstValue: Int?

    public init() {}

    /// The names used in features.jsonl and scores.jsonl's key_metrics.
    public static let fieldNames = [
        "days_since_last_login", "logins_30d", "monthly_active_users", "daily_active_users",
        "features_used_30d", "feature_adoption_rate", "support_tickets_30d", "avg_first_response_hours",
        "uptime_percentage", "cost_savings_achieved", "training_modules_completed", "training_completion_rate",
        "api_calls_30d", "mobile_sessions_30d", "dashboard_views_30d", "work_orders_completed_30d",
        "months_since_subscription_start", "days_to_first_value",
    ]

    /// Full precision, for features.jsonl (rescoring must reproduce the run).
    public func json() -> JSONValue {
        .object([
            ("days_since_last_login", .optionalInt(daysSinceLastLogin)),
            ("logins_30d", .int(logins30d)),
            ("monthly_active_users", .int(monthlyActiveUsers)),
            ("daily_active_users", .double(dailyActiveUsers)),
            ("features_used_30d", .int(featuresUsed30d)),
            ("feature_adoption_rate", featureAdoptionRate.map { .double($0) } ?? .null),
            ("support_tickets_30d", .int(supportTickets30d)),
            ("avg_first_response_hours", avgFirstResponseHours.map { .double($0) } ?? .null),
            ("uptime_percentage", uptimePercentage.map { .double($0) } ?? .null),
            ("cost_savings_achieved", .double(costSavingsAchieved)),
            ("training_modules_completed", .int(trainingModulesCompleted)),
            ("training_completion_rate", trainingCompletionRate.map { .double($0) } ?? .null),
            ("api_calls_30d", .int(apiCalls30d)),
            ("mobile_sessions_30d", .int(mobileSessions30d)),
            ("dashboard_views_30d", .int(dashboardViews30d)),
            ("work_orders_completed_30d", .int(workOrders30d)),
            ("months_since_subscription_start", .double(monthsSinceSubscriptionStart)),
            ("days_to_first_value", .optionalInt(daysToFirstValue)),
        ])
    }

    /// Rounded for people and dashboards, for scores.jsonl.
    public func displayJSON() -> JSONValue {
        .object([
            ("days_since_last_login", .optionalInt(daysSinceLastLogin)),
            ("monthly_active_users", .int(monthlyActiveUsers)),
            ("daily_active_users", .number(dailyActiveUsers, places: 2)),
            ("feature_adoption_rate", .number(featureAdoptionRate, places: 4)),
            ("support_tickets_30d", .int(supportTickets30d)),
            ("avg_first_response_hours", .number(avgFirstResponseHours, places: 2)),
            ("uptime_percentage", .number(uptimePercentage, places: 3)),
            ("cost_savings_achieved", .number(costSavingsAchieved, places: 2)),
            ("training_completion_rate", .number(trainingCompletionRate, places: 4)),
            ("api_calls_30d", .int(apiCalls30d)),
            ("mobile_sessions_30d", .int(mobileSessions30d)),
            ("dashboard_views_30d", .int(dashboardViews30d)),
            ("work_orders_completed_30d", .int(workOrders30d)),
            ("months_since_subscription_start", .number(monthsSinceSubscriptionStart, places: 1)),
        ])
    }

}
