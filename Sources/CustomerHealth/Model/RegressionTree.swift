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
    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double) -> Double {
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

/// Grows one tree on per-row gradients and hessians with feature histograms
/// over bin indices. Depth-wise; each node's histogram is built from its
/// rows, or, for the larger child, as parent minus sibling.
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

    /// Builds a tree over `rows` (may repeat: bootstrap) with per-row g and h.
    func grow(rows inputRows: [Int32], g: [Double], h: [Double], allowedFeatures: [Int], rng: inout SeededGenerator,
              parallelFeatures: Bool) -> RegressionTree {
        var tree = RegressionTree()
        var rows = inputRows
        let n = binned.rows
        struct Pending { var node: Int; var start: Int; var end: Int; var depth: Int; var G: Double; var H: Double }
        var G0 = 0.0, H0 = 0.0
        for r in rows { G0 += g[Int(r)]; H0 += h[Int(r)] }
        let root = tree.addNode(value: nodeValue(G0, H0), cover: H0)
        var queue = [Pending(node: root, start: 0, end: rows.count, depth: 0, G: G0, H: H0)]
        var head = 0
        while head < queue.count {
            let p = queue[head]
            head += 1
            if p.depth >= limits.maxDepth || p.end - p.start < 2 * limits.minLeafRows { continue }
            var features = allowedFeatures
            if let k = limits.featuresPerSplit, k < features.count {
                features.shuffle(using: &rng)
                features = Array(features.prefix(k)).sorted()
            }
            let split: Split = rows.withUnsafeBufferPointer { rowBuffer in
                bestSplit(rows: UnsafeBufferPointer(rebasing: rowBuffer[p.start..<p.end]), g: g, h: h, G: p.G, H: p.H,
                    features: features, parallel: parallelFeatures)
            }
            guard split.feature >= 0, split.gain > limits.minGain else { continue }
            // Partition the node's rows: left ones first.
            let f = split.feature
            let column = f * n
            var i = p.start
            var j = p.end - 1
            var GL = 0.0, HL = 0.0
            binned.data.withUnsafeBufferPointer { data in
                while i <= j {
                    let b = data[column + Int(rows[i])]
                    let goLeft = b == FeatureBinner.missingBin ? split.missingLeft : Int(b) <= split.bin
                    if goLeft { i += 1 } else { rows.swapAt(i, j); j -= 1 }
                }
            }
            let mid = i
            if mid == p.start || mid == p.end { continue }
            for k in p.start..<mid { GL += g[Int(rows[k])]; HL += h[Int(rows[k])] }
            let GR = p.G - GL
            let HR = p.H - HL
            let l = tree.addNode(value: nodeValue(GL, HL), cover: HL)
            let r = tree.addNode(value: nodeValue(GR, HR), cover: HR)
            tree.feature[p.node] = Int32(f)
            tree.threshold[p.node] = binner.threshold(feature: f, bin: split.bin)
            tree.missingLeft[p.node] = split.missingLeft
            tree.left[p.node] = Int32(l)
            tree.right[p.node] = Int32(r)
            tree.gain[p.node] = split.gain
            queue.append(Pending(node: l, start: p.start, end: mid, depth: p.depth + 1, G: GL, H: HL))
            queue.append(Pending(node: r, start: mid, end: p.end, depth: p.depth + 1, G: GR, H: HR))
        }
        return tree
    }

    private func bestSplit(rows: UnsafeBufferPointer<Int32>, g: [Double], h: [Double], G: Double, H: Double,
                           features: [Int], parallel: Bool) -> Split {
        let results = UnsafeMutableBufferPointer<Split>.allocate(capacity: features.count)
        results.initialize(repeating: Split())
        defer { results.deallocate() }
        let box = UnsafeSendable((results, rows))
        let work: @Sendable (Int) -> Void = { k in
            box.value.0[k] = self.bestSplit(feature: features[k], rows: box.value.1, g: g, h: h, G: G, H: H)
        }
        if parallel && features.count > 1 && rows.count > 20_000 {
            DispatchQueue.concurrentPerform(iterations: features.count, execute: work)
        } else {
            for k in 0..<features.count { work(k) }
        }
        // The best gain; ties go to the lower feature index, so threads never matter.
        var best = Split()
        for s in results where s.feature >= 0 && s.gain > best.gain { best = s }
        return best
    }

    private func bestSplit(feature f: Int, rows: UnsafeBufferPointer<Int32>, g: [Double], h: [Double], G: Double, H: Double) -> Split {
        var hg = [Double](repeating: 0, count: 256)
        var hh = [Double](repeating: 0, count: 256)
        var hc = [Int](repeating: 0, count: 256)
        let n = binned.rows
        let column = f * n
        binned.data.withUnsafeBufferPointer { data in
            g.withUnsafeBufferPointer { gp in
                h.withUnsafeBufferPointer { hp in
                    for r in rows {
                        let b = Int(data[column + Int(r)])
                        hg[b] += gp[Int(r)]
                        hh[b] += hp[Int(r)]
                        hc[b] += 1
                    }
                }
            }
        }
        let bins = binner.binCount(f)
        let missingG = hg[255], missingH = hh[255], missingC = hc[255]
        let lambda = limits.lambda
        let parentScore = G * G / (H + lambda)
        var best = Split()
        var GL = 0.0, HL = 0.0
        var CL = 0
        let total = rows.count
        for b in 0..<(bins - 1) {
            GL += hg[b]; HL += hh[b]; CL += hc[b]
            // Missing values right, then left.
            for missingLeft in [false, true] {
                let gl = missingLeft ? GL + missingG : GL
                let hl = missingLeft ? HL + missingH : HL
                let cl = missingLeft ? CL + missingC : CL
                let gr = G - gl, hr = H - hl, cr = total - cl
                if cl < limits.minLeafRows || cr < limits.minLeafRows { continue }
                if hl < limits.minChildWeight || hr < limits.minChildWeight { continue }
                let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentScore
                if gain > best.gain {
                    best = Split(feature: f, bin: b, missingLeft: missingLeft, gain: gain)
                }
                if missingC == 0 { break }
            }
        }
        return best
    }
}

import Dispatch
