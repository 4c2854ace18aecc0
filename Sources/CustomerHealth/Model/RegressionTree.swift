import Dispatch
import Foundation

/// A binary tree on raw feature values: a row goes left when its value is
/// <= the node's threshold, or, when the value is missing (NaN), the way the
/// node learnt missing values go. Every node keeps its value, so that a
/// prediction splits exactly into per-feature contributions along its path
/// (Saabas): output = root value + sum of (child value - parent value).
public struct RegressionTree: Sendable, Equatable {
    public var feature: [Int32] = []  // -1 for a leaf
    public var threshold: [Double] = []
    public var missingLeft: [Bool] = []
    public var left: [Int32] = []
    public var right: [Int32] = []
    public var value: [Double] = []
    /// Sum of hessians (GBDT) or of row weights (forest) that reached the node.
    public var cover: [Double] = []
    public var gain: [Double] = []

    public var nodeCount: Int { feature.count }

    mutating func addNode(value: Double, cover: Double) -> Int {
        feature.append(-1)
        threshold.append(0)
        missingLeft.append(true)
        left.append(-1)
        right.append(-1)
        self.value.append(value)
        self.cover.append(cover)
        gain.append(0)
        return feature.count - 1
    }

    @inline(__always)
    public func leaf(_ x: UnsafePointer<Double>) -> Int {
        var node = 0
        while feature[node] >= 0 {
            let v = x[Int(feature[node])]
            let goLeft = v.isNaN ? missingLeft[node] : v <= threshold[node]
            node = Int(goLeft ? left[node] : right[node])
        }
        return node
    }

    @inline(__always)
    public func predict(_ x: UnsafePointer<Double>) -> Double { value[leaf(x)] }

    /// Adds each split's change in value to its feature; returns the root value.
    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double)
        -> Double
    {
        var node = 0
        while feature[node] >= 0 {
            let f = Int(feature[node])
            let v = x[f]
            let goLeft = v.isNaN ? missingLeft[node] : v <= threshold[node]
            let next = Int(goLeft ? left[node] : right[node])
            phi[f] += scale * (value[next] - value[node])
            node = next
        }
        return value[0] * scale
    }
}

/// How a tree is grown: the limits every node must respect.
struct TreeGrowthLimits: Sendable {
    var maxDepth: Int
    var minChildWeight: Double
    var minLeafRows: Int
    var lambda: Double
    var minGain: Double = 1e-12
    /// Features looked at per split (random subset), nil for all allowed ones.
    var featuresPerSplit: Int?
}

/// Grows one tree over feature histograms of bin indices, depth-wise (nodes
/// are numbered breadth-first, children next to each other).
///
/// Boosting (`growBoosted`): per-row gradient and hessian, every node sees the
/// same features. A node's histograms live in one contiguous buffer of
/// [gradient, hessian, count, 0] per bin per feature, 32-bit floats added as
/// one 16-byte vector (row order, so the same sums whatever the thread count;
/// counts are exact below 2^24 rows); only the smaller child's
/// are built from its rows, the larger child's are the parent's minus the
/// smaller's (histogram subtraction, in the parent's buffer).
///
/// Forest (`growForest`): integer row weights (bootstrap multiplicities) and
/// 0/1 labels, a random feature subset per node. Histograms hold exact
/// integer sums of weights and of weighted labels, so the tree is the same as
/// one grown on the bootstrap's repeated rows with g = -y, h = 1.
///
/// Every sum runs in row order and the best split is chosen in feature order,
/// so the tree never depends on the thread count.
struct HistogramTreeLearner: @unchecked Sendable {
    let binned: BinnedMatrix
    let binner: FeatureBinner
    let limits: TreeGrowthLimits
    /// Value of a node from its gradient and hessian sums.
    let nodeValue: @Sendable (Double, Double) -> Double

    struct Split {
        var feature = -1
        var bin = 0
        var missingLeft = true
        var gain = 0.0
    }

    static let binsPerFeature = 256

    // MARK: Boosting

    /// Room for 2 × rows.count row ids: `rows` in the first half (partitioned
    /// in place as the tree grows), scratch space in the second.
    static func rowBuffer(copying rows: [Int32]) -> UnsafeMutablePointer<Int32> {
        let buffer = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, 2 * rows.count))
        _ = rows.withUnsafeBufferPointer { memcpy(buffer, $0.baseAddress!, rows.count * 4) }
        return buffer
    }

    /// Builds a boosting tree over distinct `rows` with interleaved per-row
    /// gradient and hessian `gh` (gh[2r], gh[2r + 1]), splitting on `features`.
    ///
    /// `nodeRanges` gets, per node, the range of `rows` (in their final order,
    /// also returned) that reached it: leaves cover every row exactly once.
    func growBoosted(
        rows inputRows: [Int32], gh: UnsafePointer<Double>, ghc: UnsafePointer<SIMD4<Float>>, features: [Int],
        parallel: Bool,
        nodeRanges: inout [Range<Int>], finalRows: inout [Int32]
    ) -> RegressionTree {
        var tree = RegressionTree()
        let rowCount = inputRows.count
        let rows = Self.rowBuffer(copying: inputRows)
        defer { rows.deallocate() }
        let scratch = rows + rowCount
        nodeRanges.removeAll(keepingCapacity: true)
        let pool = HistogramPool(entries: features.count * Self.binsPerFeature)
        let featureIndex = features.map { Int32($0) }
        /// A histogram of rows[start..<end] in a buffer of the pool.
        func histogram(_ start: Int, _ end: Int) -> Int {
            let h = pool.take()
            buildBoosted(
                rows: UnsafeBufferPointer(start: rows + start, count: end - start), ghc: ghc, features: featureIndex,
                into: pool[h], parallel: parallel)
            return h
        }
        let (G0, H0) = Self.gradientSums(rows, 0..<rowCount, gh)
        let root = tree.addNode(value: nodeValue(G0, H0), cover: H0)
        nodeRanges.append(0..<rowCount)
        let rootHist = needsHistogram(rowCount, depth: 0) ? histogram(0, rowCount) : -1
        var queue = [BoostNode(node: root, start: 0, end: rowCount, depth: 0, G: G0, H: H0, hist: rootHist)]
        var head = 0
        var splits = [Split](repeating: Split(), count: features.count)
        while head < queue.count {
            let p = queue[head]
            head += 1
            guard p.hist >= 0 else { continue }
            let split = bestBoostedSplit(of: p, hist: pool[p.hist], features: features, splits: &splits)
            guard split.feature >= 0, split.gain > limits.minGain else {
                pool.giveBack(p.hist)
                continue
            }
            let mid = partition(rows, scratch: scratch, start: p.start, end: p.end, split: split)
            if mid == p.start || mid == p.end {
                pool.giveBack(p.hist)
                continue
            }
            let (GL, HL) = Self.gradientSums(rows, p.start..<mid, gh)
            let GR = p.G - GL
            let HR = p.H - HL
            let l = tree.addNode(value: nodeValue(GL, HL), cover: HL)
            let r = tree.addNode(value: nodeValue(GR, HR), cover: HR)
            nodeRanges.append(p.start..<mid)
            nodeRanges.append(mid..<p.end)
            tree.setSplit(
                p.node, split: split, threshold: binner.threshold(feature: split.feature, bin: split.bin), left: l,
                right: r)
            let (histL, histR) = childHistograms(of: p, mid: mid, features: features, pool: pool, build: histogram)
            queue.append(BoostNode(node: l, start: p.start, end: mid, depth: p.depth + 1, G: GL, H: HL, hist: histL))
            queue.append(BoostNode(node: r, start: mid, end: p.end, depth: p.depth + 1, G: GR, H: HR, hist: histR))
        }
        finalRows = Array(UnsafeBufferPointer(start: rows, count: rowCount))
        return tree
    }

    /// A node of a boosting tree waiting to be split: its rows, gradient
    /// sums, and its histogram's buffer in the pool (-1: too small to split).
    private struct BoostNode {
        var node: Int
        var start: Int
        var end: Int
        var depth: Int
        var G: Double
        var H: Double
        var hist: Int
    }

    private func needsHistogram(_ count: Int, depth: Int) -> Bool {
        depth < limits.maxDepth && count >= 2 * limits.minLeafRows
    }

    /// The sums of the gradients and hessians of rows[range], in row order.
    private static func gradientSums(
        _ rows: UnsafeMutablePointer<Int32>, _ range: Range<Int>, _ gh: UnsafePointer<Double>
    )
        -> (Double, Double)
    {
        var G = 0.0
        var H = 0.0
        for i in range {
            let r = 2 * Int(rows[i])
            G += gh[r]
            H += gh[r + 1]
        }
        return (G, H)
    }

    /// The best split of a node: per feature, then the best gain in feature
    /// order (ties: the lower feature).
    private func bestBoostedSplit(
        of p: BoostNode, hist: UnsafeMutablePointer<SIMD4<Float>>, features: [Int], splits: inout [Split]
    ) -> Split {
        let slot = Self.binsPerFeature
        for s in 0..<features.count {
            splits[s] = bestBoostedSplit(
                feature: features[s], hist: hist + s * slot, G: p.G, H: p.H, total: p.end - p.start)
        }
        var split = Split()
        for s in splits where s.feature >= 0 && s.gain > split.gain { split = s }
        return split
    }

    /// The histograms of a split node's children that will be split in turn:
    /// the smaller child's built from its rows, the larger one's the parent's
    /// minus it (in the parent's buffer). Buffers no child needs go back.
    private func childHistograms(
        of p: BoostNode, mid: Int, features: [Int], pool: HistogramPool, build: (Int, Int) -> Int
    ) -> (left: Int, right: Int) {
        let leftCount = mid - p.start
        let rightCount = p.end - mid
        let needL = needsHistogram(leftCount, depth: p.depth + 1)
        let needR = needsHistogram(rightCount, depth: p.depth + 1)
        guard needL || needR else {
            pool.giveBack(p.hist)
            return (-1, -1)
        }
        let smallerIsLeft = leftCount <= rightCount
        let (sStart, sEnd) = smallerIsLeft ? (p.start, mid) : (mid, p.end)
        let needSmaller = smallerIsLeft ? needL : needR
        let needLarger = smallerIsLeft ? needR : needL
        let small = build(sStart, sEnd)
        var large = -1
        if needLarger {
            large = p.hist
            let a = pool[large]
            let b = pool[small]
            let slot = Self.binsPerFeature
            // Only the bins a feature has (and the missing bin) were ever written.
            for s in 0..<features.count {
                let o = s * slot
                for i in o..<(o + binner.binCount(features[s])) { a[i] -= b[i] }
                let m = o + Int(FeatureBinner.missingBin)
                a[m] -= b[m]
            }
        } else {
            pool.giveBack(p.hist)
        }
        var smallSlot = small
        if !needSmaller {
            pool.giveBack(small)
            smallSlot = -1
        }
        return smallerIsLeft ? (smallSlot, large) : (large, smallSlot)
    }

    /// Histograms of `rows` for each of `features` (slot s for features[s]), in row order.
    private func buildBoosted(
        rows: UnsafeBufferPointer<Int32>, ghc: UnsafePointer<SIMD4<Float>>, features: [Int32],
        into hist: UnsafeMutablePointer<SIMD4<Float>>, parallel: Bool
    ) {
        let k = features.count
        let slot = Self.binsPerFeature
        let width = binned.features
        let box = UnsafeSendable((rows, ghc, hist))
        features.withUnsafeBufferPointer { fb in
            binned.rowMajor.withUnsafeBufferPointer { rm in
                let fbox = UnsafeSendable((fb, rm))
                let work: @Sendable (Int, Int) -> Void = { s0, s1 in
                    let (rows, ghc, hist) = box.value
                    let (fb, rm) = fbox.value
                    for s in s0..<s1 { zeroBins(hist + s * slot, feature: Int(fb[s]), stride: 1, zero: .zero) }
                    let data = rm.baseAddress!
                    for r in rows {
                        let ri = Int(r)
                        let v = ghc[ri]
                        let base = data + ri * width
                        for s in s0..<s1 {
                            let p = hist + s * slot + Int(base[Int(fb[s])])
                            p.pointee += v
                        }
                    }
                }
                let blocks = parallel && rows.count >= 8192 && k >= 4 ? 4 : 1
                if blocks == 1 {
                    work(0, k)
                } else {
                    ParallelMap.forEachChunk(count: k, chunk: (k + blocks - 1) / blocks) {
                        work($0.lowerBound, $0.upperBound)
                    }
                }
            }
        }
    }

    private func bestBoostedSplit(feature f: Int, hist: UnsafePointer<SIMD4<Float>>, G: Double, H: Double, total: Int)
        -> Split
    {
        let bins = binner.binCount(f)
        let mb = hist[Int(FeatureBinner.missingBin)]
        let missingG = Double(mb[0])
        let missingH = Double(mb[1])
        let missingC = Int(mb[2])
        let lambda = limits.lambda
        let parentScore = G * G / (H + lambda)
        let minRows = limits.minLeafRows
        let minWeight = limits.minChildWeight
        var best = Split()
        var GL = 0.0
        var HL = 0.0
        var CL = 0
        for b in 0..<max(0, bins - 1) {
            // An empty bin moves no row: the same split as the bin before, which came first.
            let e = hist[b]
            if e[2] == 0 { continue }
            GL += Double(e[0])
            HL += Double(e[1])
            CL += Int(e[2])
            // Missing values right, then left.
            do {
                let cr = total - CL
                let gr = G - GL
                let hr = H - HL
                if CL >= minRows && cr >= minRows && HL >= minWeight && hr >= minWeight {
                    let gain = GL * GL / (HL + lambda) + gr * gr / (hr + lambda) - parentScore
                    if gain > best.gain { best = Split(feature: f, bin: b, missingLeft: false, gain: gain) }
                }
            }
            if missingC != 0 {
                let gl = GL + missingG
                let hl = HL + missingH
                let cl = CL + missingC
                let gr = G - gl
                let hr = H - hl
                let cr = total - cl
                if cl >= minRows && cr >= minRows && hl >= minWeight && hr >= minWeight {
                    let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentScore
                    if gain > best.gain { best = Split(feature: f, bin: b, missingLeft: true, gain: gain) }
                }
            }
        }
        return best
    }

    // MARK: Forest

    /// Builds a forest tree over distinct `rows` with integer weights (0 for
    /// rows left out) and 0/1 labels; g = -y and h = 1 per unit of weight.
    func growForest(
        rows inputRows: [Int32], weights: UnsafePointer<Int32>, labels: UnsafePointer<UInt8>, allowedFeatures: [Int],
        rng: inout SeededGenerator
    ) -> RegressionTree {
        var tree = RegressionTree()
        let rowCount = inputRows.count
        let rows = Self.rowBuffer(copying: inputRows)
        defer { rows.deallocate() }
        let scratch = rows + rowCount
        let maxK = min(limits.featuresPerSplit ?? allowedFeatures.count, allowedFeatures.count)
        let slot = Self.binsPerFeature * 2
        let hist = UnsafeMutablePointer<Int64>.allocate(capacity: max(1, maxK) * slot)
        defer { hist.deallocate() }
        let (P0, W0) = Self.weightedCounts(rows, 0..<rowCount, weights, labels)
        let root = tree.addNode(value: nodeValue(-Double(P0), Double(W0)), cover: Double(W0))
        var queue = [ForestNode(node: root, start: 0, end: rowCount, depth: 0, positives: P0, weight: W0)]
        var head = 0
        while head < queue.count {
            let p = queue[head]
            head += 1
            if p.depth >= limits.maxDepth || p.weight < 2 * limits.minLeafRows { continue }
            var features = allowedFeatures
            if let k = limits.featuresPerSplit, k < features.count {
                features.shuffle(using: &rng)
                features = Array(features.prefix(k)).sorted()
            }
            forestHistograms(
                rows: UnsafeBufferPointer(start: rows + p.start, count: p.end - p.start), weights: weights,
                labels: labels, features: features, into: hist)
            var split = Split()
            for s in 0..<features.count {
                let c = bestForestSplit(
                    feature: features[s], hist: hist + s * slot, positives: p.positives, weight: p.weight)
                if c.feature >= 0 && c.gain > split.gain { split = c }
            }
            guard split.feature >= 0, split.gain > limits.minGain else { continue }
            let mid = partition(rows, scratch: scratch, start: p.start, end: p.end, split: split)
            if mid == p.start || mid == p.end { continue }
            let (PL, WL) = Self.weightedCounts(rows, p.start..<mid, weights, labels)
            let PR = p.positives - PL
            let WR = p.weight - WL
            let l = tree.addNode(value: nodeValue(-Double(PL), Double(WL)), cover: Double(WL))
            let r = tree.addNode(value: nodeValue(-Double(PR), Double(WR)), cover: Double(WR))
            tree.setSplit(
                p.node, split: split, threshold: binner.threshold(feature: split.feature, bin: split.bin), left: l,
                right: r)
            queue.append(ForestNode(node: l, start: p.start, end: mid, depth: p.depth + 1, positives: PL, weight: WL))
            queue.append(ForestNode(node: r, start: mid, end: p.end, depth: p.depth + 1, positives: PR, weight: WR))
        }
        return tree
    }

    /// A forest node waiting to be split: its rows, weighted positives and weight.
    private struct ForestNode {
        var node: Int
        var start: Int
        var end: Int
        var depth: Int
        var positives: Int
        var weight: Int
    }

    /// The weighted positives and the weight of rows[range].
    private static func weightedCounts(
        _ rows: UnsafeMutablePointer<Int32>, _ range: Range<Int>, _ weights: UnsafePointer<Int32>,
        _ labels: UnsafePointer<UInt8>
    ) -> (positives: Int, weight: Int) {
        var positives = 0
        var weight = 0
        for i in range {
            let r = Int(rows[i])
            let w = Int(weights[r])
            weight += w
            positives += w * Int(labels[r])
        }
        return (positives, weight)
    }

    /// Per feature (slot s for features[s]), the weighted positives and weight of `rows` in each bin.
    private func forestHistograms(
        rows: UnsafeBufferPointer<Int32>, weights: UnsafePointer<Int32>, labels: UnsafePointer<UInt8>,
        features: [Int], into hist: UnsafeMutablePointer<Int64>
    ) {
        let slot = Self.binsPerFeature * 2
        let width = binned.features
        let k = features.count
        for s in 0..<k { zeroBins(hist + s * slot, feature: features[s], stride: 2, zero: 0) }
        features.withUnsafeBufferPointer { fb in
            binned.rowMajor.withUnsafeBufferPointer { rm in
                let data = rm.baseAddress!
                for r in rows {
                    let ri = Int(r)
                    let w = Int64(weights[ri])
                    let wy = w * Int64(labels[ri])
                    let base = data + ri * width
                    for s in 0..<k {
                        let q = hist + s * slot + Int(base[fb[s]]) * 2
                        q[0] += wy
                        q[1] += w
                    }
                }
            }
        }
    }

    /// The forest's split search: the boosting one with g = -y, h = 1 per
    /// unit of weight, all sums exact integers.
    private func bestForestSplit(feature f: Int, hist: UnsafePointer<Int64>, positives: Int, weight: Int) -> Split {
        let bins = binner.binCount(f)
        let m = Int(FeatureBinner.missingBin) * 2
        let missingP = Int(hist[m])
        let missingC = Int(hist[m + 1])
        let lambda = limits.lambda
        let G = -Double(positives)
        let H = Double(weight)
        let parentScore = G * G / (H + lambda)
        let minRows = limits.minLeafRows
        let minWeight = limits.minChildWeight
        var best = Split()
        var PL = 0
        var CL = 0
        for b in 0..<max(0, bins - 1) {
            // An empty bin moves no row: the same split as the bin before, which came first.
            if hist[2 * b + 1] == 0 { continue }
            PL += Int(hist[2 * b])
            CL += Int(hist[2 * b + 1])
            for missingLeft in 0..<2 {
                if missingLeft == 1 && missingC == 0 { break }
                let pl = missingLeft == 1 ? PL + missingP : PL
                let cl = missingLeft == 1 ? CL + missingC : CL
                let cr = weight - cl
                if cl < minRows || cr < minRows { continue }
                let gl = -Double(pl)
                let hl = Double(cl)
                let gr = G - gl
                let hr = H - hl
                if hl < minWeight || hr < minWeight { continue }
                let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentScore
                if gain > best.gain { best = Split(feature: f, bin: b, missingLeft: missingLeft == 1, gain: gain) }
            }
        }
        return best
    }

    // MARK: Shared

    /// Zeroes the bins a feature can have, 0..<binCount and the missing bin,
    /// `stride` values each: the only ones a histogram build writes or a split scan reads.
    @inline(__always)
    private func zeroBins<T>(_ slot: UnsafeMutablePointer<T>, feature: Int, stride: Int, zero: T) {
        slot.initialize(repeating: zero, count: stride * binner.binCount(feature))
        (slot + stride * Int(FeatureBinner.missingBin)).initialize(repeating: zero, count: stride)
    }

    /// Puts the rows of [start, end) that go left first, both sides keeping
    /// their order (rows stay ascending, so reads of their bins and gradients
    /// go forward through memory); `scratch` holds at least end - start rows.
    /// Returns where the right ones start.
    private func partition(
        _ rows: UnsafeMutablePointer<Int32>, scratch: UnsafeMutablePointer<Int32>, start: Int, end: Int,
        split: Split
    ) -> Int {
        precondition(
            binned.data.count == binned.rows * binned.features,
            "splits need the column-major bins (BinnedMatrix.addColumnMajor)")
        let column = split.feature * binned.rows
        let bin = split.bin
        let missingLeft = split.missingLeft
        return binned.data.withUnsafeBufferPointer { data in
            let d = data.baseAddress! + column
            var l = start
            var rc = 0
            for i in start..<end {
                let r = rows[i]
                let b = d[Int(r)]
                let goLeft = b == FeatureBinner.missingBin ? missingLeft : Int(b) <= bin
                rows[l] = r
                scratch[rc] = r
                l += goLeft ? 1 : 0
                rc += goLeft ? 0 : 1
            }
            (rows + l).update(from: scratch, count: rc)
            return l
        }
    }
}

extension RegressionTree {
    mutating func setSplit(_ node: Int, split: HistogramTreeLearner.Split, threshold: Double, left: Int, right: Int) {
        feature[node] = Int32(split.feature)
        self.threshold[node] = threshold
        missingLeft[node] = split.missingLeft
        self.left[node] = Int32(left)
        self.right[node] = Int32(right)
        gain[node] = split.gain
    }
}

/// Histogram buffers reused across the nodes of one tree: a node's buffer
/// passes to a child, or back to the pool for the next node to take.
final class HistogramPool {
    private let entries: Int
    private var buffers: [UnsafeMutablePointer<SIMD4<Float>>] = []
    private var free: [Int] = []

    init(entries: Int) { self.entries = entries }

    deinit { for b in buffers { b.deallocate() } }

    func take() -> Int {
        if let i = free.popLast() { return i }
        buffers.append(UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: entries))
        return buffers.count - 1
    }

    func giveBack(_ index: Int) { free.append(index) }

    subscript(index: Int) -> UnsafeMutablePointer<SIMD4<Float>> { buffers[index] }
}
