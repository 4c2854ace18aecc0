import Dispatch
import Foundation

/// The churn model: members (gradient-boosted trees, a random forest, a
/// logistic regression), each giving a log-odds margin, combined by a
/// stacking logistic regression whose coefficients are the member weights
/// and the Platt calibration in one: the calibrated log-odds is intercept +
/// sum(weight_m * margin_m). Every piece is additive, so each prediction
/// splits exactly into per-feature contributions. How the combination is
/// chosen: `ChurnTrainer`.
public struct ChurnEnsemble: Sendable {
    public static let schemaVersion = 1

    public enum Member: String, Sendable, CaseIterable {
        case gradientBoosting = "gradient_boosting"
        case randomForest = "random_forest"
        case logisticRegression = "logistic_regression"
    }

    public var featureNames: [String]
    public var binner: FeatureBinner
    /// One per member kind, in `Member.allCases` order.
    public var members: [any EnsembleMember]
    /// Stacking coefficients on the members' margins (0 for a member left out).
    public var weights: [Member: Double]
    public var intercept: Double

    public init(
        featureNames: [String], binner: FeatureBinner, members: [any EnsembleMember], weights: [Member: Double],
        intercept: Double
    ) {
        self.featureNames = featureNames
        self.binner = binner
        self.members = members
        self.weights = weights
        self.intercept = intercept
    }

    public func member(_ kind: Member) -> (any EnsembleMember)? { members.first { $0.kind == kind } }

    public func memberMargins(_ x: UnsafePointer<Double>) -> [Member: Double] {
        Dictionary(uniqueKeysWithValues: members.map { ($0.kind, $0.margin(x)) })
    }

    /// The calibrated log-odds of churn.
    public func logit(_ x: UnsafePointer<Double>) -> Double {
        var z = intercept
        for m in members { if let w = weights[m.kind], w != 0 { z += w * m.margin(x) } }
        return z
    }

    /// The calibrated log-odds from the members' margins (the same sum as `logit(x)`).
    func logit(margins: [Member: Double]) -> Double {
        var z = intercept
        for m in members { if let w = weights[m.kind], w != 0 { z += w * (margins[m.kind] ?? 0) } }
        return z
    }

    public func probability(_ x: [Double]) -> Double {
        x.withUnsafeBufferPointer { Metrics.sigmoid(logit($0.baseAddress!)) }
    }

    /// Per-feature contributions to the calibrated log-odds, and the bias:
    /// bias + sum(contributions) == logit(x), exactly up to rounding.
    public func contributions(_ x: [Double]) -> (bias: Double, phi: [Double]) {
        var phi = [Double](repeating: 0, count: featureNames.count)
        var bias = intercept
        x.withUnsafeBufferPointer { xp in
            phi.withUnsafeMutableBufferPointer { pp in
                for m in members {
                    if let w = weights[m.kind], w != 0 {
                        bias += m.contributions(xp.baseAddress!, into: pp.baseAddress!, scale: w)
                    }
                }
            }
        }
        return (bias, phi)
    }

    /// Scores many rows (row-major) in parallel; deterministic whatever the thread count.
    public func probabilities(rows: [Double], featureCount: Int, threads: Int) -> [Double] {
        let compiled = CompiledEnsemble(self)
        let n = rows.count / max(1, featureCount)
        var out = [Double](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            rows.withUnsafeBufferPointer { r in
                let box = UnsafeSendable((o, r))
                ParallelMap.forEachChunk(count: n, threads: threads, minimum: 1024) { range in
                    let (o, r) = box.value
                    let start = range.lowerBound
                    let end = range.upperBound
                    compiled.probabilities(
                        r.baseAddress! + start * featureCount, featureCount: featureCount, count: end - start,
                        into: o.baseAddress! + start)
                }
            }
        }
        return out
    }
}

/// The churn risk bands of the product: low 0-30%, medium 31-60%, high 61-80%, critical 81-100%.
public enum ChurnRisk: String, Sendable {
    case low, medium, high, critical

    public init(probability p: Double) {
        if p <= 0.30 {
            self = .low
        } else if p <= 0.60 {
            self = .medium
        } else if p <= 0.80 {
            self = .high
        } else {
            self = .critical
        }
    }
}

public struct ChurnTrainingParameters: Sendable, Equatable {
    public var gradientBoosting = GradientBoostingParameters()
    public var randomForest = RandomForestParameters()
    public var logisticLambda = 1.0
    public var seed: UInt64 = 42

    public init() {}
}
