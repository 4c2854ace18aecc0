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
        try settings.read(node, into: &s)
        return s
    }

    static func declared(path: String) -> [DeclaredSection] {
        settings.declared(path: path, defaults: ScoringSettings())
    }

    /// The `scoring:` section, in the order it is read; docs/scoring.md has a table per mapping.
    static var settings: SettingsSection<ScoringSettings> {
        SettingsSection([
            .section("weights", weights, check: checkWeights),
            .section("status", status, check: checkStatus),
            .section("windows", windows),
            .section("usage", usage),
            .section("engagement", engagement) { node, s in
                try checkTotal(node, [s.adoptionPoints, s.apiPoints, s.mobilePoints, s.trainingPoints])
            },
            .section("satisfaction", satisfaction, check: checkSatisfaction),
            .section("value_realization", valueRealization, check: checkValueRealization),
            .section("trends", trends),
            .section("risk_factors", riskFactors),
            .section("recommendations", recommendations),
            .section("priority", priority),
            .custom("parts") { node, s in try s.loadParts(try node.child("parts")) },
        ])
    }

    static var weights: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("usage", \.weightUsage, 0...1),
            .number("engagement", \.weightEngagement, 0...1),
            .number("satisfaction", \.weightSatisfaction, 0...1),
            .number("value_realization", \.weightValue, 0...1),
        ])
    }

    static func checkWeights(_ node: ConfigNode, _ s: ScoringSettings) throws {
        let sum = s.weightUsage + s.weightEngagement + s.weightSatisfaction + s.weightValue
        if abs(sum - 1) > 1e-9 {
            throw node.failure("the four weights must add up to 1, they add up to \(sum)")
        }
    }

    static var status: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("excellent", \.excellentFrom, 0...100),
            .number("good", \.goodFrom, 0...100),
            .number("warning", \.warningFrom, 0...100),
            .number("critical", \.criticalFrom, 0...100),
        ])
    }

    static func checkStatus(_ node: ConfigNode, _ s: ScoringSettings) throws {
        guard s.excellentFrom > s.goodFrom, s.goodFrom > s.warningFrom, s.warningFrom > s.criticalFrom else {
            throw node.failure("thresholds must decrease: excellent > good > warning > critical")
        }
    }

    static var windows: SettingsSection<ScoringSettings> {
        SettingsSection([
            .whole("activity_days", \.windowDays, 1...3650),
            .whole("daily_users_days", \.dauWindowDays, 1...365),
            .whole("response_time_days", \.responseWindowDays, 1...3650),
        ])
    }

    static var usage: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("recency_points_1d", \.recencyPoints[0], 0...100),
            .number("recency_points_7d", \.recencyPoints[1], 0...100),
            .number("recency_points_30d", \.recencyPoints[2], 0...100),
            .number("points_per_monthly_user", \.activityPerMonthlyUser, 0...100),
            .number("activity_cap", \.activityCap, 0...100),
            .number("points_per_daily_user", \.engagementPerDailyUser, 0...100),
            .number("daily_users_cap", \.engagementCap, 0...100),
        ])
    }

    static var engagement: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("adoption_points", \.adoptionPoints, 0...100),
            .number("adoption_target", \.adoptionTarget, 0.01...1),
            .number("api_points", \.apiPoints, 0...100),
            .target("api_calls_per_seat_target", .apiCallsPerSeat),
            .number("mobile_points", \.mobilePoints, 0...100),
            .target("mobile_sessions_per_seat_target", .mobileSessionsPerSeat),
            .number("training_points", \.trainingPoints, 0...100),
        ])
    }

    static var satisfaction: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("ticket_points", \.ticketPoints, 0...100),
            .number("tickets_per_seat_good", \.ticketsPerSeatGood, 0...1e6),
            .number("tickets_per_seat_bad", \.ticketsPerSeatBad, 0...1e6),
            .number("response_points", \.responsePoints, 0...100),
            .number("response_hours_good", \.responseHoursGood, 0...1e6),
            .number("response_hours_bad", \.responseHoursBad, 0...1e6),
            .number("uptime_points", \.uptimePoints, 0...100),
            .number("uptime_good", \.uptimeGood, 0...100),
            .number("uptime_bad", \.uptimeBad, 0...100),
        ])
    }

    static func checkSatisfaction(_ node: ConfigNode, _ s: ScoringSettings) throws {
        try checkTotal(node, [s.ticketPoints, s.responsePoints, s.uptimePoints])
        guard s.ticketsPerSeatBad > s.ticketsPerSeatGood, s.responseHoursBad > s.responseHoursGood,
            s.uptimeGood > s.uptimeBad
        else {
            throw node.failure("each *_bad threshold must be worse than its *_good threshold")
        }
    }

    static var valueRealization: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("roi_points", \.roiPoints, 0...100),
            .number("roi_target", \.roiTarget, 0.001...1e6),
            .number("work_order_points", \.workOrderPoints, 0...100),
            .target("work_orders_per_seat_target", .workOrdersPerSeat),
            .number("time_to_value_points", \.timeToValuePoints, 0...100),
            .number("time_to_value_good_days", \.timeToValueGoodDays, 0...36500),
            .number("time_to_value_bad_days", \.timeToValueBadDays, 0...36500),
        ])
    }

    static func checkValueRealization(_ node: ConfigNode, _ s: ScoringSettings) throws {
        try checkTotal(node, [s.roiPoints, s.workOrderPoints, s.timeToValuePoints])
        guard s.timeToValueBadDays > s.timeToValueGoodDays else {
            throw node.failure("time_to_value_bad_days must be greater than time_to_value_good_days")
        }
    }

    static var trends: SettingsSection<ScoringSettings> {
        SettingsSection([
            .whole("window_days", \.trendWindowDays, 1...3650),
            .number("threshold", \.trendThreshold, 0...100),
        ])
    }

    static var riskFactors: SettingsSection<ScoringSettings> {
        SettingsSection([
            .whole("no_login_days", \.riskNoLoginDays, 0...3650),
            .number("adoption_below", \.riskAdoptionBelow, 0...1),
            .whole("tickets_at_least", \.riskTicketsAtLeast, 1...1_000_000),
            .number("uptime_below", \.riskUptimeBelow, 0...100),
            .number("training_below", \.riskTrainingBelow, 0...1),
            .number("response_hours_above", \.riskResponseHoursAbove, 0...1e6),
            .number("seat_utilisation_below", \.riskSeatUtilisationBelow, 0...1),
            .number("roi_below", \.riskRoiBelow, 0...1e6),
            .number("roi_after_months", \.riskRoiAfterMonths, 0...1200),
        ])
    }

    static var recommendations: SettingsSection<ScoringSettings> {
        SettingsSection([.number("executive_review_health_from", \.ebrHealthFrom, 0...100)])
    }

    static var priority: SettingsSection<ScoringSettings> {
        SettingsSection([
            .number("critical_probability_above", \.criticalProbability, 0...1),
            .number("critical_health_below", \.criticalHealthBelow, 0...100),
            .number("high_probability_above", \.highProbability, 0...1),
            .number("high_health_below", \.highHealthBelow, 0...100),
            .number("medium_probability_above", \.mediumProbability, 0...1),
            .number("medium_health_below", \.mediumHealthBelow, 0...100),
            .custom("at_risk", default: { "[\($0.atRiskPriorities.map(\.rawValue).joined(separator: ", "))]" }) {
                node, s in try s.loadAtRisk(node)
            },
        ])
    }

    /// `priority.at_risk`: the priorities that put a customer on the at-risk list.
    private mutating func loadAtRisk(_ p: ConfigNode) throws {
        guard let list = try p.stringList("at_risk") else { return }
        atRiskPriorities = try list.map { name in
            guard let v = InterventionPriority(rawValue: name) else {
                throw p.failure(
                    "unknown priority \"\(name)\"; expected critical, high, medium or low", key: "at_risk")
            }
            return v
        }
    }

    /// `parts`: each score part forced `on` or `off`, or left `auto`.
    private mutating func loadParts(_ parts: ConfigNode) throws {
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
            self.parts[part] = setting
        }
    }

    /// A per-seat target: `auto` (the default) or a number.
    fileprivate mutating func loadTarget(_ target: VolumeTarget, _ node: ConfigNode, _ key: String) throws {
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

extension Setting where Target == ScoringSettings {
    /// A per-seat target: `auto` (the default) or a number.
    fileprivate static func target(_ key: String, _ target: VolumeTarget) -> Setting {
        .custom(
            key, default: { $0.autoTargets.contains(target) ? "auto" : "\($0[target])" },
            read: { node, s in
                try s.loadTarget(target, node, key)
            })
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
