import Dispatch

/// Quantile binning of each feature into at most 255 bins: up to 254 value
/// bins with quantile edges, and bin 255 for a missing value. Trees train on
/// the bin indices (the histogram method of LightGBM and scikit-learn's
/// HistGradientBoosting) and store the edge values, so scoring needs no bins.
public struct FeatureBinner: Sendable, Equatable {
    public static let missingBin: UInt8 = 255
    public static let maxValueBins = 254

    /// Per feature: ascending upper edges; value v falls in the first bin b
    /// with v <= edges[b], or in the last bin.
    public var edges: [[Double]]

    public init(edges: [[Double]]) { self.edges = edges }

    /// Edges from the quantiles of each column (at most `sample` rows looked at, seeded).
    public static func fit(_ table: TrainingTable, maxBins: Int = 254, sample: Int = 200_000, seed: UInt64 = 1)
        -> FeatureBinner
    {
        var rng = SeededGenerator.derive(seed, 0xB1)
        let n = table.rowCount
        // The rows of a seeded shuffle's first `sample` places, in row order
        // (drawn without holding a shuffled copy of every row index).
        let rows = n > sample ? rng.shuffledPrefix(of: n, count: sample).sorted() : Array(0..<n)
        let bins = max(2, min(maxBins, maxValueBins))
        let edgesPerFeature = UnsafeMutableBufferPointer<[Double]>.allocate(capacity: table.featureCount)
        edgesPerFeature.initialize(repeating: [])
        defer { edgesPerFeature.deallocate() }
        let box = UnsafeSendable(edgesPerFeature)
        let sampleRows = rows
        // Features in parallel: each one's edges depend on its column only.
        ParallelMap.forEachChunk(count: table.featureCount, chunk: 1) { range in
            for f in range { box.value[f] = edgesOf(sampleRows.map { table.value(row: $0, feature: f) }, bins: bins) }
        }
        return FeatureBinner(edges: Array(edgesPerFeature))
    }

    private static func edgesOf(_ sampled: [Double], bins: Int) -> [Double] {
        let values = stableSorted(sampled.filter { !$0.isNaN })
        guard !values.isEmpty else { return [] }
        var distinct: [Double] = []
        for v in values where distinct.last != v { distinct.append(v) }
        if distinct.count <= bins {
            // Few distinct values: a bin each, edges halfway between them.
            var e: [Double] = []
            for i in 0..<(distinct.count - 1) { e.append((distinct[i] + distinct[i + 1]) / 2) }
            return e
        }
        var e: [Double] = []
        for q in 1..<bins {
            let v = values[min(values.count - 1, (q * values.count) / bins)]
            if e.last.map({ v > $0 }) ?? true { e.append(v) }
        }
        return e
    }

    /// The values (no NaN) in ascending order, equal ones (-0.0 and 0.0 too) in
    /// their input order: what the stable `sort()` gives, by an LSD radix sort on
    /// order-preserving keys, 8 bits a pass; a pass whose byte every key shares is skipped.
    static func stableSorted(_ values: [Double]) -> [Double] {
        let n = values.count
        if n < 4096 { return values.sorted() }
        var keys = [UInt64](repeating: 0, count: n)
        var keys2 = keys
        var bits = [UInt64](repeating: 0, count: n)
        var bits2 = bits
        var counts = [Int](repeating: 0, count: 8 * 256)
        for i in 0..<n {
            let b = (values[i] + 0).bitPattern  // -0.0 + 0 is 0.0: the two tie
            let k = b >> 63 == 1 ? ~b : b | (1 << 63)
            keys[i] = k
            bits[i] = values[i].bitPattern
            for byte in 0..<8 { counts[byte * 256 + Int((k >> UInt64(8 * byte)) & 255)] += 1 }
        }
        for byte in 0..<8 {
            let c = byte * 256
            if counts[(c)..<(c + 256)].contains(n) { continue }
            var offsets = [Int](repeating: 0, count: 256)
            var sum = 0
            for d in 0..<256 {
                offsets[d] = sum
                sum += counts[c + d]
            }
            let shift = UInt64(8 * byte)
            for i in 0..<n {
                let d = Int((keys[i] >> shift) & 255)
                let o = offsets[d]
                keys2[o] = keys[i]
                bits2[o] = bits[i]
                offsets[d] = o + 1
            }
            swap(&keys, &keys2)
            swap(&bits, &bits2)
        }
        return bits.map { Double(bitPattern: $0) }
    }

    @inline(__always)
    public func bin(_ value: Double, feature: Int) -> UInt8 {
        if value.isNaN { return FeatureBinner.missingBin }
        let e = edges[feature]
        var lo = 0
        var hi = e.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if value <= e[mid] { hi = mid } else { lo = mid + 1 }
        }
        return UInt8(lo)
    }

    /// The value a split "bin <= b" corresponds to: x <= threshold(b).
    public func threshold(feature: Int, bin: Int) -> Double {
        let e = edges[feature]
        return bin < e.count ? e[bin] : Double.greatestFiniteMagnitude
    }

    public func binCount(_ feature: Int) -> Int { edges[feature].count + 1 }

    /// Bins of a whole table, row-major (`rowMajor[row * features + feature]`).
    /// The column-major copy that splits read is made later
    /// (`BinnedMatrix.addColumnMajor`), once the raw values are freed.
    public func transform(_ table: TrainingTable) -> BinnedMatrix {
        let n = table.rowCount
        let width = table.featureCount
        // bin(v) without branches: the edges padded with +infinity to 2^steps values,
        // a fixed number of halving steps; the count of edges < v, at most the edge
        // count (only v = +infinity counts the padding: inf - inf has the sign bit set).
        let padded: [(steps: Int, edges: [Double], count: Int)] = edges.map { e in
            var steps = 0
            while (1 << steps) < e.count + 1 { steps += 1 }
            return (steps, e + repeatElement(Double.infinity, count: (1 << steps) - e.count), e.count)
        }
        var out = [UInt8](repeating: 0, count: n * width)
        out.withUnsafeMutableBufferPointer { d in
            let box = UnsafeSendable(d)
            // Chunks of rows in parallel: each chunk's bytes are written by one worker.
            ParallelMap.forEachChunk(count: n, threads: ParallelMap.cores, minimum: 4096) { range in
                let lo = range.lowerBound
                let hi = range.upperBound
                let values = UnsafeMutablePointer<Double>.allocate(capacity: hi - lo)
                defer { values.deallocate() }
                let out = box.value.baseAddress!
                for f in 0..<width {
                    table.copy(feature: f, rows: lo..<hi, into: values)
                    let (steps, pe, c) = padded[f]
                    pe.withUnsafeBufferPointer { pb in
                        let t = pb.baseAddress!
                        for i in lo..<hi {
                            let v = values[i - lo]
                            var p = 0
                            var h = (1 << steps) >> 1
                            while h > 0 {
                                p &+= h & (Int(bitPattern: UInt((t[p &+ h &- 1] - v).bitPattern)) >> 63)
                                h >>= 1
                            }
                            out[i * width + f] =
                                v.isNaN ? FeatureBinner.missingBin : UInt8(truncatingIfNeeded: Swift.min(p, c))
                        }
                    }
                }
            }
        }
        return BinnedMatrix(rows: n, features: width, rowMajor: out)
    }
}

/// Bin indices, row-major: rowMajor[row * features + feature] (histograms
/// and tree walks read a row's bins together); and, once added, the same
/// column-major: data[feature * rows + row] (splits partition the rows of a
/// node by one feature's column).
public struct BinnedMatrix: Sendable {
    public let rows: Int
    public let features: Int
    public let rowMajor: [UInt8]
    public private(set) var data: [UInt8] = []

    public init(rows: Int, features: Int, rowMajor: [UInt8]) {
        self.rows = rows
        self.features = features
        self.rowMajor = rowMajor
    }

    /// Adds the column-major copy.
    public mutating func addColumnMajor() {
        guard data.isEmpty && rows * features > 0 else { return }
        let n = rows
        let w = features
        data = [UInt8](unsafeUninitializedCapacity: n * w) { out, initialized in
            rowMajor.withUnsafeBufferPointer { rm in
                let box = UnsafeSendable((out, rm))
                // Blocks of rows (which stay in cache while their columns are written).
                ParallelMap.forEachChunk(count: n, chunk: 8192) { range in
                    let (out, rm) = box.value
                    let lo = range.lowerBound
                    let hi = range.upperBound
                    for f in 0..<w {
                        let o = out.baseAddress! + f * n
                        let r = rm.baseAddress! + f
                        for i in lo..<hi { o[i] = r[i * w] }
                    }
                }
            }
            initialized = n * w
        }
    }
}
