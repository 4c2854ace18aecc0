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

    @inline(__always)
    mutating func insert(_ day: DayIndex) {
        if let last = days.last {
            if last == day { return }
            if last < day { days.append(day); return }
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
        if days.isEmpty { days = other.days; return }
        if days.last! < other.days.first! { days.append(contentsOf: other.days); return }
        if other.days.last! < days.first! { days = other.days + days; return }
        var out: [DayIndex] = []
        out.reserveCapacity(days.count + other.days.count)
        var i = 0, j = 0
        while i < days.count || j < other.days.count {
            if j == other.days.count || (i < days.count && days[i] < other.days[j]) {
                out.append(days[i]); i += 1
            } else if i == days.count || other.days[j] < days[i] {
                out.append(other.days[j]); j += 1
            } else {
                out.append(days[i]); i += 1; j += 1
            }
        }
        days = out
    }

    @inline(__always)
    static func lowerBound(_ a: [DayIndex], _ value: DayIndex) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if a[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Number of days in [from, to].
    func count(from: Int, to: Int) -> Int {
        guard from <= to, !days.isEmpty else { return 0 }
        let lo = DaySet.lowerBound(days, DayIndex(clamping: from))
        let hi = DaySet.lowerBound(days, DayIndex(clamping: to + 1))
        return to + 1 > Int(DayIndex.max) ? days.count - lo : hi - lo
    }

    func contains(_ day: Int) -> Bool { count(from: day, to: day) > 0 }

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
/// which files or threads added them: outputs stay byte-identical.
struct DayTotals: Sendable {
    private(set) var days: [DayIndex] = []
    private(set) var totals: [Int64] = []
    private(set) var counts: [UInt32] = []

    @inline(__always)
    mutating func add(_ day: DayIndex, _ value: Int64) {
        if let last = days.last, last == day {
            totals[totals.count - 1] += value
            counts[counts.count - 1] += 1
            return
        }
        if days.isEmpty || days.last! < day {
            days.append(day); totals.append(value); counts.append(1)
            return
        }
        let i = DaySet.lowerBound(days, day)
        if i < days.count && days[i] == day {
            totals[i] += value; counts[i] += 1
        } else {
            days.insert(day, at: i); totals.insert(value, at: i); counts.insert(1, at: i)
        }
    }

    mutating func merge(_ other: DayTotals) {
        if other.days.isEmpty { return }
        if days.isEmpty { self = other; return }
        if days.last! < other.days.first! {
            days.append(contentsOf: other.days); totals.append(contentsOf: other.totals); counts.append(contentsOf: other.counts)
            return
        }
        var merged = DayTotals()
        var i = 0, j = 0
        while i < days.count || j < other.days.count {
            if j == other.days.count || (i < days.count && days[i] < other.days[j]) {
                merged.days.append(days[i]); merged.totals.append(totals[i]); merged.counts.append(counts[i]); i += 1
            } else if i == days.count || other.days[j] < days[i] {
                merged.days.append(other.days[j]); merged.totals.append(other.totals[j]); merged.counts.append(other.counts[j]); j += 1
            } else {
                merged.days.append(days[i]); merged.totals.append(totals[i] + other.totals[j]); merged.counts.append(counts[i] + other.counts[j])
                i += 1; j += 1
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
        for i in range(from: from, to: to) { s += totals[i] }
        return s
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

/// Per-day event counts, one packed word per day (day << 48 | count): one
/// array, one allocation, appends in the common case.
struct DayCounter: Sendable {
    private(set) var words: [UInt64] = []
    private static let countMask: UInt64 = (1 << 48) - 1

    @inline(__always)
    mutating func increment(_ day: DayIndex) {
        let key = UInt64(day) << 48
        if let last = words.last {
            let lastDay = last >> 48
            if lastDay == UInt64(day) { words[words.count - 1] = last + 1; return }
            if lastDay < UInt64(day) { words.append(key | 1); return }
        } else {
            words.append(key | 1)
            return
        }
        let i = lowerBound(day)
        if i < words.count && words[i] >> 48 == UInt64(day) { words[i] += 1 } else { words.insert(key | 1, at: i) }
    }

    @inline(__always)
    private func lowerBound(_ day: DayIndex) -> Int {
        var lo = 0, hi = words.count
        let key = UInt64(day) << 48
        while lo < hi {
            let mid = (lo + hi) >> 1
            if words[mid] < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func merge(_ other: DayCounter) {
        if other.words.isEmpty { return }
        if words.isEmpty { words = other.words; return }
        if words.last! >> 48 < other.words.first! >> 48 { words.append(contentsOf: other.words); return }
        var out: [UInt64] = []
        out.reserveCapacity(words.count + other.words.count)
        var i = 0, j = 0
        while i < words.count || j < other.words.count {
            if j == other.words.count || (i < words.count && words[i] >> 48 < other.words[j] >> 48) {
                out.append(words[i]); i += 1
            } else if i == words.count || other.words[j] >> 48 < words[i] >> 48 {
                out.append(other.words[j]); j += 1
            } else {
                out.append(words[i] + (other.words[j] & DayCounter.countMask)); i += 1; j += 1
            }
        }
        words = out
    }

    /// Events on days in [from, to].
    func count(from: Int, to: Int) -> Int {
        guard from <= to, to >= 0, !words.isEmpty else { return 0 }
        let lo = lowerBound(DayIndex(clamping: from))
        let hi = to >= Int(DayIndex.max) ? words.count : lowerBound(DayIndex(clamping: to + 1))
        var s = 0
        if lo < hi { for i in lo..<hi { s += Int(words[i] & DayCounter.countMask) } }
        return s
    }

    var firstDay: Int? { words.first.map { Int($0 >> 48) } }
}

/// Day sets of one customer's users, features or training modules, keyed by
/// a 64-bit hash of the name. Names are never output, so only their identity
/// matters; two names of one customer colliding in 64 bits has a chance below
/// 1e-13 even for a customer with a thousand users. Small customers are a
/// linear scan over one contiguous array; large ones get a hash index.
struct NamedDaySets: Sendable {
    private(set) var hashes: [UInt64] = []
    private(set) var sets: [DaySet] = []
    private var index: [Int32] = []

    var count: Int { hashes.count }

    @inline(__always)
    private func position(of hash: UInt64) -> Int? {
        if index.isEmpty {
            return hashes.withUnsafeBufferPointer { hs in
                for i in 0..<hs.count where hs[i] == hash { return i }
                return nil
            }
        }
        let mask = index.count - 1
        var p = Int(truncatingIfNeeded: hash >> 7) & mask
        while true {
            let e = Int(index[p])
            if e < 0 { return nil }
            if hashes[e] == hash { return e }
            p = (p + 1) & mask
        }
    }

    private mutating func append(_ hash: UInt64, _ set: DaySet) {
        hashes.append(hash)
        sets.append(set)
        if hashes.count > 24 {
            if index.count < hashes.count * 2 { rebuildIndex() } else { place(hashes.count - 1) }
        }
    }

    private mutating func rebuildIndex() {
        var size = 64
        while size < hashes.count * 4 { size <<= 1 }
        index = Array(repeating: -1, count: size)
        for i in 0..<hashes.count { place(i) }
    }

    private mutating func place(_ i: Int) {
        let mask = index.count - 1
        var p = Int(truncatingIfNeeded: hashes[i] >> 7) & mask
        while index[p] >= 0 { p = (p + 1) & mask }
        index[p] = Int32(i)
    }

    @inline(__always)
    func find(_ hash: UInt64) -> Int? { position(of: hash) }

    @inline(__always)
    func lastDay(at i: Int) -> Int { Int(sets[i].days.last ?? 0) }

    @inline(__always)
    mutating func insert(at i: Int, day: DayIndex) { sets[i].insert(day) }

    @inline(__always)
    mutating func insert(hash: UInt64, day: DayIndex) {
        if let i = position(of: hash) {
            sets[i].insert(day)
        } else {
            var set = DaySet()
            set.insert(day)
            append(hash, set)
        }
    }

    mutating func merge(_ other: NamedDaySets) {
        for k in 0..<other.hashes.count {
            if let i = position(of: other.hashes[k]) { sets[i].merge(other.sets[k]) } else { append(other.hashes[k], other.sets[k]) }
        }
    }
}

/// Everything ingest keeps about one customer's events: the per-day series
/// from which any as-of date's features are computed.
struct CustomerActivity: Sendable {
    var logins = DaySet()
    var users = NamedDaySets()
    var features = NamedDaySets()
    var trainingModules = NamedDaySets()
    var apiCalls = DayCounter()
    var mobileSessions = DayCounter()
    var dashboardViews = DayCounter()
    var workOrders = DayCounter()
    var featureUses = DayCounter()
    var uptime = DayTotals()
    var savings = DayTotals()

    mutating func merge(_ o: CustomerActivity) {
        logins.merge(o.logins)
        users.merge(o.users)
        features.merge(o.features)
        trainingModules.merge(o.trainingModules)
        apiCalls.merge(o.apiCalls)
        mobileSessions.merge(o.mobileSessions)
        dashboardViews.merge(o.dashboardViews)
        workOrders.merge(o.workOrders)
        featureUses.merge(o.featureUses)
        uptime.merge(o.uptime)
        savings.merge(o.savings)
    }
}
