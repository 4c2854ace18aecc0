/// The portfolio KPIs of kpis.json (docs/scoring.md defines each).
public struct KPICalculator: Sendable {
    public let settings: KPISettings

    public init(settings: KPISettings) { self.settings = settings }

    /// The KPIs on `asOf`; `parts` (the applicable score parts) is listed with them.
    /// Every sum is exact (ExactSum): the same customers give the same KPIs in
    /// any order, on one machine or merged from shards.
    public func kpis(
        asOf: CalendarDay, snapshots: [CustomerSnapshot], scores: [CustomerScore], atRisk: Int,
        parts: ScoreApplicability? = nil
    ) -> JSONValue {
        // Indexes, not copies: a snapshot is half a kilobyte, and there may be a hundred thousand.
        let active = snapshots.indices.filter { snapshots[$0].active }
        let r30 = retention(snapshots, asOf: asOf, days: 30)
        let r90 = retention(snapshots, asOf: asOf, days: 90)
        let r365 = retention(snapshots, asOf: asOf, days: 365)
        var result: [(String, JSONValue)] = [
            ("as_of", .string(asOf.description)),
            ("overview", overview(asOf: asOf, snapshots: snapshots, active: active, atRisk: atRisk)),
            ("health_metrics", healthMetrics(snapshots: snapshots, active: active, scores: scores)),
            ("financial_metrics", financialMetrics(snapshots: snapshots, active: active, retention30: r30)),
            (
                "retention_rates",
                .object([
                    ("retention_30d", .number(r30, places: 4)),
                    ("retention_90d", .number(r90, places: 4)),
                    ("retention_12m", .number(r365, places: 4)),
                ])
            ),
            (
                "churn_rates",
                .object([
                    ("churn_30d", .number(r30.map { 1 - $0 }, places: 4)),
                    ("churn_90d", .number(r90.map { 1 - $0 }, places: 4)),
                    ("churn_12m", .number(r365.map { 1 - $0 }, places: 4)),
                ])
            ),
        ]
        if let churnMetrics = churnMetrics(scores) { result.append(("churn_metrics", churnMetrics)) }
        if let parts { result.append(("score_parts", parts.json(parts.coverage(of: snapshots)))) }
        return .object(result)
    }

    private func overview(asOf t: CalendarDay, snapshots: [CustomerSnapshot], active: [Int], atRisk: Int) -> JSONValue {
        let monthAgo = t.adding(days: -30)
        let churned30 = snapshots.filter { $0.lifecycle.churns(after: monthAgo, through: t) }.count
        let returned30 = snapshots.filter { $0.lifecycle.returns(after: monthAgo, through: t) }.count
        return .object([
            ("total_customers", .int(snapshots.count)),
            ("active_customers", .int(active.count)),
            ("at_risk_customers", .int(atRisk)),
            ("churned_customers_30d", .int(churned30)),
            ("returned_customers_30d", .int(returned30)),
        ])
    }

    /// The health score's mean and status mix, and NPS.
    private func healthMetrics(snapshots: [CustomerSnapshot], active: [Int], scores: [CustomerScore]) -> JSONValue {
        var distribution: [HealthStatus: Int] = [:]
        var healthSum = ExactSum(scale: 10)
        for s in scores {
            distribution[s.status, default: 0] += 1
            healthSum.add(s.healthScore)
        }
        let avgHealth: Double? = scores.isEmpty ? nil : healthSum.mean(of: scores.count)
        let surveyed = active.compactMap { snapshots[$0].account.nps }
        let promoters = surveyed.filter { $0 >= 9 }.count
        let detractors = surveyed.filter { $0 <= 6 }.count
        let npsScore: Double? = surveyed.isEmpty ? nil : 100 * Double(promoters - detractors) / Double(surveyed.count)
        let npsMean: Double? = surveyed.isEmpty ? nil : Double(surveyed.reduce(0, +)) / Double(surveyed.count)
        return .object([
            ("avg_health_score", .number(avgHealth, places: 1)),
            (
                "health_distribution",
                .object(HealthStatus.allCases.map { ($0.rawValue, .int(distribution[$0] ?? 0)) })
            ),
            ("nps", .number(npsScore, places: 1)),
            ("nps_mean_score", .number(npsMean, places: 2)),
            ("nps_responses", .int(surveyed.count)),
        ])
    }

    /// MRR, ARPA, lifetime value (ARPA over the 30-day churn rate, capped)
    /// and acquisition cost. Customers whose MRR is unknown are left out of
    /// the sums and means.
    private func financialMetrics(snapshots: [CustomerSnapshot], active: [Int], retention30 r30: Double?)
        -> JSONValue
    {
        let paying = active.compactMap { snapshots[$0].account.mrr }
        let mrrSum = ExactSum(money: paying)
        let mrr: Double? = paying.isEmpty && !active.isEmpty ? nil : mrrSum.value
        let arpa: Double? = paying.isEmpty ? nil : mrrSum.mean(of: paying.count)
        var lifetime = settings.maxLifetimeMonths
        if let c = r30.map({ 1 - $0 }), c > 0 { lifetime = min(settings.maxLifetimeMonths, 1 / c) }
        let clv = arpa.map { $0 * lifetime }
        let cacs = snapshots.compactMap(\.account.acquisitionCost)
        let cac: Double? = cacs.isEmpty ? nil : ExactSum(money: cacs).mean(of: cacs.count)
        var ratio: Double? = nil
        if let clv, let cac, cac > 0 { ratio = clv / cac }
        return .object([
            ("monthly_recurring_revenue", .number(mrr, places: 2)),
            ("average_revenue_per_account", .number(arpa, places: 2)),
            ("customer_lifetime_value", .number(clv, places: 2)),
            ("customer_acquisition_cost", .number(cac, places: 2)),
            ("ltv_cac_ratio", .number(ratio, places: 2)),
        ])
    }

    /// The churn model's figures; nil when the run had no model.
    private func churnMetrics(_ scores: [CustomerScore]) -> JSONValue? {
        let probabilities = scores.compactMap(\.churnProbability)
        guard !probabilities.isEmpty else { return nil }
        var bands: [ChurnRisk: Int] = [:]
        var sum = ExactSum(scale: ExactSum.probabilityScale)
        for p in probabilities {
            bands[ChurnRisk(probability: p), default: 0] += 1
            sum.add(p)
        }
        return .object([
            ("avg_churn_probability", .number(sum.mean(of: probabilities.count), places: 4)),
            ("expected_churned_customers_in_horizon", .number(sum.value, places: 1)),
            (
                "churn_risk_distribution",
                .object([ChurnRisk.low, .medium, .high, .critical].map { ($0.rawValue, .int(bands[$0] ?? 0)) })
            ),
        ])
    }

    /// Of the customers active `days` before the as-of day, the share active
    /// on it (one who churned and came back in between counts as kept).
    func retention(_ snapshots: [CustomerSnapshot], asOf t: CalendarDay, days: Int) -> Double? {
        let start = t.adding(days: -days)
        var cohort = 0
        var kept = 0
        for s in snapshots where s.lifecycle.isActive(on: start) {
            cohort += 1
            if s.lifecycle.isActive(on: t) { kept += 1 }
        }
        return cohort > 0 ? Double(kept) / Double(cohort) : nil
    }
}

/// A sum of decimal values in exact integer arithmetic: each value is held
/// in units of 1/scale (scores in tenths, money in the millionths that
/// parsing keeps, probabilities in 10^-12), so the total does not depend on
/// the order of the additions, and partial sums add up to the same total.
struct ExactSum: Sendable {
    static let moneyScale: Int64 = 1_000_000
    static let probabilityScale: Int64 = 1_000_000_000_000

    let scale: Int64
    private(set) var units: Int128 = 0

    init(scale: Int64) { self.scale = scale }

    /// Amounts of money, read with six decimals (FieldParser.double).
    init<S: Sequence>(money values: S) where S.Element == Double {
        self.init(scale: ExactSum.moneyScale)
        for v in values { add(v) }
    }

    /// Adds `value` rounded to the scale's units (values past 2^63 units are held at the limit).
    mutating func add(_ value: Double) {
        let scaled = (value * Double(scale)).rounded()
        guard scaled.isFinite else { return }
        units += Int128(max(-9.2e18, min(9.2e18, scaled)))
    }

    mutating func add(_ other: ExactSum) {
        precondition(other.scale == scale)
        units += other.units
    }

    /// The total as a Double: the exact integer total, rounded once.
    var value: Double { Double(units) / Double(scale) }

    func mean(of count: Int) -> Double { Double(units) / Double(scale) / Double(count) }
}
