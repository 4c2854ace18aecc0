import Foundation
import XCTest

@testable import CustomerHealth

/// The per-day series that answer features for any as-of day.
final class DaySeriesTests: XCTestCase {
    func testDaySetKeepsDistinctSortedDaysWhateverTheInsertOrder() {
        var s = DaySet()
        for d: DayIndex in [10, 12, 12, 5, 11, 10, 20, 1] { s.insert(d) }
        XCTAssertEqual(s.days, [1, 5, 10, 11, 12, 20])
        XCTAssertEqual(s.count(from: 5, to: 12), 4, "both ends inclusive")
        XCTAssertEqual(s.count(from: 13, to: 19), 0)
        XCTAssertEqual(s.count(from: 12, to: 5), 0)
        XCTAssertEqual(s.count(from: -100, to: 100_000), 6, "windows beyond the stored range")
        XCTAssertEqual(s.last(onOrBefore: 19), 12)
        XCTAssertEqual(s.last(onOrBefore: 20), 20)
        XCTAssertNil(s.last(onOrBefore: 0))
        XCTAssertTrue(s.contains(11))
        XCTAssertFalse(s.contains(13))
    }

    func testDaySetMergeIsAUnionInEveryLayout() {
        let cases: [([DayIndex], [DayIndex])] = [
            ([], [3, 4]), ([3, 4], []), ([1, 2], [5, 6]), ([5, 6], [1, 2]), ([1, 4, 9], [2, 4, 8, 10]),
            ([1, 2, 3], [1, 2, 3]),
        ]
        for (a, b) in cases {
            var x = DaySet()
            var y = DaySet()
            for day in a { x.insert(day) }
            for day in b { y.insert(day) }
            var ab = x
            ab.merge(y)
            var ba = y
            ba.merge(x)
            let union = Array(Set(a + b)).sorted()
            XCTAssertEqual(ab.days, union, "\(a) + \(b)")
            XCTAssertEqual(ba.days, union, "\(b) + \(a)")
        }
    }

    func testDayTotalsSumAndCountPerWindow() {
        var t = DayTotals()
        t.add(10, 5)
        t.add(12, 7)
        t.add(10, 1)
        t.add(3, 100)
        t.add(12, -2)
        XCTAssertEqual(t.total(from: 10, to: 12), 11)
        XCTAssertEqual(t.count(from: 10, to: 12), 4)
        XCTAssertEqual(t.total(from: 0, to: 100_000), 111)
        XCTAssertEqual(t.total(from: 11, to: 11), 0)
        XCTAssertEqual(t.firstDay, 3)
        let entries = t.entries(from: 0, to: 11)
        XCTAssertEqual(entries.map(\.day), [3, 10])
        XCTAssertEqual(entries.map(\.total), [100, 6])
        XCTAssertEqual(entries.map(\.count), [1, 2])
    }

    func testDayTotalsMergeMatchesAddingEverythingToOne() {
        let a: [(DayIndex, Int64)] = [(5, 1), (9, 2), (9, 3), (20, 4)]
        let b: [(DayIndex, Int64)] = [(1, 10), (9, 20), (15, 30), (25, 40)]
        var x = DayTotals()
        var y = DayTotals()
        var all = DayTotals()
        for item in a {
            x.add(item.0, item.1)
            all.add(item.0, item.1)
        }
        for item in b {
            y.add(item.0, item.1)
            all.add(item.0, item.1)
        }
        var ab = x
        ab.merge(y)
        var ba = y
        ba.merge(x)
        for merged in [ab, ba] {
            XCTAssertEqual(merged.entries(from: 0, to: 100).map(\.day), all.entries(from: 0, to: 100).map(\.day))
            XCTAssertEqual(merged.entries(from: 0, to: 100).map(\.total), all.entries(from: 0, to: 100).map(\.total))
            XCTAssertEqual(merged.entries(from: 0, to: 100).map(\.count), all.entries(from: 0, to: 100).map(\.count))
        }
        XCTAssertEqual(ab.total(from: 9, to: 9), 25)
        XCTAssertEqual(ab.count(from: 9, to: 9), 3)
        var disjoint = x
        var later = DayTotals()
        later.add(30, 1)
        disjoint.merge(later)
        XCTAssertEqual(disjoint.total(from: 0, to: 100), 11)
    }

    func testEventCountsCountPerDayAndTypeAndMerge() {
        var a = EventCounts()
        var b = EventCounts()
        var all = EventCounts()
        let daysA: [DayIndex] = [5, 5, 9, 3, 20, 9]
        let daysB: [DayIndex] = [1, 9, 30, 5]
        for item in daysA {
            a.increment(.apiCall, day: item)
            all.increment(.apiCall, day: item)
        }
        for item in daysB {
            b.increment(.apiCall, day: item)
            all.increment(.apiCall, day: item)
        }
        b.increment(.workOrder, day: 9)
        all.increment(.workOrder, day: 9)
        XCTAssertEqual(a.count(.apiCall, from: 5, to: 9), 4)
        XCTAssertEqual(a.count(.apiCall, from: 0, to: 4), 1)
        XCTAssertEqual(a.firstDay(.apiCall), 3)
        var ab = a
        ab.merge(b)
        var ba = b
        ba.merge(a)
        for merged in [ab, ba] {
            XCTAssertEqual(merged.words, all.words)
            XCTAssertEqual(merged.count(.apiCall, from: 0, to: 100_000), 10)
            XCTAssertEqual(merged.count(.apiCall, from: 9, to: 9), 3)
            XCTAssertEqual(merged.count(.workOrder, from: 9, to: 9), 1)
            XCTAssertEqual(merged.count(.apiCall, from: 10, to: 29), 1)
            XCTAssertEqual(merged.firstDay(.apiCall), 1)
            XCTAssertEqual(merged.firstDay(.workOrder), 9)
        }
        // Past 8,191 events on one day the count goes on in another word.
        var big = EventCounts()
        big.increment(.apiCall, day: 4, by: 20_000)
        big.increment(.apiCall, day: 4)
        big.increment(.mobileSession, day: 4, by: 3)
        XCTAssertEqual(big.count(.apiCall, from: 4, to: 4), 20_001)
        XCTAssertEqual(big.count(.mobileSession, from: 0, to: 10), 3)
        XCTAssertEqual(big.words, big.words.sorted())
    }

    func testNameDaysMergeByNameAcrossWorkers() {
        // Enough names to exercise both the linear scan and the hash index.
        for names in [3, 100] {
            var w1 = CustomerActivity()
            var w2 = CustomerActivity()
            var all = CustomerActivity()
            for i in 0..<names {
                let h = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
                w1.insertName(.user, hash: h, day: DayIndex(10 + i % 3))
                all.insertName(.user, hash: h, day: DayIndex(10 + i % 3))
                if i % 2 == 0 {
                    w2.insertName(.user, hash: h, day: 50)
                    all.insertName(.user, hash: h, day: 50)
                }
            }
            w2.insertName(.feature, hash: 42, day: 7)
            all.insertName(.feature, hash: 42, day: 7)
            w1.merge(w2)
            XCTAssertEqual(w1.names.count, names + 1, "one slot per distinct name")
            XCTAssertEqual(w1.distinctNames(.user, from: 0, to: 100), all.distinctNames(.user, from: 0, to: 100))
            XCTAssertEqual(w1.distinctNames(.user, from: 50, to: 50), (names + 1) / 2)
            XCTAssertEqual(w1.namePairs(.user, from: 0, to: 100), all.namePairs(.user, from: 0, to: 100))
            XCTAssertEqual(w1.distinctNames(.feature, from: 0, to: 100), 1)
            XCTAssertEqual(w1.nameDays, w1.nameDays.sorted())
        }
    }

    func testUptimeDaysKeepSumsAndCountsPerDay() {
        var u = UptimeDays()
        XCTAssertTrue(u.add(12, milli: 99_500))
        XCTAssertTrue(u.add(10, milli: 100_000))
        XCTAssertTrue(u.add(12, milli: 98_500))
        let e = u.entries(from: 0, to: 100)
        XCTAssertEqual(e.count, 2)
        XCTAssertEqual(e[1].sum, 198_000)
        XCTAssertEqual(e[1].count, 2)
        for _ in 0..<13 { XCTAssertTrue(u.add(12, milli: 100_000)) }
        XCTAssertFalse(u.add(12, milli: 100_000), "a 16th reading of one day is refused")
        var other = UptimeDays()
        _ = other.add(11, milli: 97_000)
        u.merge(other)
        XCTAssertEqual(u.entries(from: 11, to: 11).first?.sum, 97_000)
    }
}
