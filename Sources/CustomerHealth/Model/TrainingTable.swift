/// A labelled table for the churn models: numeric columns with NaN for
/// missing, a 0/1 label per row, and an optional date per row (the
/// observation date, for validation by time).
public struct TrainingTable: Sendable {
    public var featureNames: [String]
    /// Column-major: columns[feature][row].
    public var columns: [[Double]]
    public var labels: [UInt8]
    public var rowIDs: [String]
    public var dates: [CalendarDay]?

    public init(featureNames: [String], columns: [[Double]], labels: [UInt8], rowIDs: [String], dates: [CalendarDay]? = nil) {
        self.featureNames = featureNames
        self.columns = columns
        self.labels = labels
        self.rowIDs = rowIDs
        self.dates = dates
    }

    public var rowCount: Int { labels.count }
    public var featureCount: Int { featureNames.count }
    public var positives: Int { labels.reduce(0) { $0 + Int($1) } }

    public func row(_ i: Int) -> [Double] { columns.map { $0[i] } }

    public func subset(_ rows: [Int]) -> TrainingTable {
        TrainingTable(
            featureNames: featureNames,
            columns: columns.map { c in rows.map { c[$0] } },
            labels: rows.map { labels[$0] },
            rowIDs: rows.map { rowIDs[$0] },
            dates: dates.map { d in rows.map { d[$0] } })
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
