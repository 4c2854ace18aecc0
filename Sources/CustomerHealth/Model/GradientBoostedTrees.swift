import Dispatch
import Foundation

public struct GradientBoostingParameters: Sendable, Equatable {
    public var learningRate = 0.1
    public var maxRounds = 600
    public var maxDepth = 5
    public var minChildWeight = 1.0
    public var minLeafRows = 20
    public var lambda = 1.0
    public var rowSubsample = 0.8
    public var featureSubsample = 0.9
    /// Stop when validation log loss has not improved for this many rounds.
    public var earlyStoppingRounds = 20

    public init() {}
}

/// Gradient-boosted trees with logistic loss. The output is a log-odds
/// margin: base score plus the sum of the trees (shrinkage is folded into
/// the leaf values).
public struct GradientBoostedTrees: Sendable, Equatable {
    public var baseScore: Double
    public var trees: [RegressionTree]

    public func margin(_ x: UnsafePointer<Double>) -> Double {
        var s = baseScore
        for t in trees { s += t.predict(x) }
        return s
    }

    /// Per-feature contributions (added into phi); returns the bias.
    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double)
        -> Double
    {
        var bias = baseScore * scale
        for t in trees { bias += t.contributions(x, into: phi, scale: scale) }
        return bias
    }

    public struct History: Sendable {
        public var bestRound: Int
        public var validationLogLoss: [Double]
        /// The validation rows' margins after `bestRound` trees (empty without validation rows).
        public var validationMargins: [Double] = []
    }

    public static func train(
        train: BinnedMatrix, labels: [UInt8], validation: BinnedMatrix?, validationLabels: [UInt8]?,
        binner: FeatureBinner, parameters p: GradientBoostingParameters, seed: UInt64
    ) -> (GradientBoostedTrees, History) {
        var train = train
        train.addColumnMajor()
        let n = train.rows
        let positives = Double(labels.reduce(0) { $0 + Int($1) })
        let rate = min(max(positives / Double(max(n, 1)), 1e-6), 1 - 1e-6)
        let base = log(rate / (1 - rate))
        var margin = [Double](repeating: base, count: n)
        var validationMargin = [Double](repeating: base, count: validation?.rows ?? 0)
        var bestValidationMargin = validationMargin
        // Gradient and hessian of each row, interleaved: gh[2i], gh[2i + 1].
        var gh = [Double](repeating: 0, count: 2 * n)
        // The same as 32-bit floats with a count of 1, one vector a row: what histograms add up.
        var ghc = [SIMD4<Float>](repeating: .zero, count: n)
        var trees: [RegressionTree] = []
        var rng = SeededGenerator.derive(seed, 0x6B)
        var losses: [Double] = []
        var bestLoss = Double.infinity
        var bestRound = 0
        let limits = TreeGrowthLimits(
            maxDepth: p.maxDepth, minChildWeight: p.minChildWeight, minLeafRows: p.minLeafRows, lambda: p.lambda)
        let lr = p.learningRate
        let lambda = p.lambda
        let learner = HistogramTreeLearner(binned: train, binner: binner, limits: limits) { G, H in
            -lr * G / (H + lambda)
        }
        let featureCount = train.features
        var nodeRanges: [Range<Int>] = []
        var finalRows: [Int32] = []
        var inSample = [Bool](repeating: false, count: n)
        for round in 0..<p.maxRounds {
            gradients(margins: margin, labels: labels, into: &gh, &ghc)
            let (rows, features) = sample(rows: n, features: featureCount, parameters: p, rng: &rng)
            let tree = gh.withUnsafeBufferPointer { g in
                ghc.withUnsafeBufferPointer { c in
                    learner.growBoosted(
                        rows: rows, gh: g.baseAddress!, ghc: c.baseAddress!, features: features, parallel: true,
                        nodeRanges: &nodeRanges, finalRows: &finalRows)
                }
            }
            trees.append(tree)
            add(
                tree, to: &margin, sampled: rows, nodeRanges: nodeRanges, finalRows: finalRows, binned: train,
                binner: binner, inSample: &inSample)
            if let validation, let validationLabels {
                GradientBoostedTrees.addTree(tree, binned: validation, binner: binner, to: &validationMargin)
                let loss = Metrics.logLoss(margins: validationMargin, labels: validationLabels)
                losses.append(loss)
                if loss < bestLoss - 1e-9 {
                    bestLoss = loss
                    bestRound = round + 1
                    bestValidationMargin = validationMargin
                } else if round + 1 - bestRound >= p.earlyStoppingRounds {
                    break
                }
            } else {
                bestRound = round + 1
            }
        }
        trees = Array(trees.prefix(bestRound))
        return (
            GradientBoostedTrees(baseScore: base, trees: trees),
            History(bestRound: bestRound, validationLogLoss: losses, validationMargins: bestValidationMargin)
        )
    }

    /// Each row's log-loss gradient and hessian at its margin, into `gh`
    /// (interleaved) and `ghc` (as 32-bit floats with a count of 1).
    private static func gradients(
        margins margin: [Double], labels: [UInt8], into gh: inout [Double], _ ghc: inout [SIMD4<Float>]
    ) {
        let n = margin.count
        margin.withUnsafeBufferPointer { mp in
            gh.withUnsafeMutableBufferPointer { gp in
                ghc.withUnsafeMutableBufferPointer { cp in
                    labels.withUnsafeBufferPointer { lp in
                        let box = UnsafeSendable((mp, gp, lp, cp))
                        // A row's gradient is a few operations: chunks of at least 32,768 rows.
                        ParallelMap.forEachChunk(count: n, threads: ParallelMap.cores, minimum: 32_768) { range in
                            let (mp, gp, lp, cp) = box.value
                            for i in range {
                                let prob = 1 / (1 + exp(-mp[i]))
                                let g = prob - Double(lp[i])
                                let h = max(prob * (1 - prob), 1e-12)
                                gp[2 * i] = g
                                gp[2 * i + 1] = h
                                cp[i] = SIMD4(Float(g), Float(h), 1, 0)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The rows and features a round's tree sees (`row_subsample`,
    /// `feature_subsample`), drawn from `rng` in this order.
    private static func sample(
        rows n: Int, features featureCount: Int, parameters p: GradientBoostingParameters,
        rng: inout SeededGenerator
    ) -> (rows: [Int32], features: [Int]) {
        var rows: [Int32] = []
        rows.reserveCapacity(n)
        for i in 0..<n where p.rowSubsample >= 1 || rng.uniform() < p.rowSubsample { rows.append(Int32(i)) }
        var features = Array(0..<featureCount)
        if p.featureSubsample < 1 {
            features.shuffle(using: &rng)
            features = Array(features.prefix(max(1, Int((Double(featureCount) * p.featureSubsample).rounded()))))
                .sorted()
        }
        return (rows, features)
    }

    /// Adds a new tree's output to the training margins. Sampled rows: their
    /// leaf is known from growing; the others walk the tree.
    private static func add(
        _ tree: RegressionTree, to margin: inout [Double], sampled rows: [Int32], nodeRanges: [Range<Int>],
        finalRows: [Int32], binned train: BinnedMatrix, binner: FeatureBinner, inSample: inout [Bool]
    ) {
        inSample.withUnsafeMutableBufferPointer { s in
            for r in rows { s[Int(r)] = true }
        }
        margin.withUnsafeMutableBufferPointer { m in
            for node in 0..<tree.nodeCount where tree.feature[node] < 0 {
                let v = tree.value[node]
                for k in nodeRanges[node] { m[Int(finalRows[k])] += v }
            }
        }
        GradientBoostedTrees.addTree(tree, binned: train, binner: binner, to: &margin, skipping: inSample)
        inSample.withUnsafeMutableBufferPointer { s in
            for r in rows { s[Int(r)] = false }
        }
    }

    /// Adds a tree's output to margins, walking it on bin indices (training rows need no raw values).
    static func addTree(
        _ tree: RegressionTree, binned: BinnedMatrix, binner: FeatureBinner, to margins: inout [Double],
        skipping skip: [Bool]? = nil
    ) {
        // Thresholds are bin edges, so "bin <= b" equals "value <= edge[b]": walk by bins.
        let n = binned.rows
        var binThreshold = [Int](repeating: 0, count: tree.nodeCount)
        for node in 0..<tree.nodeCount where tree.feature[node] >= 0 {
            let f = Int(tree.feature[node])
            let edges = binner.edges[f]
            var lo = 0
            var hi = edges.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if edges[mid] < tree.threshold[node] { lo = mid + 1 } else { hi = mid }
            }
            binThreshold[node] = lo
        }
        // Row-major: a row's bins sit together, so a walk touches one cache line.
        let w = binned.features
        binned.rowMajor.withUnsafeBufferPointer { data in
            for i in 0..<n {
                if let skip, skip[i] { continue }
                let row = data.baseAddress! + i * w
                var node = 0
                while tree.feature[node] >= 0 {
                    let b = row[Int(tree.feature[node])]
                    let goLeft = b == FeatureBinner.missingBin ? tree.missingLeft[node] : Int(b) <= binThreshold[node]
                    node = Int(goLeft ? tree.left[node] : tree.right[node])
                }
                margins[i] += tree.value[node]
            }
        }
    }
}
