import Foundation

/// The four component scores, each 0-100; nil for a component none of
/// whose parts applies (it drops out of the health score).
public struct ComponentScores: Sendable, Equatable {
    public var usage: Double?
    public var engagement: Double?
    public var satisfaction: Double?
    public var valueRealization: Double?

    public init(usage: Double?, engagement: Double?, satisfaction: Double?, valueRealization: Double?) {
        self.usage = usage
        self.engagement = engagement
        self.satisfaction = satisfaction
        self.valueRealization = valueRealization
    }

    public subscript(_ c: ScoreComponent) -> Double? {
        switch c {
        case .usage: return usage
        case .engagement: return engagement
        case .satisfaction: return satisfaction
        case .valueRealization: return valueRealization
        }
    }
}

/// A customer's scored health as of a day: the content of one scores.jsonl line.
public struct CustomerScore: Sendable {
    public var customerID: String
    public var asOf: CalendarDay
    public var healthScore: Double
    public var status: HealthStatus
    public var components: ComponentScores
    public var features: FeatureVector
    /// Per component; nil for a component that dropped out.
    public var trends: (usage: Trend?, engagement: Trend?, satisfaction: Trend?, valueRealization: Trend?)
    public var riskFactors: [String]
    public var recommendations: [String]
    public var priority: InterventionPriority
    /// Set by the churn model when the pipeline has one.
    public var churnProbability: Double?
    /// The features that moved this customer's churn log-odds most, strongest first.
    public var reasonCodes: [ReasonCode] = []
}

/// One feature's push on a customer's churn log-odds, with its value.
public struct ReasonCode: Sendable, Equatable {
    public var feature: String
    public var value: Double
    public var contribution: Double
    /// The input and its value in words: "API calls in 28 days: 14, down from 40 a month over 90 days".
    public var description: String

    public init(feature: String, value: Double, contribution: Double, description: String) {
        self.feature = feature
        self.value = value
        self.contribution = contribution
        self.description = description
    }
}

/// Turns feature vectors into component scores, the overall score, status,
/// trends, risk factors, recommendations and intervention priority, by the
/// rules of docs/scoring.md. Pure functions of their inputs and the settings.
public struct HealthScorer: Sendable {
    public let settings: ScoringSettings

    public init(settings: ScoringSettings) { self.settings = settings }

    /// Linear from 0 at `bad` to 1 at `good` (either direction), clamped.
    @inline(__always)
    static func ramp(_ value: Double, good: Double, bad: Double) -> Double {
        if good == bad { return value >= good ? 1 : 0 }
        return min(1, max(0, (value - bad) / (good - bad)))
    }

    /// The points a part can earn (its maximum) and those this customer earned.
    func points(_ part: ScorePart, _ f: FeatureVector, account: AccountRecord) -> (max: Double, earned: Double) {
        let s = settings
        let seats = Double(account.seatsOrOne)
        switch part {
        case .recency:
            var recency = 0.0
            if let d = f.daysSinceLastLogin {
                if d <= s.recencyDays[0] {
                    recency = s.recencyPoints[0]
                } else if d <= s.recencyDays[1] {
                    recency = s.recencyPoints[1]
                } else if d <= s.recencyDays[2] {
                    recency = s.recencyPoints[2]
                }
            }
            return (s.recencyPoints.max()!, recency)
        case .activity:
            return (s.activityCap, min(s.activityCap, s.activityPerMonthlyUser * Double(f.monthlyActiveUsers)))
        case .dailyUsers: return (s.engagementCap, min(s.engagementCap, s.engagementPerDailyUser * f.dailyActiveUsers))
        case .adoption:
            return (s.adoptionPoints, s.adoptionPoints * min(1, (f.featureAdoptionRate ?? 0) / s.adoptionTarget))
        case .api: return (s.apiPoints, s.apiPoints * min(1, Double(f.apiCalls30d) / (s.apiCallsPerSeatTarget * seats)))
        case .mobile:
            return (
                s.mobilePoints,
                s.mobilePoints * min(1, Double(f.mobileSessions30d) / (s.mobileSessionsPerSeatTarget * seats))
            )
        case .training: return (s.trainingPoints, s.trainingPoints * (f.trainingCompletionRate ?? 1))
        case .tickets:
            let rate = Double(f.supportTickets30d) / seats
            return (
                s.ticketPoints,
                s.ticketPoints * HealthScorer.ramp(rate, good: s.ticketsPerSeatGood, bad: s.ticketsPerSeatBad)
            )
        case .response:
            return (
                s.responsePoints,
                s.responsePoints
                    * (f.avgFirstResponseHours.map {
                        HealthScorer.ramp($0, good: s.responseHoursGood, bad: s.responseHoursBad)
                    } ?? 1)
            )
        case .uptime:
            return (
                s.uptimePoints,
                s.uptimePoints
                    * (f.uptimePercentage.map { HealthScorer.ramp($0, good: s.uptimeGood, bad: s.uptimeBad) } ?? 1)
            )
        case .roi:
            // A free plan has no cost to return: any savings earn the ROI points.
            let earned =
                roi(f, account: account).map { s.roiPoints * min(1, max(0, $0 / s.roiTarget)) }
                ?? (f.costSavingsAchieved > 0 ? s.roiPoints : 0)
            return (s.roiPoints, earned)
        case .workOrders:
            return (
                s.workOrderPoints,
                s.workOrderPoints * min(1, Double(f.workOrders30d) / (s.workOrdersPerSeatTarget * seats))
            )
        case .timeToValue:
            var ttv = 0.0
            if let days = f.daysToFirstValue {
                ttv =
                    s.timeToValuePoints
                    * HealthScorer.ramp(Double(days), good: s.timeToValueGoodDays, bad: s.timeToValueBadDays)
            }
            return (s.timeToValuePoints, ttv)
        }
    }

    /// Each component from its applicable parts. A part that does not apply
    /// gives its points to the others of its component, in proportion to
    /// theirs; a component none of whose parts applies is nil.
    public func components(_ f: FeatureVector, account: AccountRecord, parts: ScorePartMask) -> ComponentScores {
        var result = ComponentScores(usage: nil, engagement: nil, satisfaction: nil, valueRealization: nil)
        for c in ScoreComponent.ordered {
            var earned = 0.0
            var applicableMax = 0.0
            var allMax = 0.0
            var all = true
            for p in c.parts {
                let (maxPoints, got) = points(p, f, account: account)
                allMax += maxPoints
                if parts.contains(p) {
                    earned += got
                    applicableMax += maxPoints
                } else {
                    all = false
                }
            }
            guard applicableMax > 0 else { continue }
            // With every part applicable the sum is the seed's formula, untouched.
            let value = HealthScorer.clamp(all ? earned : earned * allMax / applicableMax)
            switch c {
            case .usage: result.usage = value
            case .engagement: result.engagement = value
            case .satisfaction: result.satisfaction = value
            case .valueRealization: result.valueRealization = value
            }
        }
        return result
    }

    /// The seed's scoring with every part applicable.
    public func components(_ f: FeatureVector, account: AccountRecord) -> ComponentScores {
        components(f, account: account, parts: ScorePartMask(Set(ScorePart.allCases)))
    }

    static func clamp(_ v: Double) -> Double { min(100, max(0, v)) }

    /// Savings to date against what the subscription has cost so far (at
    /// least one month of MRR); nil for a free plan, where it is undefined.
    public func roi(_ f: FeatureVector, account: AccountRecord) -> Double? {
        guard let mrr = account.mrr else { return nil }
        let cost = mrr * max(1, f.monthsSinceSubscriptionStart)
        return cost > 0 ? f.costSavingsAchieved / cost : nil
    }

    public func weight(_ c: ScoreComponent) -> Double {
        switch c {
        case .usage: return settings.weightUsage
        case .engagement: return settings.weightEngagement
        case .satisfaction: return settings.weightSatisfaction
        case .valueRealization: return settings.weightValue
        }
    }

    /// The weighted mean of the components present; a component that
    /// dropped out leaves its weight to the others, in proportion to theirs.
    public func overall(_ c: ComponentScores) -> Double {
        let raw: Double
        if let u = c.usage, let e = c.engagement, let s = c.satisfaction, let v = c.valueRealization {
            raw =
                settings.weightUsage * u + settings.weightEngagement * e + settings.weightSatisfaction * s + settings
                .weightValue * v
        } else {
            var sum = 0.0
            var weights = 0.0
            for k in ScoreComponent.ordered {
                if let v = c[k] {
                    sum += weight(k) * v
                    weights += weight(k)
                }
            }
            raw = weights > 0 ? sum / weights : 0
        }
        // Round once, here, so status and every output read the same number.
        return (raw * 10).rounded() / 10
    }

    public func status(_ score: Double) -> HealthStatus {
        if score >= settings.excellentFrom { return .excellent }
        if score >= settings.goodFrom { return .good }
        if score >= settings.warningFrom { return .warning }
        if score >= settings.criticalFrom { return .critical }
        return .churnRisk
    }

    public func trend(now: Double?, before: Double?) -> Trend? {
        guard let now, let before else { return nil }
        let delta = now - before
        if delta > settings.trendThreshold { return .increasing }
        if delta < -settings.trendThreshold { return .decreasing }
        return .stable
    }

    public func priority(health: Double, churnProbability p: Double?) -> InterventionPriority {
        let s = settings
        if (p ?? 0) > s.criticalProbability || health < s.criticalHealthBelow { return .critical }
        if (p ?? 0) > s.highProbability || health < s.highHealthBelow { return .high }
        if (p ?? 0) > s.mediumProbability || health < s.mediumHealthBelow { return .medium }
        return .low
    }

    /// Scores one customer. `previous` is the vector as of T minus the trend
    /// window, scored with the same parts, so that data arriving in between
    /// cannot pass for a trend.
    public func score(
        customerID: String, asOf: CalendarDay, features f: FeatureVector, previous: FeatureVector,
        account: AccountRecord, applicability: ScoreApplicability = .all, churnProbability: Double? = nil,
        reasonCodes: [ReasonCode] = []
    ) -> CustomerScore {
        let parts = applicability.parts(for: account)
        let now = components(f, account: account, parts: parts)
        let before = components(previous, account: account, parts: parts)
        let health = overall(now)
        let trends = (
            trend(now: now.usage, before: before.usage),
            trend(now: now.engagement, before: before.engagement),
            trend(now: now.satisfaction, before: before.satisfaction),
            trend(now: now.valueRealization, before: before.valueRealization)
        )
        let priority = self.priority(health: health, churnProbability: churnProbability)
        var score = CustomerScore(
            customerID: customerID, asOf: asOf, healthScore: health, status: status(health), components: now,
            features: f, trends: trends, riskFactors: [], recommendations: [], priority: priority,
            churnProbability: churnProbability, reasonCodes: reasonCodes)
        let (risks, recs) = advice(f, account: account, score: score, parts: parts)
        score.riskFactors = risks
        score.recommendations = recs
        return score
    }

    /// Risk factors and recommendations, by the rules of docs/scoring.md, in
    /// a fixed order. A rule about a part that does not apply never fires.
    func advice(_ f: FeatureVector, account: AccountRecord, score: CustomerScore, parts: ScorePartMask) -> (
        [String], [String]
    ) {
        let s = settings
        var risks: [String] = []
        var recs: [String] = []
        if parts.contains(.recency) {
            if let d = f.daysSinceLastLogin {
                if d > s.riskNoLoginDays { risks.append("No login in \(d) days") }
            } else {
                risks.append("No login on record")
            }
        }
        if let seats = account.seats {
            let utilisation = Double(f.monthlyActiveUsers) / Double(max(1, seats))
            if utilisation < s.riskSeatUtilisationBelow {
                risks.append("\(f.monthlyActiveUsers) of \(seats) seats active in \(s.windowDays) days")
            }
        }
        if score.trends.usage == .decreasing { risks.append("Usage decreasing over \(s.trendWindowDays) days") }
        let adoption = f.featureAdoptionRate ?? 0
        let lowAdoption = parts.contains(.adoption) && adoption < s.riskAdoptionBelow
        if lowAdoption { risks.append("Feature adoption \(Int((adoption * 100).rounded()))% of plan") }
        let manyTickets = parts.contains(.tickets) && f.supportTickets30d >= s.riskTicketsAtLeast
        if manyTickets { risks.append("\(f.supportTickets30d) support tickets in \(s.windowDays) days") }
        let slowResponse = parts.contains(.response) && (f.avgFirstResponseHours ?? 0) > s.riskResponseHoursAbove
        if slowResponse, let h = f.avgFirstResponseHours {
            risks.append("Average first response \(String(format: "%.1f", h)) hours")
        }
        if parts.contains(.uptime), let u = f.uptimePercentage, u < s.riskUptimeBelow {
            // Truncated, not rounded: 98.96 must not read as 99.0 under a rule that fires below 99.
            risks.append("Uptime \(String(format: "%.1f", (u * 10).rounded(.down) / 10))% in \(s.windowDays) days")
        }
        let lowTraining = parts.contains(.training) && (f.trainingCompletionRate ?? 1) < s.riskTrainingBelow
        if lowTraining, let t = f.trainingCompletionRate {
            risks.append("Training \(Int((t * 100).rounded()))% complete")
        }
        let roiValue = roi(f, account: account)
        let lowROI =
            parts.contains(.roi)
            && (roiValue.map { f.monthsSinceSubscriptionStart >= s.riskRoiAfterMonths && $0 < s.riskRoiBelow } ?? false)
        if lowROI, let r = roiValue {
            risks.append(
                "Savings \(String(format: "%.1f", (r * 10).rounded(.down) / 10))x subscription cost after \(Int(f.monthsSinceSubscriptionStart)) months"
            )
        }

        if let p = score.churnProbability, ChurnRisk(probability: p) == .high || ChurnRisk(probability: p) == .critical
        {
            // The model's strongest reasons, in the words of the features they come from.
            let drivers = score.reasonCodes.filter { $0.contribution > 0 }.prefix(2).map(\.description)
            let why = drivers.isEmpty ? "" : ", driven by " + drivers.joined(separator: "; ")
            risks.append("Churn probability \(Int((p * 100).rounded()))%\(why)")
        }
        if score.priority == .critical || score.priority == .high {
            recs.append("Intervention: schedule a call with the account owner this week to address the risk factors")
        }
        if lowAdoption {
            recs.append("Advanced feature training: walk the team through the plan features they do not use yet")
        }
        if manyTickets || slowResponse {
            recs.append("Dedicated support: assign a named support engineer and review open tickets")
        }
        if lowROI {
            recs.append("ROI review: quantify the savings achieved against the subscription cost with the customer")
        }
        if lowTraining { recs.append("Training enrolment: enrol users in the remaining training modules") }
        if score.healthScore >= s.ebrHealthFrom {
            recs.append("Executive business review: present results and discuss expansion")
        }
        return (risks, recs)
    }
}
