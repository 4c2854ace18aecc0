/// Everything ingest keeps about one customer's events, in a handful of
/// arrays per customer: with 100,000 customers, the per-array overhead of
/// one small array per user or per event type would cost more memory than
/// the days themselves.
struct CustomerActivity: Sendable {
    var logins = DaySet()
    var names = NameTable()
    /// Sorted, unique (day << 16 | name slot): the days each user was active,
    /// each feature used, each training module completed.
    var nameDays: [UInt32] = []
    var counts = EventCounts()
    /// Named product events (the `events:` vocabulary's `keep`), per day.
    var products = ProductEventCounts()
    /// Events mapped to `feature` by `events:`, per day and name (registry
    /// numbers): counted in `counts` as feature_use too, kept apart here so
    /// that nothing counts them twice.
    var namedFeatures = ProductEventCounts()
    var uptime = UptimeDays()
    var savings = DayTotals()

    @inline(__always)
    mutating func insertName(_ kind: NameKind, hash: UInt64, day: DayIndex) {
        let slot = names.slot(for: kind.tag(hash))
        insertNameDay(UInt32(day) << 16 | UInt32(slot))
    }

    @inline(__always)
    mutating func insertNameDay(_ key: UInt32) {
        if let last = nameDays.last {
            if last == key { return }
            if last < key {
                nameDays.append(key)
                return
            }
        } else {
            nameDays.append(key)
            return
        }
        let i = lowerBound(nameDays, key)
        if i < nameDays.count && nameDays[i] == key { return }
        nameDays.insert(key, at: i)
    }

    @inline(__always)
    func lowerBound(_ a: [UInt32], _ key: UInt32) -> Int { sortedLowerBound(a, key) }

    /// Index range of nameDays with day in [from, to].
    func nameDayRange(from: Int, to: Int) -> Range<Int> {
        guard from <= to, to >= 0, !nameDays.isEmpty else { return 0..<0 }
        let lo = lowerBound(nameDays, UInt32(max(0, from)) << 16)
        let hi = to >= Int(DayIndex.max) ? nameDays.count : lowerBound(nameDays, UInt32(to + 1) << 16)
        return lo..<max(lo, hi)
    }

    /// Distinct names of a kind active on some day in [from, to].
    func distinctNames(_ kind: NameKind, from: Int, to: Int) -> Int {
        let range = nameDayRange(from: from, to: to)
        if range.isEmpty { return 0 }
        // The slots seen, as bits in a temporary (stack) buffer: this runs a
        // few times per customer and date, and an array allocation each time showed in replay's profile.
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (names.count + 63) / 64) { seen in
            seen.initialize(repeating: 0)
            var n = 0
            nameDays.withUnsafeBufferPointer { keys in
                for i in range {
                    let slot = Int(keys[i] & 0xFFFF)
                    let bit: UInt64 = 1 << UInt64(slot & 63)
                    if seen[slot >> 6] & bit == 0 && names.kind(slot) == kind {
                        seen[slot >> 6] |= bit
                        n += 1
                    }
                }
            }
            return n
        }
    }

    /// True when nothing was recorded for the customer.
    var isEmpty: Bool {
        logins.isEmpty && nameDays.isEmpty && counts.words.isEmpty && products.words.isEmpty
            && namedFeatures.words.isEmpty
            && uptime.days.isEmpty && savings.isEmpty
    }

    /// Events on days in [from, to] (the counted kinds and named product
    /// events, plus one per login day), each weighted by `weights[to - day]`:
    /// recent use counts more.
    func weightedEvents(from: Int, to: Int, weights: [Double]) -> Double {
        guard from <= to, to >= 0 else { return 0 }
        var s = 0.0
        let words = counts.words
        if !words.isEmpty {
            for i in counts.wordRange(from: from, to: to) {
                s += weights[to - Int(words[i] >> 16)] * Double(words[i] & EventCounts.countMask)
            }
        }
        for d in logins.days(from: from, to: to) { s += weights[to - Int(d)] }
        for w in products.words {
            let d = ProductEventCounts.day(w)
            if d >= from && d <= to { s += weights[to - d] * Double(ProductEventCounts.count(w)) }
        }
        return s
    }

    /// (name, day) pairs of a kind in the 7, 28 and 90 days ending on `t` (modules completed,
    /// say), and the latest such day on or before `t`.
    func nameWindowCounts(_ kind: NameKind, t: Int) -> (Int, Int, Int, Int?) {
        var c7 = 0
        var c28 = 0
        var c90 = 0
        var last: Int? = nil
        let range = nameDayRange(from: t - 89, to: t)
        for i in range where names.kind(Int(nameDays[i] & 0xFFFF)) == kind {
            let d = Int(nameDays[i] >> 16)
            c90 += 1
            if d > t - 28 { c28 += 1 }
            if d > t - 7 { c7 += 1 }
            last = d
        }
        if last == nil && !nameDays.isEmpty && t >= 0 {
            var i = (range.isEmpty ? nameDayRange(from: 0, to: t).upperBound : range.lowerBound) - 1
            while i >= 0 {
                if names.kind(Int(nameDays[i] & 0xFFFF)) == kind {
                    last = Int(nameDays[i] >> 16)
                    break
                }
                i -= 1
            }
        }
        return (c7, c28, c90, last)
    }

    /// Named product events on days in [from, to], all names together.
    func productEvents(from: Int, to: Int) -> Int {
        var s = 0
        for w in products.words {
            let d = ProductEventCounts.day(w)
            if d >= from && d <= to { s += ProductEventCounts.count(w) }
        }
        return s
    }

    /// (name, day) pairs of a kind in [from, to]: user-days for daily active users.
    func namePairs(_ kind: NameKind, from: Int, to: Int) -> Int {
        var n = 0
        for i in nameDayRange(from: from, to: to) where names.kind(Int(nameDays[i] & 0xFFFF)) == kind { n += 1 }
        return n
    }

    /// Days in [from, to] on which any user was active.
    func activeDayCount(from: Int, to: Int) -> Int {
        var n = 0
        var last = -1
        for i in nameDayRange(from: from, to: to) where names.kind(Int(nameDays[i] & 0xFFFF)) == .user {
            let d = Int(nameDays[i] >> 16)
            if d != last {
                n += 1
                last = d
            }
        }
        return n
    }

    /// Days with activity, ascending (the inactivity churn definition):
    /// days on which any user did anything, or with `filter`, days with an
    /// event of one of its kinds or product events.
    func activeDays(_ filter: ActivityFilter? = nil) -> [Int] {
        var out: [Int] = []
        guard let filter else {
            for key in nameDays where names.kind(Int(key & 0xFFFF)) == .user {
                let d = Int(key >> 16)
                if out.last != d { out.append(d) }
            }
            return out
        }
        var days = Set<Int>()
        if filter.kinds.contains(.login) { for d in logins.days { days.insert(Int(d)) } }
        let counted = Set(filter.kinds.compactMap(EventCounts.Kind.init))
        if !counted.isEmpty {
            for w in counts.words where counted.contains(EventCounts.Kind(rawValue: (w >> 13) & 7)!) {
                days.insert(Int(w >> 16))
            }
        }
        if filter.kinds.contains(.trainingCompleted) {
            for key in nameDays where names.kind(Int(key & 0xFFFF)) == .module { days.insert(Int(key >> 16)) }
        }
        if !filter.products.isEmpty {
            for w in products.words where filter.products.contains(ProductEventCounts.event(w)) {
                days.insert(ProductEventCounts.day(w))
            }
            for w in namedFeatures.words where filter.products.contains(ProductEventCounts.event(w)) {
                days.insert(ProductEventCounts.day(w))
            }
        }
        return days.sorted()
    }

    mutating func merge(_ o: CustomerActivity) {
        logins.merge(o.logins)
        if !o.nameDays.isEmpty {
            // Slots are per worker: map the other's slots to ours by name hash.
            if names.count == 0 {
                // Nothing here yet: take the other's names and days as they are.
                names = o.names
                nameDays = o.nameDays
                counts.merge(o.counts)
                products.merge(o.products)
                namedFeatures.merge(o.namedFeatures)
                uptime.merge(o.uptime)
                savings.merge(o.savings)
                return
            }
            var map = [UInt32](repeating: 0, count: o.names.count)
            for s in 0..<o.names.count { map[s] = UInt32(names.slot(for: o.names.hashes[s])) }
            var incoming = o.nameDays.map { ($0 & 0xFFFF_0000) | map[Int($0 & 0xFFFF)] }
            incoming.sort()
            if nameDays.isEmpty {
                nameDays = incoming
            } else if nameDays.last! < incoming.first! {
                nameDays.append(contentsOf: incoming)
            } else {
                var out: [UInt32] = []
                out.reserveCapacity(nameDays.count + incoming.count)
                var i = 0
                var j = 0
                while i < nameDays.count || j < incoming.count {
                    if j == incoming.count || (i < nameDays.count && nameDays[i] < incoming[j]) {
                        out.append(nameDays[i])
                        i += 1
                    } else if i == nameDays.count || incoming[j] < nameDays[i] {
                        out.append(incoming[j])
                        j += 1
                    } else {
                        out.append(nameDays[i])
                        i += 1
                        j += 1
                    }
                }
                nameDays = out
            }
        }
        counts.merge(o.counts)
        products.merge(o.products)
        namedFeatures.merge(o.namedFeatures)
        uptime.merge(o.uptime)
        savings.merge(o.savings)
    }

    /// Drops spare capacity once ingest is done: long runs of appends leave up to half of each array unused.
    mutating func compact() {
        shrinkToFit(&nameDays)
        logins.compact()
        names.compact()
        savings.compact()
        counts.compact()
        products.compact()
        namedFeatures.compact()
        uptime.compact()
    }
}

enum NameKind: UInt64 {
    case user = 0
    case feature = 1
    case module = 2

    /// The name's hash with its kind in the top two bits, so one table holds all three.
    @inline(__always)
    func tag(_ hash: UInt64) -> UInt64 { (hash & 0x3FFF_FFFF_FFFF_FFFF) | (rawValue << 62) }
}

/// One customer's distinct names (users, features, modules) as 64-bit
/// hashes, numbered in order of appearance. Names are never output, so only
/// their identity matters; two names of one customer colliding in 62 bits has
/// a chance below 1e-12 even for a customer with a thousand users. At most
/// 65,535 slots: names past that share the last one (documented).
struct NameTable: Sendable {
    private(set) var hashes: [UInt64] = []
    private var index: [Int32] = []

    var count: Int { hashes.count }

    @inline(__always)
    func kind(_ slot: Int) -> NameKind { NameKind(rawValue: hashes[slot] >> 62)! }

    @inline(__always)
    func find(_ hash: UInt64) -> Int? {
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

    @inline(__always)
    mutating func slot(for hash: UInt64) -> Int {
        if let i = find(hash) { return i }
        if hashes.count >= 0xFFFF { return 0xFFFE }
        hashes.append(hash)
        if hashes.count > 24 {
            if index.count < hashes.count * 2 { rebuildIndex() } else { place(hashes.count - 1) }
        }
        return hashes.count - 1
    }

    mutating func compact() { shrinkToFit(&hashes) }

    /// Heap bytes held (validate --memory).
    var heapBytes: Int { CustomerHealth.heapBytes(of: hashes) + CustomerHealth.heapBytes(of: index) }

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
}

/// Event counts per (day, type) in 32-bit words: day << 16 | type << 13 |
/// count. A (day, type) whose count passes 8,191 continues in another word.
struct EventCounts: Sendable {
    enum Kind: UInt32, CaseIterable {
        case featureUse = 0
        case apiCall, mobileSession, dashboardView, workOrder

        /// The counted kind of a built-in event kind (logins and training are kept as days and names).
        init?(_ kind: EventKind) {
            switch kind {
            case .featureUse: self = .featureUse
            case .apiCall: self = .apiCall
            case .mobileSession: self = .mobileSession
            case .dashboardView: self = .dashboardView
            case .workOrderCompleted: self = .workOrder
            case .login, .trainingCompleted: return nil
            }
        }
    }
    private(set) var words: [UInt32] = []
    static let countMask: UInt32 = 0x1FFF

    @inline(__always)
    private func lowerBound(_ key: UInt32) -> Int { sortedLowerBound(words, key) }

    @inline(__always)
    mutating func increment(_ kind: Kind, day: DayIndex, by n: Int = 1) {
        var remaining = n
        let prefix = UInt32(day) << 16 | kind.rawValue << 13
        while remaining > 0 {
            // Words of one (day, type) are contiguous; the one with room, if
            // any, sorts first (the full ones end in 8191).
            let start: Int
            if let last = words.last, last & ~EventCounts.countMask < prefix {
                start = words.count
            } else {
                start = lowerBound(prefix)
            }
            if start < words.count && words[start] & ~EventCounts.countMask == prefix
                && words[start] & EventCounts.countMask < EventCounts.countMask
            {
                let add = min(Int(EventCounts.countMask - (words[start] & EventCounts.countMask)), remaining)
                words[start] += UInt32(add)
                remaining -= add
            } else {
                let add = min(Int(EventCounts.countMask), remaining)
                words.insert(prefix | UInt32(add), at: start)
                remaining -= add
            }
        }
    }

    /// The words of days in [from, to] (from <= to, to >= 0).
    func wordRange(from: Int, to: Int) -> Range<Int> {
        let lo = lowerBound(UInt32(max(0, from)) << 16)
        let hi = to >= Int(DayIndex.max) ? words.count : lowerBound(UInt32(to + 1) << 16)
        return lo..<max(lo, hi)
    }

    /// Events of a type on days in [from, to].
    func count(_ kind: Kind, from: Int, to: Int) -> Int {
        guard from <= to, to >= 0, !words.isEmpty else { return 0 }
        var s = 0
        for i in wordRange(from: from, to: to) where (words[i] >> 13) & 7 == kind.rawValue {
            s += Int(words[i] & EventCounts.countMask)
        }
        return s
    }

    /// Events of a kind in the 7, 28 and 90 days ending on `t`, and the latest day with one on or before `t`.
    func windowCounts(_ kind: Kind, t: Int) -> (Int, Int, Int, Int?) {
        var c7 = 0
        var c28 = 0
        var c90 = 0
        var last: Int? = nil
        guard !words.isEmpty, t >= 0 else { return (0, 0, 0, nil) }
        let range = wordRange(from: t - 89, to: t)
        for i in range where (words[i] >> 13) & 7 == kind.rawValue {
            let d = Int(words[i] >> 16)
            let n = Int(words[i] & EventCounts.countMask)
            c90 += n
            if d > t - 28 { c28 += n }
            if d > t - 7 { c7 += n }
            last = d
        }
        if last == nil {
            var i = range.lowerBound - 1
            while i >= 0 {
                if (words[i] >> 13) & 7 == kind.rawValue {
                    last = Int(words[i] >> 16)
                    break
                }
                i -= 1
            }
        }
        return (c7, c28, c90, last)
    }

    func firstDay(_ kind: Kind) -> Int? {
        for w in words where (w >> 13) & 7 == kind.rawValue { return Int(w >> 16) }
        return nil
    }

    mutating func merge(_ other: EventCounts) {
        if other.words.isEmpty { return }
        if words.isEmpty {
            words = other.words
            return
        }
        for w in other.words {
            increment(Kind(rawValue: (w >> 13) & 7)!, day: DayIndex(w >> 16), by: Int(w & EventCounts.countMask))
        }
    }

    mutating func compact() { shrinkToFit(&words) }
}

/// Named product events per (day, event) in 64-bit words: day << 48 |
/// event number << 32 | count. Sorted, one word per (day, event).
struct ProductEventCounts: Sendable {
    private(set) var words: [UInt64] = []

    @inline(__always) static func day(_ w: UInt64) -> Int { Int(w >> 48) }
    @inline(__always) static func event(_ w: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: w >> 32) }
    @inline(__always) static func count(_ w: UInt64) -> Int { Int(w & 0xFFFF_FFFF) }

    @inline(__always)
    mutating func increment(_ event: UInt16, day: DayIndex, by n: Int = 1) {
        let key = UInt64(day) << 48 | UInt64(event) << 32
        let i: Int
        if let last = words.last, last & ~0xFFFF_FFFF < key {
            i = words.count
        } else {
            i = sortedLowerBound(words, key)
        }
        if i < words.count && words[i] & ~0xFFFF_FFFF == key {
            // Counts saturate at 2^32 - 1 events of one name on one day.
            words[i] = key | UInt64(min(0xFFFF_FFFF, Self.count(words[i]) + n))
        } else {
            words.insert(key | UInt64(min(0xFFFF_FFFF, n)), at: i)
        }
    }

    /// Events of one product event on days in [from, to].
    func count(_ event: UInt16, from: Int, to: Int) -> Int {
        guard from <= to, to >= 0, !words.isEmpty else { return 0 }
        let lo = sortedLowerBound(words, UInt64(max(0, from)) << 48)
        let hi = to >= Int(DayIndex.max) ? words.count : sortedLowerBound(words, UInt64(to + 1) << 48)
        var s = 0
        for i in lo..<max(lo, hi) where Self.event(words[i]) == event { s += Self.count(words[i]) }
        return s
    }

    /// Events of one name in the 7, 28 and 90 days ending on `t`, and the latest day with one on or before `t`.
    func windowCounts(_ event: UInt16, t: Int) -> (Int, Int, Int, Int?) {
        var c7 = 0
        var c28 = 0
        var c90 = 0
        var last: Int? = nil
        guard !words.isEmpty, t >= 0 else { return (0, 0, 0, nil) }
        let lo = sortedLowerBound(words, UInt64(max(0, t - 89)) << 48)
        let hi = t >= Int(DayIndex.max) ? words.count : sortedLowerBound(words, UInt64(t + 1) << 48)
        for i in lo..<max(lo, hi) where Self.event(words[i]) == event {
            let d = Self.day(words[i])
            let n = Self.count(words[i])
            c90 += n
            if d > t - 28 { c28 += n }
            if d > t - 7 { c7 += n }
            last = d
        }
        if last == nil {
            var i = lo - 1
            while i >= 0 {
                if Self.event(words[i]) == event {
                    last = Self.day(words[i])
                    break
                }
                i -= 1
            }
        }
        return (c7, c28, c90, last)
    }

    mutating func merge(_ other: ProductEventCounts) {
        if other.words.isEmpty { return }
        if words.isEmpty {
            words = other.words
            return
        }
        for w in other.words { increment(Self.event(w), day: DayIndex(Self.day(w)), by: Self.count(w)) }
    }

    mutating func compact() { shrinkToFit(&words) }
}

/// Daily uptime readings of one customer, dense from its first reading day:
/// each day a word with the number of readings (4 bits) and their sum in
/// thousandths of a percent (28 bits). Exact, order-independent, 4 bytes a day.
struct UptimeDays: Sendable {
    private(set) var base: Int = 0
    private(set) var days: [UInt32] = []
    static let maxReadingsPerDay = 15

    /// False when the day already holds the maximum number of readings.
    @inline(__always)
    mutating func add(_ day: DayIndex, milli: Int64) -> Bool {
        let d = Int(day)
        if days.isEmpty {
            base = d
            days.append(0)
        }
        if d < base {
            days.insert(contentsOf: repeatElement(0, count: base - d), at: 0)
            base = d
        }
        // repeatElement, not an array: a new day must not allocate (a daily export adds one a row).
        if d - base >= days.count { days.append(contentsOf: repeatElement(0, count: d - base - days.count + 1)) }
        let w = days[d - base]
        let count = Int(w >> 28)
        if count >= UptimeDays.maxReadingsPerDay { return false }
        days[d - base] = UInt32(count + 1) << 28 | ((w & 0x0FFF_FFFF) + UInt32(milli))
        return true
    }

    /// Per-day (sum of milli-percent, readings) for days in [from, to].
    func entries(from: Int, to: Int) -> [(sum: Int, count: Int)] {
        guard !days.isEmpty else { return [] }
        let lo = max(from, base) - base
        let hi = min(to, base + days.count - 1) - base
        guard lo <= hi else { return [] }
        return (lo...hi).compactMap { i in
            let w = days[i]
            return w >> 28 == 0 ? nil : (Int(w & 0x0FFF_FFFF), Int(w >> 28))
        }
    }

    mutating func merge(_ other: UptimeDays) {
        if days.isEmpty {
            self = other
            return
        }
        for (i, w) in other.days.enumerated() where w >> 28 > 0 {
            let count = Int(w >> 28)
            let sum = Int64(w & 0x0FFF_FFFF)
            // Readings of one customer-day split across files on two workers and
            // past 15 together: keep 15 with the same mean (documented).
            for k in 0..<count {
                let share = sum / Int64(count) + (Int64(k) < sum % Int64(count) ? 1 : 0)
                if !add(DayIndex(other.base + i), milli: share) { break }
            }
        }
    }

    mutating func compact() { shrinkToFit(&days) }
}
