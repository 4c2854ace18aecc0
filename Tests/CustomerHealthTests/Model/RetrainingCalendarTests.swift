import Foundation
import XCTest

@testable import CustomerHealth

/// Point-in-time models are retrained on dates fixed in the calendar.
final class RetrainingCalendarTests: XCTestCase {
    func testRetrainingDatesAreFixedInTheCalendar() {
        var s = ChurnSettings()
        s.retrainEvery = .months(1)
        XCTAssertEqual(s.retrainDate(onOrBefore: CalendarDay("2026-10-20")!), CalendarDay("2026-10-01"))
        XCTAssertEqual(s.retrainDate(onOrBefore: CalendarDay("2026-10-01")!), CalendarDay("2026-10-01"))
        s.retrainEvery = .months(3)
        XCTAssertEqual(s.retrainDate(onOrBefore: CalendarDay("2026-12-31")!), CalendarDay("2026-10-01"))
        XCTAssertEqual(s.retrainDate(onOrBefore: CalendarDay("2026-02-10")!), CalendarDay("2026-01-01"))
        s.retrainEvery = .days(7)
        let d = s.retrainDate(onOrBefore: CalendarDay("2026-10-20")!)
        XCTAssertEqual(Int(d.number) % 7, 0)
        XCTAssertTrue(d <= CalendarDay("2026-10-20")! && d > CalendarDay("2026-10-13")!)
    }
}
