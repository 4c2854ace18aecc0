import Foundation

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
        // Longer and decayed windows: health drifts and takes shocks, so
        // the recent level, the customer's own baseline and their ratio
        // say more than one 30-day count.
        "events_per_seat_decayed_14d", "events_per_seat_decayed_30d", "events_per_seat_365d", "events_recent_vs_365d",
        "savings_per_record_365d_per_seat", "users_14d_per_seat", "feature_adoption_90d", "feature_use_share_30d",
        "active_days_share_90d",
    ]

    /// Decay weights 0.5^(age / half-life) for ages 0...365 days.
    static func decay(halfLife: Double) -> [Double] { (0...365).map { pow(0.5, Double($0) / halfLife) } }
    static let decay14 = decay(halfLife: 14)
    static let decay30 = decay(halfLife: 30)
    static let flat = [Double](repeating: 1, count: 366)

    /// The model's inputs for customer `c` as of `asOf`, in `names` order;
    /// unknown values are NaN (missing). `f` is the customer's scoring
    /// metrics as of the same day. Like every feature, they see nothing
    /// after the day.
    public static func inputs(_ f: FeatureVector, account: AccountRecord, calculator: FeatureCalculator, customer c: Int,
                              asOf: CalendarDay) -> [Double] {
        var x = vector(f, account: account)
        let agg = calculator.data.aggregates.customers[c]
        let t = Int(asOf.number)
        let seats = Double(account.seatsOrOne)
        // Days the customer could have been active: from its start (or the
        // first day of history) up to the as-of day, at most 365 of them.
        let start = max(Int(account.subscriptionStart.number), calculator.data.earliestActivityDay ?? Int(account.subscriptionStart.number))
        /// Weighted mean events per day over [max(start, t - span + 1), t].
        func meanDaily(_ weights: [Double], span: Int) -> Double {
            let from = max(start, t - span + 1)
            guard from <= t else { return .nan }
            var norm = 0.0
            for k in 0...(t - from) { norm += weights[k] }
            return agg.weightedEvents(from: from, to: t, weights: weights) / norm
        }
        let recent = meanDaily(decay14, span: 120)
        let baseline = meanDaily(flat, span: 365)
        x.append(recent / seats)
        x.append(meanDaily(decay30, span: 240) / seats)
        x.append(baseline / seats)
        x.append(baseline > 0 ? recent / baseline : .nan)
        // The amount of a saving says how well the product works for the
        // customer; how many were recorded says more about bookkeeping.
        let savingsRecords = agg.savings.count(from: t - 364, to: t)
        x.append(savingsRecords > 0 ? Double(agg.savings.total(from: t - 364, to: t)) / 10_000 / Double(savingsRecords) / seats : .nan)
        x.append(Double(agg.distinctNames(.user, from: t - 13, to: t)) / seats)
        x.append(account.featuresAvailable.map { min(1, Double(agg.distinctNames(.feature, from: t - 89, to: t)) / Double(max(1, $0))) } ?? .nan)
        let featureUse30 = agg.counts.count(.featureUse, from: t - 29, to: t)
        var events30 = agg.logins.count(from: t - 29, to: t) + agg.productEvents(from: t - 29, to: t)
        for kind in EventCounts.Kind.allCases { events30 += agg.counts.count(kind, from: t - 29, to: t) }
        x.append(events30 > 0 ? Double(featureUse30) / Double(events30) : .nan)
        let from90 = max(start, t - 89)
        x.append(from90 <= t ? Double(agg.activeDayCount(from: from90, to: t)) / Double(t - from90 + 1) : .nan)
        return x
    }

    static func vector(_ f: FeatureVector, account: AccountRecord) -> [Double] {
        let seats = Double(account.seatsOrOne)
        return [
            f.daysSinceLastLogin.map(Double.init) ?? .nan, Double(f.monthlyActiveUsers), f.dailyActiveUsers,
            f.featureAdoptionRate ?? .nan, Double(f.supportTickets30d), f.avgFirstResponseHours ?? .nan, f.uptimePercentage ?? .nan,
            f.costSavingsAchieved, f.trainingCompletionRate ?? .nan, Double(f.apiCalls30d), Double(f.workOrders30d),
            f.monthsSinceSubscriptionStart,
            account.seats.map(Double.init) ?? .nan, Double(f.logins30d), Double(f.monthlyActiveUsers) / seats, f.dailyActiveUsers / seats,
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
        case let n where n.hasSuffix("_per_seat") || n.hasPrefix("events_") || n.hasPrefix("feature_"): return .number(v, places: 3)
        default: return .number(v, places: 0)
        }
    }
}
