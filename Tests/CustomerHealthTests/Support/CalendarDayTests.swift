import Foundation
import XCTest

@testable import CustomerHealth

final class CalendarDayTests: XCTestCase {
    func testParsingAndPrintingRoundTrip() {
        for text in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-03-31", "2149-06-06"] {
            XCTAssertEqual(CalendarDay(text)?.description, text)
        }
        XCTAssertEqual(CalendarDay("1970-01-01")?.number, 0)
        XCTAssertEqual(CalendarDay("2026-03-31")?.number, Int32(20_543))
        for bad in ["2026-13-01", "2026-02-29", "2026-3-31", "20260331", "2026-03-31T00:00:00Z", ""] {
            XCTAssertNil(CalendarDay(bad), bad)
        }
    }

    /// Every day from year 1 to 9999 prints as %04d-%02d-%02d would, and the
    /// years outside that range still print (the text no longer comes from String(format:)).
    func testPrintingMatchesFormatAcrossTheCalendar() {
        for year in [1, 9, 10, 99, 100, 999, 1000, 1969, 1970, 2026, 9999] {
            for (month, day) in [(1, 1), (2, 28), (9, 30), (10, 9), (12, 31)] {
                XCTAssertEqual(
                    CalendarDay(year: year, month: month, day: day)?.description,
                    String(format: "%04d-%02d-%02d", year, month, day))
            }
        }
        let before = CalendarDay(year: 1, month: 1, day: 1)!.adding(days: -1)
        XCTAssertEqual(before.description, "0000-12-31")
        XCTAssertEqual(before.adding(days: -366).description, String(format: "%04d-%02d-%02d", -1, 12, 31))
        XCTAssertEqual(CalendarDay(year: 9999, month: 12, day: 31)!.adding(days: 1).description, "10000-01-01")
    }

    func testArithmeticMatchesFoundation() {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let start = CalendarDay("2023-12-25")!
        for offset in stride(from: -400, through: 800, by: 37) {
            let day = start.adding(days: offset)
            let date = Date(timeIntervalSince1970: Double(day.number) * 86400)
            let c = cal.dateComponents([.year, .month, .day], from: date)
            XCTAssertEqual(day.description, String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!))
        }
    }
}
