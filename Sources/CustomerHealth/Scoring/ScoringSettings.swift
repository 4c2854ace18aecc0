import Foundation

/// Every weight and threshold of the health score, with the documented
/// defaults (docs/scoring.md explains each). The pipeline file's `scoring:`
/// section overrides any of them.
public struct ScoringSettings: Sendable, Equatable {
    // Overall weights.
    public var weightUsage = 0.30
    public var weightEngagement = 0.25
    public var weightSatisfaction = 0.25
    public var weightValue = 0.20

    // Status thresholds (lower bounds).
    public var excellentFrom = 85.0
    public var goodFrom = 70.0
    public var warningFrom = 50.0
    public var criticalFrom = 25.0

    // Windows.
    public var windowDays = 30
    public var dauWindowDays = 7
    public var responseWindowDays = 90

    // Usage: recency points and caps.
    public var recencyPoints = [40.0, 30.0, 20.0]
    public var recencyDays = [1, 7, 30]
    public var activityPerMonthlyUser = 2.0
    public var activityCap = 40.0
    public var engagementPerDailyUser = 5.0
    public var engagementCap = 20.0

    // Engagement.
    public var adoptionPoints = 40.0
    public var adoptionTarget = 0.6
    public var apiPoints = 20.0
    public var apiCallsPerSeatTarget = 20.0
    public var mobilePoints = 15.0
    public var mobileSessionsPerSeatTarget = 4.0
    public var trainingPoints = 25.0

    // Satisfaction.
    public var ticketPoints = 35.0
    public var ticketsPerSeatGood = 0.05
    public var ticketsPerSeatBad = 0.5
    public var responsePoints = 30.0
    public var responseHoursGood = 4.0
    public var responseHoursBad = 48.0
    public var uptimePoints = 35.0
    public var uptimeGood = 99.9
    public var uptimeBad = 95.0

    // Value realization.
    public var roiPoints = 50.0
    public var roiTarget = 3.0
    public var workOrderPoints = 30.0
    public var workOrdersPerSeatTarget = 2.0
    public var timeToValuePoints = 20.0
    public var timeToValueGoodDays = 14.0
    public var timeToValueBadDays = 90.0

    // Trends.
    public var trendWindowDays = 30
    public var trendThreshold = 5.0

    // Risk factor rules.
    public var riskNoLoginDays = 14
    public var riskAdoptionBelow = 0.3
    public var riskTicketsAtLeast = 5
    public var riskUptimeBelow = 99.0
    public var riskTrainingBelow = 0.5
    public var riskResponseHoursAbove = 24.0
    public var riskSeatUtilisationBelow = 0.3
    public var riskRoiBelow = 1.0
    public var riskRoiAfterMonths = 6.0

    // Recommendations.
    public var ebrHealthFrom = 85.0

    // Intervention priority: churn probability above, or health below.
    public var criticalProbability = 0.7
    public var criticalHealthBelow = 25.0
    public var highProbability = 0.5
    public var highHealthBelow = 50.0
    public var mediumProbability = 0.3
    public var mediumHealthBelow = 70.0

    public var atRiskPriorities: [InterventionPriority] = [.critical, .high]

    /// `scoring.parts`: parts forced on or off (the rest are `auto`).
    public var parts: [ScorePart: PartSetting] = [:]

    /// Per-seat volume targets left to the data (`auto`, the default): each
    /// is set from the portfolio on the as-of day by `resolvingTargets`; the
    /// number in its field until then is the seed's (the field-service product's).
    public var autoTargets: Set<VolumeTarget> = Set(VolumeTarget.allCases)

    public init() {}

    static func load(_ node: ConfigNode) throws -> ScoringSettings {
        var s = ScoringSettings()
        let weights = try node.child("weights")
        s.weightUsage = try weights.double("usage", default: s.weightUsage, range: 0...1)
        s.weightEngagement = try weights.double("engagement", default: s.weightEngagement, range: 0...1)
        s.weightSatisfaction = try weights.double("satisfaction", default: s.weightSatisfaction, range: 0...1)
        s.weightValue = try weights.double("value_realization", default: s.weightValue, range: 0...1)
        let sum = s.weightUsage + s.weightEngagement + s.weightSatisfaction + s.weightValue
        if abs(sum - 1) > 1e-9 {
            throw weights.failure("the four weights must add up to 1, they add up to \(sum)")
        }
        let status = try node.child("status")
        s.excellentFrom = try status.double("excellent", default: s.excellentFrom, range: 0...100)
        s.goodFrom = try status.double("good", default: s.goodFrom, range: 0...100)
        s.warningFrom = try status.double("warning", default: s.warningFrom, range: 0...100)
        s.criticalFrom = try status.double("critical", default: s.criticalFrom, range: 0...100)
        guard s.excellentFrom > s.goodFrom, s.goodFrom > s.warningFrom, s.warningFrom > s.criticalFrom else {
            throw status.failure("thresholds must decrease: excellent > good > warning > critical")
        }
        let windows = try node.child("windows")
        s.windowDays = try windows.int("activity_days", default: s.windowDays, range: 1...3650)
        s.dauWindowDays = try windows.int("daily_users_days", default: s.dauWindowDays, range: 1...365)
        s.responseWindowDays = try windows.int("response_time_days", default: s.responseWindowDays, range: 1...3650)

        let usage = try node.child("usage")
        s.recencyPoints = [
            try usage.double("recency_points_1d", default: 40, range: 0...100),
            try usage.double("recency_points_7d", default: 30, range: 0...100),
            try usage.double("recency_points_30d", default: 20, range: 0...100),
        ]
        s.activityPerMonthlyUser = try usage.double(
            "points_per_monthly_user", default: s.activityPerMonthlyUser, range: 0...100)
        s.activityCap = try usage.double("activity_cap", default: s.activityCap, range: 0...100)
        s.engagementPerDailyUser = try usage.double(
            "points_per_daily_user", default: s.engagementPerDailyUser, range: 0...100)
        s.engagementCap = try usage.double("daily_users_cap", default: s.engagementCap, range: 0...100)

        let e = try node.child("engagement")
        s.adoptionPoints = try e.double("adoption_points", default: s.adoptionPoints, range: 0...100)
        s.adoptionTarget = try e.double("adoption_target", default: s.adoptionTarget, range: 0.01...1)
        s.apiPoints = try e.double("api_points", default: s.apiPoints, range: 0...100)
        try s.loadTarget(.apiCallsPerSeat, e, "api_calls_per_seat_target")
        s.mobilePoints = try e.double("mobile_points", default: s.mobilePoints, range: 0...100)
        try s.loadTarget(.mobileSessionsPerSeat, e, "mobile_sessions_per_seat_target")
        s.trainingPoints = try e.double("training_points", default: s.trainingPoints, range: 0...100)
        try checkTotal(e, [s.adoptionPoints, s.apiPoints, s.mobilePoints, s.trainingPoints])

        let sat = try node.child("satisfaction")
        s.ticketPoints = try sat.double("ticket_points", default: s.ticketPoints, range: 0...100)
        s.ticketsPerSeatGood = try sat.double("tickets_per_seat_good", default: s.ticketsPerSeatGood, range: 0...1e6)
        s.ticketsPerSeatBad = try sat.double("tickets_per_seat_bad", default: s.ticketsPerSeatBad, range: 0...1e6)
        s.responsePoints = try sat.double("response_points", default: s.responsePoints, range: 0...100)
        s.responseHoursGood = try sat.double("response_hours_good", default: s.responseHoursGood, range: 0...1e6)
        s.responseHoursBad = try sat.double("response_hours_bad", default: s.responseHoursBad, range: 0...1e6)
        s.uptimePoints = try sat.double("uptime_points", default: s.uptimePoints, range: 0...100)
        s.uptimeGood = try sat.double("uptime_good", default: s.uptimeGood, range: 0...100)
        s.uptimeBad = try sat.double("uptime_bad", default: s.uptimeBad, range: 0...100)
        try checkTotal(sat, [s.ticketPoints, s.responsePoints, s.uptimePoints])
        guard s.ticketsPerSeatBad > s.ticketsPerSeatGood, s.responseHoursBad > s.responseHoursGood,
            s.uptimeGood > s.uptimeBad
        else {
            throw sat.failure("each *_bad threshold must be worse than its *_good threshold")
        }

        let v = try node.child("value_realization")
        s.roiPoints = try v.double("roi_points", default: s.roiPoints, range: 0...100)
        s.roiTarget = try v.double("roi_target", default: s.roiTarget, range: 0.001...1e6)
        s.workOrderPoints = try v.double("work_order_points", default: s.workOrderPoints, range: 0...100)
        try s.loadTarget(.workOrdersPerSeat, v, "work_orders_per_seat_target")
        s.timeToValuePoints = try v.double("time_to_value_points", default: s.timeToValuePoints, range: 0...100)
        s.timeToValueGoodDays = try v.double(
            "time_to_value_good_days", default: s.timeToValueGoodDays, range: 0...36500)
        s.timeToValueBadDays = try v.double("time_to_value_bad_days", default: s.timeToValueBadDays, range: 0...36500)
        try checkTotal(v, [s.roiPoints, s.workOrderPoints, s.timeToValuePoints])
        guard s.timeToValueBadDays > s.timeToValueGoodDays else {
            throw v.failure("time_to_value_bad_days must be greater than time_to_value_good_days")
        }

        let t = try node.child("trends")
        s.trendWindowDays = try t.int("window_days", default: s.trendWindowDays, range: 1...3650)
        s.trendThreshold = try t.double("threshold", default: s.trendThreshold, range: 0...100)

        let r = try node.child("risk_factors")
        s.riskNoLoginDays = try r.int("no_login_days", default: s.riskNoLoginDays, range: 0...3650)
        s.riskAdoptionBelow = try r.double("adoption_below", default: s.riskAdoptionBelow, range: 0...1)
        s.riskTicketsAtLeast = try r.int("tickets_at_least", default: s.riskTicketsAtLeast, range: 1...1_000_000)
        s.riskUptimeBelow = try r.double("uptime_below", default: s.riskUptimeBelow, range: 0...100)
        s.riskTrainingBelow = try r.double("training_below", default: s.riskTrainingBelow, range: 0...1)
        s.riskResponseHoursAbove = try r.double(
            "response_hours_above", default: s.riskResponseHoursAbove, range: 0...1e6)
        s.riskSeatUtilisationBelow = try r.double(
            "seat_utilisation_below", default: s.riskSeatUtilisationBelow, range: 0...1)
        s.riskRoiBelow = try r.double("roi_below", default: s.riskRoiBelow, range: 0...1e6)
        s.riskRoiAfterMonths = try r.double("roi_after_months", default: s.riskRoiAfterMonths, range: 0...1200)

        let rec = try node.child("recommendations")
        s.ebrHealthFrom = try rec.double("executive_review_health_from", default: s.ebrHealthFrom, range: 0...100)

        let p = try node.child("priority")
        s.criticalProbability = try p.double("critical_probability_above", default: s.criticalProbability, range: 0...1)
        s.criticalHealthBelow = try p.double("critical_health_below", default: s.criticalHealthBelow, range: 0...100)
        s.highProbability = try p.double("high_probability_above", default: s.highProbability, range: 0...1)
        s.highHealthBelow = try p.double("high_health_below", default: s.highHealthBelow, range: 0...100)
        s.mediumProbability = try p.double("medium_probability_above", default: s.mediumProbability, range: 0...1)
        s.mediumHealthBelow = try p.double("medium_health_below", default: s.mediumHealthBelow, range: 0...100)
        if let list = try p.stringList("at_risk") {
            s.atRiskPriorities = try list.map { name in
                guard let v = InterventionPriority(rawValue: name) else {
                    throw p.failure(
                        "unknown priority \"\(name)\"; expected critical, high, medium or low", key: "at_risk")
                }
                return v
            }
        }
        let parts = try node.child("parts")
        for key in parts.keys() {
            guard let part = ScorePart.allCases.first(where: { $0.key == key }) else {
                throw parts.failure(
                    "unknown score part \"\(key)\"; the parts are \(ScorePart.allCases.map(\.key).joined(separator: ", "))",
                    key: key)
            }
            let value = try parts.string(key, default: "auto")
            guard let setting = PartSetting(rawValue: value) else {
                throw parts.failure("expected auto, on or off, found \"\(value)\"", key: key)
            }
            s.parts[part] = setting
        }
        return s
    }

    /// A per-seat target: `auto` (the default) or a number.
    private mutating func loadTarget(_ target: VolumeTarget, _ node: ConfigNode, _ key: String) throws {
        if let text = try node.string(key), text.trimmingCharacters(in: .whitespaces) != "auto" {
            self[target] = try node.double(key, default: self[target], range: 0.001...1e9)
            autoTargets.remove(target)
        }
    }

    public subscript(_ target: VolumeTarget) -> Double {
        get {
            switch target {
            case .apiCallsPerSeat: return apiCallsPerSeatTarget
            case .mobileSessionsPerSeat: return mobileSessionsPerSeatTarget
            case .workOrdersPerSeat: return workOrdersPerSeatTarget
            }
        }
        set {
            switch target {
            case .apiCallsPerSeat: apiCallsPerSeatTarget = newValue
            case .mobileSessionsPerSeat: mobileSessionsPerSeatTarget = newValue
            case .workOrdersPerSeat: workOrdersPerSeatTarget = newValue
            }
        }
    }

    /// The settings with each `auto` target set from the active customers'
    /// features on the as-of day: the 75th percentile of the per-seat rate
    /// among customers with known seats who used it at all, rounded to two
    /// significant figures (so that a trickle of new rows seldom moves it).
    /// Nobody used it: the seed's number stays (and the part earns nothing).
    public func resolvingTargets(from snapshots: [CustomerSnapshot]) -> ScoringSettings {
        var s = self
        for target in VolumeTarget.allCases where autoTargets.contains(target) {
            var rates: [Double] = []
            for snap in snapshots where snap.active {
                guard let f = snap.features, let seats = snap.account.seats else { continue }
                let count = target.count(f)
                if count > 0 { rates.append(Double(count) / Double(max(1, seats))) }
            }
            guard !rates.isEmpty else { continue }
            rates.sort()
            let p75 = rates[min(rates.count - 1, (rates.count * 3) / 4)]
            s[target] = ScoringSettings.twoSignificantFigures(p75)
        }
        return s
    }

    static func twoSignificantFigures(_ v: Double) -> Double {
        guard v > 0 else { return v }
        let scale = pow(10, 1 - floor(log10(v)))
        return (v * scale).rounded() / scale
    }

    /// The targets as used, for the manifest: each with whether it came from the data.
    func targetsJSON() -> JSONValue {
        .object(
            VolumeTarget.allCases.map { t in
                (t.key, .object([("value", .number(self[t], places: 6)), ("auto", .bool(autoTargets.contains(t)))]))
            })
    }

    private static func checkTotal(_ node: ConfigNode, _ parts: [Double]) throws {
        let total = parts.reduce(0, +)
        if abs(total - 100) > 1e-9 {
            throw node.failure("the points of this component must add up to 100, they add up to \(total)")
        }
    }
}

/// The per-seat volume targets, which default to `auto`: what counts as a
/// lot of API calls, mobile sessions or work orders depends on the product.
public enum VolumeTarget: String, CaseIterable, Sendable {
    case apiCallsPerSeat, mobileSessionsPerSeat, workOrdersPerSeat

    /// The setting's key, under its component.
    public var key: String {
        switch self {
        case .apiCallsPerSeat: return "engagement.api_calls_per_seat_target"
        case .mobileSessionsPerSeat: return "engagement.mobile_sessions_per_seat_target"
        case .workOrdersPerSeat: return "value_realization.work_orders_per_seat_target"
        }
    }

    func count(_ f: FeatureVector) -> Int {
        switch self {
        case .apiCallsPerSeat: return f.apiCalls30d
        case .mobileSessionsPerSeat: return f.mobileSessions30d
        case .workOrdersPerSeat: return f.workOrders30d
        }
    }
}

public enum InterventionPriority: String, Sendable, CaseIterable, Comparable {
    case critical, high, medium, low

    public var rank: Int { InterventionPriority.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

public enum HealthStatus: String, Sendable, CaseIterable {
    case excellent, good, warning, critical
    case churnRisk = "churn_risk"
}

public enum Trend: String, Sendable {
    case increasing, stable, decreasing
}
