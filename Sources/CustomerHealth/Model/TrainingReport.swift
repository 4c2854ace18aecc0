import Foundation

/// What training measured on the validation rows.
public struct TrainingReport: Sendable {
    public var trainRows: Int
    public var trainPositives: Int
    public var validationRows: Int
    public var validationPositives: Int
    public var memberAUC: [ChurnEnsemble.Member: Double]
    public var ensembleAUC: Double
    public var ensemblePRAUC: Double
    public var logLoss: Double
    public var brier: Double
    public var calibration: [(low: Double, high: Double, count: Int, meanPredicted: Double, observedRate: Double)]
    public var featureImportance: [(String, Double)]
    public var boostingRounds: Int
    public var seconds: Double
    /// How the members were combined, and why.
    public var combination: CombinationReport
    /// The ensemble's ROC curve (false, true positive rate) and precision-recall
    /// curve (recall, precision) on the validation rows, thinned to at most
    /// 200 points each (`Metrics.rocCurve`).
    public var rocCurve: [(x: Double, y: Double)] = []
    public var prCurve: [(x: Double, y: Double)] = []

    public func json() -> JSONValue {
        .object([
            ("train_rows", .int(trainRows)),
            ("train_positives", .int(trainPositives)),
            ("validation_rows", .int(validationRows)),
            ("validation_positives", .int(validationPositives)),
            ("roc_auc", .number(ensembleAUC, places: 6)),
            ("pr_auc", .number(ensemblePRAUC, places: 6)),
            ("log_loss", .number(logLoss, places: 6)),
            ("brier", .number(brier, places: 6)),
            (
                "member_roc_auc",
                .object(ChurnEnsemble.Member.allCases.map { ($0.rawValue, .number(memberAUC[$0], places: 6)) })
            ),
            ("boosting_rounds", .int(boostingRounds)),
            ("combination", combination.json()),
            (
                "calibration",
                .array(
                    calibration.map { b in
                        .object([
                            ("predicted_from", .number(b.low, places: 2)), ("predicted_to", .number(b.high, places: 2)),
                            ("rows", .int(b.count)),
                            ("mean_predicted", .number(b.meanPredicted, places: 4)),
                            ("observed_rate", .number(b.observedRate, places: 4)),
                        ])
                    })
            ),
            ("feature_importance", .object(featureImportance.map { ($0.0, .number($0.1, places: 6)) })),
        ])
    }

    /// The curves, for the report file only: `json()` is also stored in the
    /// model file, whose bytes (and hash, in every run's manifest) stay as
    /// they were without them.
    public func curvesJSON() -> [(String, JSONValue)] {
        func points(_ curve: [(x: Double, y: Double)]) -> JSONValue {
            .array(curve.map { .array([.number($0.x, places: 6), .number($0.y, places: 6)]) })
        }
        return [("roc_curve", points(rocCurve)), ("pr_curve", points(prCurve))]
    }
}

/// Which members the ensemble combines, chosen on held-out halves of the
/// validation rows (`ChurnTrainer`), with every candidate's figures.
public struct CombinationReport: Sendable {
    public struct Candidate: Sendable {
        public var members: [ChurnEnsemble.Member]
        /// ROC AUC and log loss on the half of the validation rows it was not fitted on.
        public var auc: Double
        public var logLoss: Double
    }

    public var candidates: [Candidate]
    public var chosen: [ChurnEnsemble.Member]
    public var reason: String
    /// False when too few churn events left each half without one.
    public var crossFitted: Bool

    func json() -> JSONValue {
        .object([
            ("chosen", .array(chosen.map { .string($0.rawValue) })),
            ("reason", .string(reason)),
            ("held_out", .bool(crossFitted)),
            (
                "candidates",
                .array(
                    candidates.map { c in
                        .object([
                            ("members", .array(c.members.map { .string($0.rawValue) })),
                            ("held_out_roc_auc", .number(c.auc, places: 6)),
                            ("held_out_log_loss", .number(c.logLoss, places: 6)),
                        ])
                    })
            ),
        ])
    }
}
