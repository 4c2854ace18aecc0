/// The first index of a sorted array whose element is not less than `key`:
/// every day series here is a sorted array searched this way.
@inline(__always)
func sortedLowerBound<T: Comparable>(_ a: [T], _ key: T) -> Int {
    var lo = 0
    var hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < key { lo = mid + 1 } else { hi = mid }
    }
    return lo
}

/// Day numbers since 1970-01-01 stored in 16 bits: enough until 2149, and half
/// the memory of the per-customer series that dominate the footprint.
typealias DayIndex = UInt16

/// A sorted set of days: the days a user, a feature or a login was seen.
///
/// Exports arrive in time order, so inserts are nearly always appends; a set
/// answers "any day in this window?" and "how many days in it?" by binary
/// search, which is what makes features cheap for any as-of date.
struct DaySet: Sendable {
    private(set) var days: [DayIndex] = []

    mutating func compact() { shrinkToFit(&days) }

    @inline(__always)
    mutating func insert(_ day: DayIndex) {
        if let last = days.last {
            if last == day { return }
            if last < day {
                days.append(day)
                return
            }
        } else {
            days.append(day)
            return
        }
        let i = DaySet.lowerBound(days, day)
        if i < days.count && days[i] == day { return }
        days.insert(day, at: i)
    }

    mutating func merge(_ other: DaySet) {
        if other.days.isEmpty { return }
        if days.isEmpty {
            days = other.days
            return
        }
        if days.last! < other.days.first! {
            days.append(contentsOf: other.days)
            return
        }
        if other.days.last! < days.first! {
            days = other.days + days
            return
        }
        var out: [DayIndex] = []
        out.reserveCapacity(days.count + other.days.count)
        var i = 0
        var j = 0
        while i < days.count || j < other.days.count {
            if j == other.days.count || (i < days.count && days[i] < other.days[j]) {
                out.append(days[i])
                i += 1
            } else if i == days.count || other.days[j] < days[i] {
                out.append(other.days[j])
                j += 1
            } else {
                out.append(days[i])
                i += 1
                j += 1
            }
        }
        days = out
    }

    @inline(__always)
    static func lowerBound(_ a: [DayIndex], _ value: DayIndex) -> Int { sortedLowerBound(a, value) }

    /// Number of days in [from, to].
    func count(from: Int, to: Int) -> Int {
        guard from <= to, !days.isEmpty else { return 0 }
        let lo = DaySet.lowerBound(days, DayIndex(clamping: from))
        let hi = DaySet.lowerBound(days, DayIndex(clamping: to + 1))
        return to + 1 > Int(DayIndex.max) ? days.count - lo : hi - lo
    }

    func contains(_ day: Int) -> Bool { count(from: day, to: day) > 0 }

    /// The days in [from, to].
    func days(from: Int, to: Int) -> ArraySlice<DayIndex> {
        guard from <= to, !days.isEmpty else { return [] }
        let lo = DaySet.lowerBound(days, DayIndex(clamping: max(0, from)))
        let hi = to + 1 > Int(DayIndex.max) ? days.count : DaySet.lowerBound(days, DayIndex(clamping: to + 1))
        return days[lo..<max(lo, hi)]
    }

    /// The latest day on or before `day`.
    func last(onOrBefore day: Int) -> Int? {
        guard day >= 0 else { return nil }
        let i = DaySet.lowerBound(days, DayIndex(clamping: day + 1))
        return i == 0 ? nil : Int(days[i - 1])
    }

    var first: Int? { days.first.map(Int.init) }
    var isEmpty: Bool { days.isEmpty }
}

/// Per-day totals of an integer quantity (events, milli-percent, 1/10000 of a currency unit).
///
/// Integers, not floating point, so that sums do not depend on the order in
/// which files or threads added them: outputs stay byte-identical. Sums
/// saturate at `Int64.max` (and counts at `UInt32.max`) instead of trapping:
/// the values added are never negative, so a saturated sum is the same
/// whatever the order, and `isSaturated` lets the run warn about it.
struct DayTotals: Sendable {
    private(set) var days: [DayIndex] = []
    private(set) var totals: [Int64] = []
    private(set) var counts: [UInt32] = []

    var count: Int { days.count }

    mutating func compact() {
        shrinkToFit(&days)
        shrinkToFit(&totals)
        shrinkToFit(&counts)
    }

    /// Heap bytes held (validate --memory).
    var heapBytes: Int {
        CustomerHealth.heapBytes(of: days) + CustomerHealth.heapBytes(of: totals) + CustomerHealth.heapBytes(of: counts)
    }

    @inline(__always)
    mutating func add(_ day: DayIndex, _ value: Int64) {
        if let last = days.last, last == day {
            totals[totals.count - 1] = Self.sum(totals[totals.count - 1], value)
            counts[counts.count - 1] = Self.sum(counts[counts.count - 1], 1)
            return
        }
        if days.isEmpty || days.last! < day {
            days.append(day)
            totals.append(value)
            counts.append(1)
            return
        }
        let i = DaySet.lowerBound(days, day)
        if i < days.count && days[i] == day {
            totals[i] = Self.sum(totals[i], value)
            counts[i] = Self.sum(counts[i], 1)
        } else {
            days.insert(day, at: i)
            totals.insert(value, at: i)
            counts.insert(1, at: i)
        }
    }

    mutating func merge(_ other: DayTotals) {
        if other.days.isEmpty { return }
        if days.isEmpty {
            self = other
            return
        }
        if days.last! < other.days.first! {
            days.append(contentsOf: other.days)
            totals.append(contentsOf: other.totals)
            counts.append(contentsOf: other.counts)
            return
        }
        var merged = DayTotals()
        var i = 0
        var j = 0
        while i < days.count || j < other.days.count {
            if j == other.days.count || (i < days.count && days[i] < other.days[j]) {
                merged.days.append(days[i])
                merged.totals.append(totals[i])
                merged.counts.append(counts[i])
                i += 1
            } else if i == days.count || other.days[j] < days[i] {
                merged.days.append(other.days[j])
                merged.totals.append(other.totals[j])
                merged.counts.append(other.counts[j])
                j += 1
            } else {
                merged.days.append(days[i])
                merged.totals.append(Self.sum(totals[i], other.totals[j]))
                merged.counts.append(Self.sum(counts[i], other.counts[j]))
                i += 1
                j += 1
            }
        }
        self = merged
    }

    private func range(from: Int, to: Int) -> Range<Int> {
        guard from <= to, !days.isEmpty, to >= 0 else { return 0..<0 }
        let lo = DaySet.lowerBound(days, DayIndex(clamping: from))
        let hi = to >= Int(DayIndex.max) ? days.count : DaySet.lowerBound(days, DayIndex(clamping: to + 1))
        return lo..<max(lo, hi)
    }

    /// Sum of the values on days in [from, to].
    func total(from: Int, to: Int) -> Int64 {
        var s: Int64 = 0
        for i in range(from: from, to: to) { s = Self.sum(s, totals[i]) }
        return s
    }

    /// True when the total of all days reached `Int64.max` and was held there.
    var isSaturated: Bool { total(from: 0, to: Int(DayIndex.max)) == .max }

    @inline(__always)
    static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : r
    }

    @inline(__always)
    static func sum(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : r
    }

    /// Number of values added on days in [from, to].
    func count(from: Int, to: Int) -> Int {
        var s = 0
        for i in range(from: from, to: to) { s += Int(counts[i]) }
        return s
    }

    /// Per-day (total, count) pairs for days in [from, to].
    func entries(from: Int, to: Int) -> [(day: Int, total: Int64, count: Int)] {
        range(from: from, to: to).map { (Int(days[$0]), totals[$0], Int(counts[$0])) }
    }

    var firstDay: Int? { days.first.map(Int.init) }
    var isEmpty: Bool { days.isEmpty }
}
