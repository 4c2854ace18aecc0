import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The churn definition's settings are checked when the pipeline is read.
final class ChurnDefinitionSettingsTests: XCTestCase {
    func testSettingsAreChecked() throws {
        func error(_ text: String) throws -> String {
            let f = try ExportsFolder()
            try f.writePipeline(text)
            do {
                _ = try f.config()
                return ""
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(try error("churn_definition: {from: inactivity}\n").contains("inactivity_days"))
        XCTAssertTrue(
            try error("churn_definition: {from: cancelled}\n").contains("churned_at, subscription_end or inactivity"))
        XCTAssertTrue(
            try error("churn_definition: {from: churned_at, inactivity_days: 4}\n").contains("only to from: inactivity")
        )
        XCTAssertTrue(
            try error("churn_definition: {from: inactivity, inactivity_days: 30, activity_events: [Order Placed]}\n")
                .contains("\"Order Placed\" is neither a built-in kind"))
        XCTAssertEqual(
            try error(
                "churn_definition: {from: inactivity, inactivity_days: 30, activity_events: [Order Placed]}\nevents: {other: keep}\n"
            ), "")
        XCTAssertTrue(try error("churn: {model: m.json, inactivity_days: 30}\n").contains("churn_definition"))
    }
}

/// The lifecycle of one customer under the inactivity definition, unit by unit.
final class CustomerLifecycleTests: XCTestCase {
    func day(_ n: Int) -> CalendarDay { CalendarDay(number: Int32(20_000 + n)) }

    func testSpellsFromActivity() {
        let l = CustomerLifecycle.fromActivity(
            start: day(0), clockStart: 20_000, activeDays: [20_000, 20_005, 20_020, 20_021],
            days: 10, dataEnd: 20_040)
        // Quiet 06 ... 19: churned from 15 (05 + 10), back on 20; quiet again from 31.
        XCTAssertEqual(l.spells, [.init(from: day(15), until: day(20)), .init(from: day(31), until: nil)])
        XCTAssertTrue(l.isActive(on: day(14)))
        XCTAssertFalse(l.isActive(on: day(15)))
        XCTAssertFalse(l.isActive(on: day(19)))
        XCTAssertTrue(l.isActive(on: day(20)))
        XCTAssertTrue(l.churns(after: day(10), through: day(15)))
        XCTAssertFalse(l.churns(after: day(15), through: day(30)))
        XCTAssertTrue(l.returns(after: day(19), through: day(20)))
        // What day 17 knew: churned since 15, not back yet.
        XCTAssertEqual(l.known(asOf: day(17)).spells, [.init(from: day(15), until: nil)])
        // A spell that would begin after the data ends is not known yet.
        let recent = CustomerLifecycle.fromActivity(
            start: day(0), clockStart: 20_000, activeDays: [20_035], days: 10, dataEnd: 20_040)
        XCTAssertEqual(recent.spells, [.init(from: day(10), until: day(35))])
        // A gap of exactly N days is not a churn: back on the day it would begin.
        let exact = CustomerLifecycle.fromActivity(
            start: day(0), clockStart: 20_000, activeDays: [20_000, 20_010], days: 10, dataEnd: 20_015)
        XCTAssertEqual(exact.spells, [])
    }
}
