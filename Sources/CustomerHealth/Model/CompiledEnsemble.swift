import Foundation

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
        var constant = e.intercept
        var linearPart: LogisticRegression? = nil
        var linearScale = 0.0
        var members: [(RegressionTree, Double)] = []
        for member in e.members {
            let w = e.weights[member.kind] ?? 0
            guard w != 0 else { continue }
            let part = member.compiled(weight: w)
            constant += part.constant
            members += part.trees
            if let l = part.linear {
                linearPart = l
                linearScale = w
            }
        }
        intercept = constant
        linear = linearPart ?? LogisticRegression(means: [], scales: [], weights: [], intercept: 0)
        linearWeight = linearPart == nil ? 0 : linearScale
        for (tree, scale) in members {
            let base = Int32(nodes.count)
            roots.append(base)
            for i in 0..<tree.nodeCount {
                nodes.append(
                    Node(
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
                    guard let t = e.firstIndex(of: tree.threshold[i]), t + 1 < Int(FeatureBinner.missingBin) else {
                        return false
                    }
                    let shift = tree.missingLeft[i] ? 1 : 0
                    binNodes.append(
                        BinNode(
                            left: base + tree.left[i], slot: UInt16(f + shift * featureCount), limit: UInt8(t + shift)))
                }
                binValues.append(nodes[k].value)
                k += 1
            }
            // Depth: the longest root-to-leaf path.
            var depth = [Int32](repeating: 0, count: tree.nodeCount)
            var maxDepth: Int32 = 0
            for i in 0..<tree.nodeCount where tree.feature[i] >= 0 {
                let l = Int(tree.left[i])
                let r = Int(tree.right[i])
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
    public func probabilities(
        _ x: UnsafePointer<Double>, featureCount: Int, count: Int, into out: UnsafeMutablePointer<Double>
    ) {
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
                    var start = 0
                    while start < count {
                        let m = min(block, count - start)
                        let rows = x + start * featureCount
                        bin(rows, count: m, featureCount: featureCount, edges: pb.baseAddress!, into: bins)
                        let z = out + start
                        for i in 0..<m {
                            var s = intercept
                            if linearWeight != 0 { s += linearWeight * linear.margin(rows + i * featureCount) }
                            z[i] = s
                        }
                        addTrees(bins, width: width, count: m, nodes: nb.baseAddress!, values: vb.baseAddress!, to: z)
                        for i in 0..<m { z[i] = Metrics.sigmoid(z[i]) }
                        start += m
                    }
                }
            }
        }
    }

    /// Bins `count` rows (row-major), a feature at a time: bin(v) = the first
    /// edge >= v (the number of edges < v), 255 for missing; each row's bins
    /// twice in `bins` (`width` bytes a row), as the slot and the slot + 1.
    /// Each feature's edges are padded with +infinity to a power of two, so the
    /// search takes the same fixed number of halving steps for every row,
    /// without branches; eight rows' searches run side by side, 32 rows at a
    /// time (their values stay in L1).
    @inline(__always)
    private func bin(
        _ x: UnsafePointer<Double>, count m: Int, featureCount: Int, edges pe: UnsafePointer<Double>,
        into bins: UnsafeMutablePointer<UInt8>
    ) {
        let width = 2 * featureCount
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
                let col = x + sub * featureCount + f
                var i = 0
                @inline(__always) func put(_ i: Int, _ v: Double, _ pos: Int) {
                    let b: UInt8 =
                        v.isNaN
                        ? FeatureBinner.missingBin : UInt8(truncatingIfNeeded: Swift.min(pos, c))
                    let rb = bins + (sub + i) * width
                    rb[f] = b
                    rb[featureCount + f] = b &+ 1
                }
                while i + 8 <= sm {
                    let r = col + i * featureCount
                    let v0 = r[0]
                    let v1 = r[featureCount]
                    let v2 = r[2 * featureCount]
                    let v3 = r[3 * featureCount]
                    let v4 = r[4 * featureCount]
                    let v5 = r[5 * featureCount]
                    let v6 = r[6 * featureCount]
                    let v7 = r[7 * featureCount]
                    var p0 = 0
                    var p1 = 0
                    var p2 = 0
                    var p3 = 0
                    var p4 = 0
                    var p5 = 0
                    var p6 = 0
                    var p7 = 0
                    var h = top
                    while h > 0 {
                        let q = t + (h &- 1)
                        p0 &+= h & less(q[p0], v0)
                        p1 &+= h & less(q[p1], v1)
                        p2 &+= h & less(q[p2], v2)
                        p3 &+= h & less(q[p3], v3)
                        p4 &+= h & less(q[p4], v4)
                        p5 &+= h & less(q[p5], v5)
                        p6 &+= h & less(q[p6], v6)
                        p7 &+= h & less(q[p7], v7)
                        h >>= 1
                    }
                    put(i, v0, p0)
                    put(i + 1, v1, p1)
                    put(i + 2, v2, p2)
                    put(i + 3, v3, p3)
                    put(i + 4, v4, p4)
                    put(i + 5, v5, p5)
                    put(i + 6, v6, p6)
                    put(i + 7, v7, p7)
                    i += 8
                }
                while i < sm {
                    let v = col[i * featureCount]
                    var p = 0
                    var h = top
                    while h > 0 {
                        p &+= h & less(t[p &+ h &- 1], v)
                        h >>= 1
                    }
                    put(i, v, p)
                    i += 1
                }
            }
            sub += sm
        }
    }

    /// Adds every tree's leaf value for each of `count` binned rows to `z`,
    /// tree by tree (the order of the sums is the tree order).
    @inline(__always)
    private func addTrees(
        _ bins: UnsafeMutablePointer<UInt8>, width: Int, count m: Int, nodes: UnsafePointer<BinNode>,
        values: UnsafePointer<Double>, to z: UnsafeMutablePointer<Double>
    ) {
        @inline(__always) func step(_ k: Int, _ rb: UnsafeMutablePointer<UInt8>) -> Int {
            let nd = nodes[k]
            return Int(nd.left) &+ Int(unsafeBitCast(rb[Int(nd.slot)] > nd.limit, to: UInt8.self))
        }
        for (root, depth) in binTrees {
            // Eight rows at a time: eight independent walks in flight.
            var i = 0
            while i + 8 <= m {
                let r0 = bins + i * width
                var k0 = Int(root)
                var k1 = k0
                var k2 = k0
                var k3 = k0
                var k4 = k0
                var k5 = k0
                var k6 = k0
                var k7 = k0
                for _ in 0..<depth {
                    k0 = step(k0, r0)
                    k1 = step(k1, r0 + width)
                    k2 = step(k2, r0 + 2 * width)
                    k3 = step(k3, r0 + 3 * width)
                    k4 = step(k4, r0 + 4 * width)
                    k5 = step(k5, r0 + 5 * width)
                    k6 = step(k6, r0 + 6 * width)
                    k7 = step(k7, r0 + 7 * width)
                }
                z[i] += values[k0]
                z[i + 1] += values[k1]
                z[i + 2] += values[k2]
                z[i + 3] += values[k3]
                z[i + 4] += values[k4]
                z[i + 5] += values[k5]
                z[i + 6] += values[k6]
                z[i + 7] += values[k7]
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
    }
}
