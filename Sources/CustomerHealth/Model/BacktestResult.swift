import Foundation

/// What `backtest` measured: an earlier run's health scores and churn
/// probabilities against what happened since, by the pipeline's churn definition.
public struct BacktestResult: Sendable {
    public var asOf: CalendarDay
    /// Customers scored then and active on that day by the churn definition.
    public var customers: Int
    public var churned: Int
    public var unknownCustomers: Int
    /// Customers in the scores that the churn definition does not count as
    /// active on the as-of day (scored by an earlier definition, or the data
    /// changed since): left out of every figure.
    public var notActive: Int
    public var daysObserved: Int
    public var horizonDays: Int
    /// How well the health score ranks churn (lower health, more churn).
    public var healthAUC: Double?
    /// The same for each component (from scores.jsonl) and each part (recomputed from the
    /// run's features.jsonl with the pipeline's current scoring settings), nil where none applied.
    public var componentAUC: [(String, Double?)] = []
    public var partAUC: [(String, Double?)] = []
    public var observedRate: Double
    /// Nil when that run had no churn model.
    public var model: ModelSkill?

    public struct ModelSkill: Sendable {
        public var auc: Double?
        public var prAUC: Double?
        public var logLoss: Double
        public var brier: Double
        public var meanPredicted: Double
        public var calibration: [(low: Double, high: Double, count: Int, meanPredicted: Double, observedRate: Double)]
    }

    /// One row per customer counted: what was predicted and what happened.
    public var rows: [(customerID: String, healthScore: Double, churnProbability: Double?, churned: Bool)]

    /// Writes `rows` as CSV (customer_id, health_score, churn_probability, churned), atomically.
    public func writeLabels(to path: String) throws {
        var csv = "customer_id,health_score,churn_probability,churned\n"
        for row in rows {
            let p = row.churnProbability.map { JSONValue.number($0, places: 4).serialized() } ?? ""
            csv +=
                "\(OutputRenderers.csvCell(row.customerID)),\(JSONValue.number(row.healthScore, places: 1).serialized()),\(p),\(row.churned ? 1 : 0)\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: path)
    }
}

extension BacktestResult.ModelSkill {
    /// The churn model's skill: ranking, probability error and calibration.
    init(probabilities: [Double], labels: [UInt8]) {
        self.init(
            auc: Metrics.rocAUC(scores: probabilities, labels: labels),
            prAUC: Metrics.averagePrecision(scores: probabilities, labels: labels),
            logLoss: Metrics.logLoss(probabilities: probabilities, labels: labels),
            brier: Metrics.brier(probabilities: probabilities, labels: labels),
            meanPredicted: probabilities.reduce(0, +) / Double(max(1, probabilities.count)),
            calibration: Metrics.calibrationTable(probabilities: probabilities, labels: labels))
    }
}

extension BacktestResult {
    /// How well `values` rank churn, lower values for more churn, over the
    /// customers `outcome` holds a label for (nil values left out).
    static func auc(_ values: [(String, Double?)], outcome: [String: UInt8]) -> Double? {
        var s: [Double] = []
        var y: [UInt8] = []
        for (id, v) in values {
            if let v, let label = outcome[id] {
                s.append(-v)
                y.append(label)
            }
        }
        return Metrics.rocAUC(scores: s, labels: y)
    }
}
