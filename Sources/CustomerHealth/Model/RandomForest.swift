import Dispatch
import Foundation

public struct RandomForestParameters: Sendable, Equatable {
    public var trees = 30
    public var maxDepth = 8
    public var minLeafRows = 50
    /// Features tried per split; nil means sqrt(features).
    public var featuresPerSplit: Int? = nil
    public var sampleFraction = 1.0

    public init() {}
}

/// A random forest whose trees hold log-odds: each node's value is the
/// logit of its smoothed churn rate, and the forest's margin is the mean of
/// its trees' leaf values. Averaging log-odds rather than probabilities
/// keeps every prediction an exact sum of per-feature path contributions.
public struct RandomForest: Sendable, Equatable {
    public var trees: [RegressionTree]

    /// Trees grown at once: a bound on the forest's memory (each growing tree
    /// holds about 16 bytes per training row), not on its result.
    static let maxTreesAtOnce = 8

    public func margin(_ x: UnsafePointer<Double>) -> Double {
        guard !trees.isEmpty else { return 0 }
        var s = 0.0
        for t in trees { s += t.predict(x) }
        return s / Double(trees.count)
    }

    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double)
        -> Double
    {
        let k = scale / Double(max(1, trees.count))
        var bias = 0.0
        for t in trees { bias += t.contributions(x, into: phi, scale: k) }
        return bias
    }

    /// Trains the trees in parallel; each tree's randomness comes from its
    /// own seeded stream, so the forest is the same whatever the thread count.
    public static func train(
        train: BinnedMatrix, labels: [UInt8], binner: FeatureBinner, parameters p: RandomForestParameters,
        seed: UInt64
    ) -> RandomForest {
        var train = train
        train.addColumnMajor()
        let n = train.rows
        let featureCount = train.features
        let perSplit = p.featuresPerSplit ?? max(1, Int(Double(featureCount).squareRoot().rounded()))
        let limits = TreeGrowthLimits(
            maxDepth: p.maxDepth, minChildWeight: 0, minLeafRows: p.minLeafRows, lambda: 0, featuresPerSplit: perSplit)
        // Splits maximise the reduction in squared error of the label (Gini for 0/1);
        // with g = -y and h = 1, G^2/H is exactly that. Node values are smoothed log-odds.
        let learner = HistogramTreeLearner(binned: train, binner: binner, limits: limits) { G, H in
            let rate = (-G + 1) / (H + 2)
            return log(rate / (1 - rate))
        }
        let results = UnsafeMutableBufferPointer<RegressionTree>.allocate(capacity: p.trees)
        results.initialize(repeating: RegressionTree())
        defer { results.deallocate() }
        let box = UnsafeSendable(results)
        let sampleSize = max(1, Int(Double(n) * p.sampleFraction))
        // At most `maxTreesAtOnce` trees grow at a time: each holds its bootstrap
        // weights and row lists (about 16 bytes a training row) while it grows.
        ParallelMap.forEach(count: p.trees, atMost: RandomForest.maxTreesAtOnce) { t in
            var rng = SeededGenerator.derive(seed, UInt64(t) + 5000)
            // The bootstrap as weights: how often each row was drawn.
            var weights = [Int32](repeating: 0, count: n)
            for _ in 0..<sampleSize { weights[Int(rng.next() % UInt64(n))] += 1 }
            var rows: [Int32] = []
            rows.reserveCapacity(n)
            for i in 0..<n where weights[i] > 0 { rows.append(Int32(i)) }
            box.value[t] = weights.withUnsafeBufferPointer { w in
                labels.withUnsafeBufferPointer { y in
                    learner.growForest(
                        rows: rows, weights: w.baseAddress!, labels: y.baseAddress!,
                        allowedFeatures: Array(0..<featureCount), rng: &rng)
                }
            }
        }
        return RandomForest(trees: Array(results))
    }
}
