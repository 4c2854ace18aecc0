import Dispatch
import Foundation

/// The input values of a training table, column-major, each column in the
/// narrowest type that holds every one of its values exactly: 32-bit floats
/// when each value survives the round trip (counts, NaN for missing, shares
/// with few digits), 64-bit otherwise. Training reads each value back as the
/// Double it was, so a model trained from these values is the model a table
/// of Doubles gives, byte for byte, in about two thirds of the memory.
///
/// The values are the largest part of a table; the trainer frees them
/// (`release`) as soon as it has binned them and fitted the logistic
/// regression, before the trees are grown (docs/model.md, "Training at scale").
public final class FeatureValues: @unchecked Sendable {
    public enum Storage: Sendable, Equatable { case float32, float64 }

    /// A column's memory, read as Doubles.
    struct Column {
        let storage: Storage
        let base: UnsafeMutableRawPointer

        @inline(__always)
        subscript(row: Int) -> Double {
            switch storage {
            case .float32: return Double(base.assumingMemoryBound(to: Float.self)[row])
            case .float64: return base.assumingMemoryBound(to: Double.self)[row]
            }
        }

        /// Stores a value; a 32-bit column must only be given values it holds exactly.
        @inline(__always)
        func set(_ row: Int, _ value: Double) {
            switch storage {
            case .float32: base.assumingMemoryBound(to: Float.self)[row] = Float(value)
            case .float64: base.assumingMemoryBound(to: Double.self)[row] = value
            }
        }
    }

    public let rowCount: Int
    public private(set) var storage: [Storage]
    private var bases: [UnsafeMutableRawPointer]
    public private(set) var isReleased = false

    /// Memory for `rowCount` rows of each column (not yet written: pages are
    /// only resident once values are stored in them).
    public init(rowCount: Int, storage: [Storage]) {
        self.rowCount = rowCount
        self.storage = storage
        bases = storage.map { s in
            UnsafeMutableRawPointer.allocate(byteCount: max(1, rowCount) * FeatureValues.width(s), alignment: 16)
        }
    }

    deinit { release() }

    static func width(_ s: Storage) -> Int { s == .float32 ? 4 : 8 }

    public var columnCount: Int { storage.count }

    /// Bytes the values take.
    public var byteCount: Int { storage.reduce(0) { $0 + FeatureValues.width($1) * rowCount } }

    /// Whether a value is the same after a round trip through a 32-bit float.
    @inline(__always)
    public static func float32Holds(_ v: Double) -> Bool { v.isNaN || Double(Float(v)) == v }

    /// Frees the values. Reading them afterwards is a programming error (it traps).
    public func release() {
        guard !isReleased else { return }
        for b in bases { b.deallocate() }
        bases = []
        isReleased = true
    }

    @inline(__always)
    func column(_ j: Int) -> Column {
        precondition(!isReleased, "the training table's values were released (after training) and cannot be read")
        return Column(storage: storage[j], base: bases[j])
    }

    public func value(column j: Int, row i: Int) -> Double { column(j)[i] }

    /// Copies rows `rows` of column `j` into `out`, as Doubles.
    func copy(column j: Int, rows: Range<Int>, into out: UnsafeMutablePointer<Double>) {
        let c = column(j)
        switch c.storage {
        case .float32:
            let p = c.base.assumingMemoryBound(to: Float.self)
            for (k, i) in rows.enumerated() { out[k] = Double(p[i]) }
        case .float64:
            (out).update(from: c.base.assumingMemoryBound(to: Double.self) + rows.lowerBound, count: rows.count)
        }
    }

    /// Turns every 64-bit column whose values a 32-bit float holds exactly
    /// into a 32-bit one, a column at a time (at most one extra column of memory).
    public func compact() {
        precondition(!isReleased)
        let n = rowCount
        for j in 0..<storage.count where storage[j] == .float64 {
            let p = bases[j].assumingMemoryBound(to: Double.self)
            var exact = true
            for i in 0..<n where !FeatureValues.float32Holds(p[i]) {
                exact = false
                break
            }
            guard exact else { continue }
            let narrow = UnsafeMutableRawPointer.allocate(byteCount: max(1, n) * 4, alignment: 16)
            let q = narrow.assumingMemoryBound(to: Float.self)
            for i in 0..<n { q[i] = Float(p[i]) }
            bases[j].deallocate()
            bases[j] = narrow
            storage[j] = .float32
        }
    }

    /// Values from columns of Doubles, compacted.
    public convenience init(columns: [[Double]], rowCount: Int) {
        self.init(rowCount: rowCount, storage: [Storage](repeating: .float64, count: columns.count))
        for (j, c) in columns.enumerated() {
            precondition(c.count == rowCount, "column \(j) has \(c.count) values for \(rowCount) rows")
            c.withUnsafeBufferPointer { b in
                if rowCount > 0 {
                    bases[j].assumingMemoryBound(to: Double.self).update(from: b.baseAddress!, count: rowCount)
                }
            }
        }
        compact()
    }
}

/// The id of each row of a training table (a customer_id, or a table's id
/// column): an index per row into the distinct ids, so that a customer's
/// twelve rows hold its id once; or, for a table without an id column, the
/// row's 1-based number.
public struct RowIDs: Sendable, RandomAccessCollection {
    /// The distinct ids; nil: a row's id is its number, `index + 1`.
    public let names: [String]?
    public let index: ArraySlice<UInt32>

    public init(names: [String]?, index: ArraySlice<UInt32>) {
        self.names = names
        self.index = index
    }

    /// One id per row, as given.
    public init(_ ids: [String]) {
        names = ids
        index = ArraySlice((0..<ids.count).map { UInt32($0) })
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { index.count }

    public subscript(i: Int) -> String {
        let k = index[index.startIndex + i]
        if let names { return names[Int(k)] }
        return String(Int(k) + 1)
    }

    func sliced(_ rows: Range<Int>) -> RowIDs {
        RowIDs(names: names, index: index[(index.startIndex + rows.lowerBound)..<(index.startIndex + rows.upperBound)])
    }

    /// How many distinct ids the rows hold.
    public var distinctCount: Int {
        guard let names else { return index.count }
        var seen = [Bool](repeating: false, count: names.count)
        var n = 0
        for k in index where !seen[Int(k)] {
            seen[Int(k)] = true
            n += 1
        }
        return n
    }

    /// A value computed once per distinct id, given per row (e.g. the half
    /// of the validation rows a customer belongs to).
    func perRow<T>(_ compute: (String) -> T) -> [T] {
        guard let names else { return index.map { compute(String(Int($0) + 1)) } }
        var cache = [T?](repeating: nil, count: names.count)
        return index.map { k in
            if let v = cache[Int(k)] { return v }
            let v = compute(names[Int(k)])
            cache[Int(k)] = v
            return v
        }
    }
}

/// A labelled table for the churn models: input values (NaN for missing),
/// a 0/1 label per row, row ids, and an optional date per row (the
/// observation date, for validation by time). A table can be a slice of
/// the rows of a larger one, sharing its values (the training and the
/// validation rows of one table: no second copy for the split).
public struct TrainingTable: Sendable {
    public var featureNames: [String]
    public let values: FeatureValues
    /// This table's first row in `values`.
    public let firstRow: Int
    public var labels: [UInt8]
    public var rowIDs: RowIDs
    public var dates: [CalendarDay]?

    public init(
        featureNames: [String], columns: [[Double]], labels: [UInt8], rowIDs: [String], dates: [CalendarDay]? = nil
    ) {
        self.init(
            featureNames: featureNames, values: FeatureValues(columns: columns, rowCount: labels.count), labels: labels,
            rowIDs: RowIDs(rowIDs), dates: dates)
    }

    public init(
        featureNames: [String], values: FeatureValues, firstRow: Int = 0, labels: [UInt8], rowIDs: RowIDs,
        dates: [CalendarDay]? = nil
    ) {
        precondition(
            values.columnCount == featureNames.count && firstRow + labels.count <= values.rowCount
                && rowIDs.count == labels.count)
        self.featureNames = featureNames
        self.values = values
        self.firstRow = firstRow
        self.labels = labels
        self.rowIDs = rowIDs
        self.dates = dates
    }

    public var rowCount: Int { labels.count }
    public var featureCount: Int { featureNames.count }
    public var positives: Int { labels.reduce(0) { $0 + Int($1) } }

    /// The value of `feature` in row `row` (NaN: missing).
    @inline(__always)
    public func value(row: Int, feature: Int) -> Double { values.column(feature)[firstRow + row] }

    public func row(_ i: Int) -> [Double] { (0..<featureCount).map { value(row: i, feature: $0) } }

    /// Copies rows `rows` (of this table) of one feature into `out` as Doubles.
    func copy(feature: Int, rows: Range<Int>, into out: UnsafeMutablePointer<Double>) {
        values.copy(column: feature, rows: (firstRow + rows.lowerBound)..<(firstRow + rows.upperBound), into: out)
    }

    /// Rows `rows` of this table, sharing its values (no copy).
    public func slice(_ rows: Range<Int>) -> TrainingTable {
        TrainingTable(
            featureNames: featureNames, values: values, firstRow: firstRow + rows.lowerBound,
            labels: Array(labels[rows]),
            rowIDs: rowIDs.sliced(rows), dates: dates.map { Array($0[rows]) })
    }

    /// The rows `rows` (any order), copied into a table of their own.
    public func subset(_ rows: [Int]) -> TrainingTable {
        let out = FeatureValues(rowCount: rows.count, storage: values.storage)
        for j in 0..<featureCount {
            let from = values.column(j)
            let to = out.column(j)
            for (k, i) in rows.enumerated() { to.set(k, from[firstRow + i]) }
        }
        return TrainingTable(
            featureNames: featureNames, values: out, labels: rows.map { labels[$0] },
            rowIDs: RowIDs(
                names: rowIDs.names, index: ArraySlice(rows.map { rowIDs.index[rowIDs.index.startIndex + $0] })),
            dates: dates.map { d in rows.map { d[$0] } })
    }

    /// The values column by column: `columns[feature][row]`.
    public var columns: Columns { Columns(table: self) }

    public struct Columns: RandomAccessCollection, Sendable {
        let table: TrainingTable
        public var startIndex: Int { 0 }
        public var endIndex: Int { table.featureCount }
        public subscript(feature: Int) -> Column { Column(table: table, feature: feature) }
    }

    public struct Column: RandomAccessCollection, Sendable {
        let table: TrainingTable
        let feature: Int
        public var startIndex: Int { 0 }
        public var endIndex: Int { table.rowCount }
        public subscript(row: Int) -> Double { table.value(row: row, feature: feature) }
    }
}

/// A small, fast, seedable generator (SplitMix64): every random choice in
/// training comes from one of these, so a seed fixes the model file.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for one member or one tree, independent of thread scheduling.
    public static func derive(_ seed: UInt64, _ stream: UInt64) -> SeededGenerator {
        var g = SeededGenerator(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        return g
    }

    public mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

extension RandomNumberGenerator {
    /// The first `k` elements `Array(0..<n).shuffle(using:)` would leave, in
    /// that order, and the generator in the state the whole shuffle leaves
    /// it in, in O(k) memory: the shuffle fixes position i at its step i,
    /// so the first k steps decide the prefix; the later steps only draw.
    mutating func shuffledPrefix(of n: Int, count k: Int) -> [Int] {
        guard n > 1 else { return Array(0..<n).prefix(k).map { $0 } }
        var moved: [Int: Int] = [:]
        moved.reserveCapacity(2 * min(k, n))
        func at(_ i: Int) -> Int { moved[i] ?? i }
        var out: [Int] = []
        out.reserveCapacity(min(k, n))
        var amount = n
        var current = 0
        while amount > 1 {
            let random = Int.random(in: 0..<amount, using: &self)
            amount -= 1
            if current < k {
                let other = current + random
                let a = at(current)
                let b = at(other)
                moved[current] = b
                moved[other] = a
                out.append(b)
            }
            current += 1
        }
        if current < k && current < n { out.append(at(current)) }
        return out
    }
}
