import Dispatch
import Foundation

/// The churn model: gradient-boosted trees, a random forest and a logistic
/// regression, each giving a log-odds margin, combined by a stacking
/// logistic regression fitted on the validation rows. Its coefficients are
/// the member weights and the Platt calibration in one: the calibrated
/// log-odds is intercept + sum(weight_m * margin_m). Every piece is additive,
/// so each prediction splits exactly into per-feature contributions.
public struct ChurnEnsemble: Sendable {
    public static let schemaVersion = 1

    public enum Member: String, Sendable, CaseIterable {
        case gradientBoosting = "gradient_boosting"
        case randomForest = "random_forest"
        case logisticRegression = "logistic_regression"
    }

    public var featureNames: [String]
    public var binner: FeatureBinner
    public var gradientBoosting: GradientBoostedTrees
    public var randomForest: RandomForest
    public var logisticRegression: LogisticRegression
    /// Stacking coefficients on the members' margins (0 for a member left out).
    public var weights: [Member: Double]
    public var intercept: Double

    public func memberMargins(_ x: UnsafePointer<Double>) -> [Member: Double] {
        [.gradientBoosting: gradientBoosting.margin(x), .randomForest: randomForest.margin(x),
         .logisticRegression: logisticRegression.margin(x)]
    }

    /// The calibrated log-odds of churn.
    public func logit(_ x: UnsafePointer<Double>) -> Double {
        var z = intercept
        if let w = weights[.gradientBoosting], w != 0 { z += w * gradientBoosting.margin(x) }
        if let w = weights[.randomForest], w != 0 { z += w * randomForest.margin(x) }
        if let w = weights[.logisticRegression], w != 0 { z += w * logisticRegression.margin(x) }
        return z
    }

    /// The calibrated log-odds from the members' margins (the same sum as `logit(x)`).
    func logit(gradientBoosting gb: Double, randomForest rf: Double, logisticRegression lr: Double) -> Double {
        var z = intercept
        if let w = weights[.gradientBoosting], w != 0 { z += w * gb }
        if let w = weights[.randomForest], w != 0 { z += w * rf }
        if let w = weights[.logisticRegression], w != 0 { z += w * lr }
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
                let p = xp.baseAddress!
                let out = pp.baseAddress!
                if let w = weights[.gradientBoosting], w != 0 { bias += gradientBoosting.contributions(p, into: out, scale: w) }
                if let w = weights[.randomForest], w != 0 { bias += randomForest.contributions(p, into: out, scale: w) }
                if let w = weights[.logisticRegression], w != 0 { bias += logisticRegression.contributions(p, into: out, scale: w) }
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
                let chunk = max(1024, n / (max(1, threads) * 4) + 1)
                let chunks = (n + chunk - 1) / chunk
                DispatchQueue.concurrentPerform(iterations: chunks) { k in
                    let (o, r) = box.value
                    let start = k * chunk, end = min(n, (k + 1) * chunk)
                    compiled.probabilities(r.baseAddress! + start * featureCount, featureCount: featureCount, count: end - start,
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
        if p <= 0.30 { self = .low } else if p <= 0.60 { self = .medium } else if p <= 0.80 { self = .high } else { self = .critical }
    }
}

public struct ChurnTrainingParameters: Sendable, Equatable {
    public var gradientBoosting = GradientBoostingParameters()
    public var randomForest = RandomForestParameters()
    public var logisticLambda = 1.0
    public var seed: UInt64 = 42

    public init() {}
}

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
            ("member_roc_auc", .object(ChurnEnsemble.Member.allCases.map { ($0.rawValue, .number(memberAUC[$0], places: 6)) })),
            ("boosting_rounds", .int(boostingRounds)),
            ("calibration", .array(calibration.map { b in
                .object([("predicted_from", .number(b.low, places: 2)), ("predicted_to", .number(b.high, places: 2)), ("rows", .int(b.count)),
                         ("mean_predicted", .number(b.meanPredicted, places: 4)), ("observed_rate", .number(b.observedRate, places: 4))])
            })),
            ("feature_importance", .object(featureImportance.map { ($0.0, .number($0.1, places: 6)) })),
        ])
    }
}

public enum ChurnTrainer {
    /// Trains the three members on `train`, fits the stacking weights and
    /// calibration on `validation`, and reports validation metrics.
    public static func train(train: TrainingTable, validation: TrainingTable, parameters p: ChurnTrainingParameters) -> (ChurnEnsemble, TrainingReport) {
        let clock = ContinuousClock.now
        let binner = FeatureBinner.fit(train, seed: p.seed)
        let binnedTrain = binner.transform(train)
        let binnedValidation = binner.transform(validation)
        // The three members at the same time: each depends only on its inputs and its own seeded
        // streams, so the results do not depend on which thread runs what.
        final class Results: @unchecked Sendable {
            var boosting: (GradientBoostedTrees, GradientBoostedTrees.History)?
            var forest: RandomForest?
            var linear: LogisticRegression?
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 3) { member in
            switch member {
            case 0:
                results.boosting = GradientBoostedTrees.train(
                    train: binnedTrain, labels: train.labels, validation: binnedValidation, validationLabels: validation.labels,
                    binner: binner, parameters: p.gradientBoosting, seed: p.seed)
            case 1:
                results.forest = RandomForest.train(train: binnedTrain, labels: train.labels, binner: binner, parameters: p.randomForest, seed: p.seed)
            default:
                results.linear = LogisticRegression.train(train, lambda: p.logisticLambda)
            }
        }
        let (gbdt, history) = results.boosting!
        let forest = results.forest!
        let linear = results.linear!

        // Member margins on the validation rows: the same sums, in the same
        // order, as GradientBoostedTrees.margin and RandomForest.margin, with
        // trees walked on bin indices (a split "bin <= b" is "value <= edge b").
        let members = ChurnEnsemble.Member.allCases
        var margins: [ChurnEnsemble.Member: [Double]] = [:]
        if history.validationMargins.count == validation.rowCount {
            margins[.gradientBoosting] = history.validationMargins
        } else {
            var m = [Double](repeating: gbdt.baseScore, count: validation.rowCount)
            for t in gbdt.trees { GradientBoostedTrees.addTree(t, binned: binnedValidation, binner: binner, to: &m) }
            margins[.gradientBoosting] = m
        }
        do {
            var m = [Double](repeating: 0, count: validation.rowCount)
            for t in forest.trees { GradientBoostedTrees.addTree(t, binned: binnedValidation, binner: binner, to: &m) }
            if !forest.trees.isEmpty { let k = Double(forest.trees.count); for i in m.indices { m[i] /= k } }
            margins[.randomForest] = m
        }
        do {
            var m: [Double] = []
            m.reserveCapacity(validation.rowCount)
            var x = [Double](repeating: 0, count: validation.featureCount)
            for i in 0..<validation.rowCount {
                for j in 0..<validation.featureCount { x[j] = validation.columns[j][i] }
                m.append(x.withUnsafeBufferPointer { linear.margin($0.baseAddress!) })
            }
            margins[.logisticRegression] = m
        }
        // Candidates: every non-empty subset of members, non-negative weights.
        // The single members are candidates too, so the chosen combination is
        // never worse than the best member on validation log loss.
        var best: (weights: [ChurnEnsemble.Member: Double], intercept: Double, loss: Double)? = nil
        for mask in 1..<(1 << members.count) {
            let chosen = members.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
            guard let fit = stack(chosen.map { margins[$0]! }, labels: validation.labels) else { continue }
            var w: [ChurnEnsemble.Member: Double] = [:]
            for m in members { w[m] = 0 }
            for (k, m) in chosen.enumerated() { w[m] = fit.coefficients[k] }
            if best == nil || fit.loss < best!.loss - 1e-12 { best = (w, fit.intercept, fit.loss) }
        }
        let chosen = best ?? ([.gradientBoosting: 1, .randomForest: 0, .logisticRegression: 0], 0, .infinity)
        let ensemble = ChurnEnsemble(
            featureNames: train.featureNames, binner: binner, gradientBoosting: gbdt, randomForest: forest,
            logisticRegression: linear, weights: chosen.weights, intercept: chosen.intercept)

        var probabilities: [Double] = []
        for i in 0..<validation.rowCount {
            probabilities.append(Metrics.sigmoid(ensemble.logit(
                gradientBoosting: margins[.gradientBoosting]![i], randomForest: margins[.randomForest]![i],
                logisticRegression: margins[.logisticRegression]![i])))
        }
        var memberAUC: [ChurnEnsemble.Member: Double] = [:]
        for m in members { memberAUC[m] = Metrics.rocAUC(scores: margins[m]!, labels: validation.labels) ?? .nan }
        var importance = [Double](repeating: 0, count: train.featureCount)
        for t in gbdt.trees + forest.trees {
            for node in 0..<t.nodeCount where t.feature[node] >= 0 { importance[Int(t.feature[node])] += t.gain[node] }
        }
        let totalGain = max(importance.reduce(0, +), 1e-300)
        let ranked = zip(train.featureNames, importance.map { $0 / totalGain }).sorted { $0.1 > $1.1 }
        let report = TrainingReport(
            trainRows: train.rowCount, trainPositives: train.positives, validationRows: validation.rowCount,
            validationPositives: validation.positives, memberAUC: memberAUC,
            ensembleAUC: Metrics.rocAUC(scores: probabilities, labels: validation.labels) ?? .nan,
            ensemblePRAUC: Metrics.averagePrecision(scores: probabilities, labels: validation.labels) ?? .nan,
            logLoss: Metrics.logLoss(probabilities: probabilities, labels: validation.labels),
            brier: Metrics.brier(probabilities: probabilities, labels: validation.labels),
            calibration: Metrics.calibrationTable(probabilities: probabilities, labels: validation.labels),
            featureImportance: ranked, boostingRounds: history.bestRound,
            seconds: PipelineRunner.seconds(since: clock))
        return (ensemble, report)
    }

    /// Logistic regression of the labels on member margins with non-negative
    /// coefficients (a negative one drops the fit: that subset is covered by a smaller one).
    static func stack(_ columns: [[Double]], labels: [UInt8]) -> (coefficients: [Double], intercept: Double, loss: Double)? {
        let k = columns.count
        let n = labels.count
        guard n > 0 else { return nil }
        var beta = [Double](repeating: 0, count: k + 1)
        for j in 1...k { beta[j] = 1 / Double(k) }
        let dims = k + 1
        for _ in 0..<100 {
            var grad = [Double](repeating: 0, count: dims)
            var hess = [Double](repeating: 0, count: dims * dims)
            for i in 0..<n {
                var z = beta[0]
                for j in 0..<k { z += beta[j + 1] * columns[j][i] }
                let p = Metrics.sigmoid(z)
                let r = p - Double(labels[i])
                let w = max(p * (1 - p), 1e-12)
                for a in 0..<dims {
                    let xa = a == 0 ? 1 : columns[a - 1][i]
                    grad[a] += r * xa
                    for b in a..<dims {
                        let xb = b == 0 ? 1 : columns[b - 1][i]
                        hess[a * dims + b] += w * xa * xb
                    }
                }
            }
            // A tiny ridge keeps collinear members (they usually are) solvable.
            for a in 0..<dims { hess[a * dims + a] += 1e-6 * Double(n) ; grad[a] += a == 0 ? 0 : 1e-6 * Double(n) * beta[a] }
            for a in 0..<dims { for b in 0..<a { hess[a * dims + b] = hess[b * dims + a] } }
            guard let step = LinearAlgebra.solve(hess, grad, dims) else { return nil }
            var change = 0.0
            for j in 0..<dims { beta[j] -= step[j]; change = max(change, abs(step[j])) }
            if change < 1e-10 { break }
        }
        guard beta[1...].allSatisfy({ $0 >= 0 && $0.isFinite }), beta[0].isFinite else { return nil }
        var margins = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var z = beta[0]
            for j in 0..<k { z += beta[j + 1] * columns[j][i] }
            margins[i] = z
        }
        return (Array(beta[1...]), beta[0], Metrics.logLoss(margins: margins, labels: labels))
    }
}

/// The ensemble flattened for fast scoring: every tree's nodes in one array
/// of 32-byte records (one cache line holds two), weights folded into leaf
/// values, no dictionary or bounds checks per row. Gives the same logits as
/// `ChurnEnsemble.logit` up to floating-point summation order.
///
/// Many rows at once (`probabilities`): each row's values are binned once
/// (to the model's UInt8 bin indices), and then every tree is walked on bin
/// indices for a block of rows before the next tree, so a tree's nodes stay
/// in cache. A tree's threshold is one of its feature's bin edges, so
/// "value <= threshold" is exactly "bin <= the edge's index": the same
/// decisions and the same sums in the same order, hence the same logits as
/// `logit(_:)`, bit for bit. (A model whose thresholds are not bin edges is
/// scored on raw values.)
public struct CompiledEnsemble: Sendable {
    struct Node {
        var threshold: Double
        var value: Double
        var feature: Int32
        var left: Int32
        var right: Int32
        var missingLeft: Bool
    }

    /// A node on bin indices (8 bytes): the next node is left + 1 when
    /// code[slot] > limit, else left. A row's codes are its bins (slot f) and
    /// its bins plus one, wrapping (slot featureCount + f): a node whose
    /// missing values (bin 255) go left reads the second, where 255 wraps to
    /// 0, and compares with its bin index plus one. A leaf's left is itself
    /// and its limit 255, so every walk takes its tree's depth in steps,
    /// without branches.
    struct BinNode {
        var left: Int32
        var slot: UInt16
        var limit: UInt8
        var pad: UInt8 = 0
    }

    private var nodes: [Node] = []
    private var roots: [Int32] = []
    private let intercept: Double
    private let linear: LogisticRegression
    private let linearWeight: Double

    private var binNodes: [BinNode] = []
    private var binValues: [Double] = []
    /// Per tree: root index into binNodes and depth (steps to any leaf).
    private var binTrees: [(root: Int32, depth: Int32)] = []
    /// How many bin edges each feature has.
    private var edgeCounts: [Int] = []
    /// Every feature's edges padded with +infinity to 2^steps values (at least one
    /// +infinity, so the count of edges < v is at most the edge count).
    private var padded: [Double] = []
    private var paddedRanges: [(start: Int, steps: Int)] = []
    private(set) var binnable = false

    public init(_ e: ChurnEnsemble) {
        intercept = e.intercept + (e.weights[.gradientBoosting] ?? 0) * e.gradientBoosting.baseScore
        linear = e.logisticRegression
        linearWeight = e.weights[.logisticRegression] ?? 0
        var members: [(RegressionTree, Double)] = []
        if let w = e.weights[.gradientBoosting], w != 0 { members += e.gradientBoosting.trees.map { ($0, w) } }
        if let w = e.weights[.randomForest], w != 0, !e.randomForest.trees.isEmpty {
            members += e.randomForest.trees.map { ($0, w / Double(e.randomForest.trees.count)) }
        }
        for (tree, scale) in members {
            let base = Int32(nodes.count)
            roots.append(base)
            for i in 0..<tree.nodeCount {
                nodes.append(Node(
                    threshold: tree.threshold[i], value: tree.value[i] * scale, feature: tree.feature[i],
                    left: tree.left[i] + base, right: tree.right[i] + base, missingLeft: tree.missingLeft[i]))
            }
        }
        binnable = compileBins(members.map(\.0), binner: e.binner, featureCount: e.featureNames.count)
    }

    /// The bin-index form of the trees; false when some threshold is not a bin edge.
    private mutating func compileBins(_ trees: [RegressionTree], binner: FeatureBinner, featureCount: Int) -> Bool {
        guard binner.edges.count == featureCount, 2 * featureCount <= Int(UInt16.max) else { return false }
        for f in 0..<featureCount {
            let e = binner.edges[f]
            guard e.count <= FeatureBinner.maxValueBins, e.allSatisfy({ $0.isFinite }) else { return false }
            for i in 1..<max(1, e.count) where !(e[i - 1] < e[i]) { return false }
            edgeCounts.append(e.count)
            var steps = 0
            while (1 << steps) < e.count + 1 { steps += 1 }
            paddedRanges.append((padded.count, steps))
            padded += e
            padded += repeatElement(Double.infinity, count: (1 << steps) - e.count)
        }
        var k = 0
        for tree in trees {
            let base = Int32(binNodes.count)
            for i in 0..<tree.nodeCount {
                let f = Int(tree.feature[i])
                if f < 0 {
                    binNodes.append(BinNode(left: base + Int32(i), slot: 0, limit: 255))
                } else {
                    guard f < featureCount, tree.right[i] == tree.left[i] + 1 else { return false }
                    let e = binner.edges[f]
                    // The edge equal to the threshold: then v <= threshold <=> bin(v) <= its index.
                    guard let t = e.firstIndex(of: tree.threshold[i]), t + 1 < Int(FeatureBinner.missingBin) else { return false }
                    let shift = tree.missingLeft[i] ? 1 : 0
                    binNodes.append(BinNode(left: base + tree.left[i], slot: UInt16(f + shift * featureCount), limit: UInt8(t + shift)))
                }
                binValues.append(nodes[k].value)
                k += 1
            }
            // Depth: the longest root-to-leaf path.
            var depth = [Int32](repeating: 0, count: tree.nodeCount)
            var maxDepth: Int32 = 0
            for i in 0..<tree.nodeCount where tree.feature[i] >= 0 {
                let l = Int(tree.left[i]), r = Int(tree.right[i])
                guard l > i, r > i, l < tree.nodeCount, r < tree.nodeCount else { return false }
                depth[l] = depth[i] + 1
                depth[r] = depth[i] + 1
                maxDepth = max(maxDepth, depth[i] + 1)
            }
            binTrees.append((base, maxDepth))
        }
        return true
    }

    @inline(__always)
    public func logit(_ x: UnsafePointer<Double>) -> Double {
        var z = intercept
        if linearWeight != 0 { z += linearWeight * linear.margin(x) }
        nodes.withUnsafeBufferPointer { n in
            for root in roots {
                var i = Int(root)
                while n[i].feature >= 0 {
                    let v = x[Int(n[i].feature)]
                    let goLeft = v.isNaN ? n[i].missingLeft : v <= n[i].threshold
                    i = Int(goLeft ? n[i].left : n[i].right)
                }
                z += n[i].value
            }
        }
        return z
    }

    /// Probabilities of `count` rows (row-major, `featureCount` values each): the same as sigmoid(logit(row)).
    public func probabilities(_ x: UnsafePointer<Double>, featureCount: Int, count: Int, into out: UnsafeMutablePointer<Double>) {
        guard binnable, featureCount == edgeCounts.count else {
            for i in 0..<count { out[i] = Metrics.sigmoid(logit(x + i * featureCount)) }
            return
        }
        let block = 256
        let width = 2 * featureCount
        let bins = UnsafeMutablePointer<UInt8>.allocate(capacity: block * width)
        defer { bins.deallocate() }
        padded.withUnsafeBufferPointer { pb in
            binNodes.withUnsafeBufferPointer { nb in
                binValues.withUnsafeBufferPointer { vb in
                    let pe = pb.baseAddress!
                    let nodes = nb.baseAddress!
                    let values = vb.baseAddress!
                    var start = 0
                    while start < count {
                        let m = min(block, count - start)
                        // Bin the block's rows, a feature at a time: bin(v) = the first edge >= v
                        // (the number of edges < v), 255 for missing. Each feature's edges are
                        // padded with +infinity to a power of two, so the search takes the same
                        // fixed number of halving steps for every row, without branches; eight
                        // rows' searches run side by side, 32 rows at a time (their values stay in L1).
                        // -1 when edge - v < 0 (edge < v for finite edges), else 0: the sign bit,
                        // no branch. Only v = +infinity counts the +infinity padding (inf - inf is a
                        // NaN with the sign bit set): hence min(pos, edge count).
                        @inline(__always) func less(_ edge: Double, _ v: Double) -> Int {
                            Int(bitPattern: UInt((edge - v).bitPattern)) >> 63
                        }
                        var sub = 0
                        while sub < m {
                        let sm = min(32, m - sub)
                        for f in 0..<featureCount {
                            let (s, steps) = paddedRanges[f]
                            let c = edgeCounts[f]
                            let t = pe + s
                            let top = (1 << steps) >> 1
                            let col = x + (start + sub) * featureCount + f
                            var i = 0
                            @inline(__always) func put(_ i: Int, _ v: Double, _ pos: Int) {
                                let b: UInt8 = v.isNaN ? FeatureBinner.missingBin : UInt8(truncatingIfNeeded: Swift.min(pos, c))
                                let rb = bins + (sub + i) * width
                                rb[f] = b
                                rb[featureCount + f] = b &+ 1
                            }
                            while i + 8 <= sm {
                                let r = col + i * featureCount
                                let v0 = r[0], v1 = r[featureCount], v2 = r[2 * featureCount], v3 = r[3 * featureCount]
                                let v4 = r[4 * featureCount], v5 = r[5 * featureCount], v6 = r[6 * featureCount]
                                let v7 = r[7 * featureCount]
                                var p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0
                                var h = top
                                while h > 0 {
                                    let q = t + (h &- 1)
                                    p0 &+= h & less(q[p0], v0); p1 &+= h & less(q[p1], v1)
                                    p2 &+= h & less(q[p2], v2); p3 &+= h & less(q[p3], v3)
                                    p4 &+= h & less(q[p4], v4); p5 &+= h & less(q[p5], v5)
                                    p6 &+= h & less(q[p6], v6); p7 &+= h & less(q[p7], v7)
                                    h >>= 1
                                }
                                put(i, v0, p0); put(i + 1, v1, p1); put(i + 2, v2, p2); put(i + 3, v3, p3)
                                put(i + 4, v4, p4); put(i + 5, v5, p5); put(i + 6, v6, p6); put(i + 7, v7, p7)
                                i += 8
                            }
                            while i < sm {
                                let v = col[i * featureCount]
                                var p = 0
                                var h = top
                                while h > 0 { p &+= h & less(t[p &+ h &- 1], v); h >>= 1 }
                                put(i, v, p)
                                i += 1
                            }
                        }
                        sub += sm
                        }
                        let z = out + start
                        for i in 0..<m {
                            var s = intercept
                            if linearWeight != 0 { s += linearWeight * linear.margin(x + (start + i) * featureCount) }
                            z[i] = s
                        }
                        @inline(__always) func step(_ k: Int, _ rb: UnsafeMutablePointer<UInt8>) -> Int {
                            let nd = nodes[k]
                            return Int(nd.left) &+ Int(unsafeBitCast(rb[Int(nd.slot)] > nd.limit, to: UInt8.self))
                        }
                        for (root, depth) in binTrees {
                            // Eight rows at a time: eight independent walks in flight.
                            var i = 0
                            while i + 8 <= m {
                                let r0 = bins + i * width
                                var k0 = Int(root), k1 = k0, k2 = k0, k3 = k0, k4 = k0, k5 = k0, k6 = k0, k7 = k0
                                for _ in 0..<depth {
                                    k0 = step(k0, r0); k1 = step(k1, r0 + width); k2 = step(k2, r0 + 2 * width); k3 = step(k3, r0 + 3 * width)
                                    k4 = step(k4, r0 + 4 * width); k5 = step(k5, r0 + 5 * width); k6 = step(k6, r0 + 6 * width)
                                    k7 = step(k7, r0 + 7 * width)
                                }
                                z[i] += values[k0]; z[i + 1] += values[k1]; z[i + 2] += values[k2]; z[i + 3] += values[k3]
                                z[i + 4] += values[k4]; z[i + 5] += values[k5]; z[i + 6] += values[k6]; z[i + 7] += values[k7]
                                i += 8
                            }
                            while i < m {
                                let rb = bins + i * width
                                var k = Int(root)
                                for _ in 0..<depth { k = step(k, rb) }
                                z[i] += values[k]
                                i += 1
                            }
                        }
                        for i in 0..<m { z[i] = Metrics.sigmoid(z[i]) }
                        start += m
                    }
                }
            }
        }
    }
}
