import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Features on hand-made data with answers worked out by hand (docs/scoring.md,
/// "Features"). As of T = 2026-03-31: the 30-day window is 03-02 ... 03-31, the
/// 7-day window 03-25 ... 03-31, the 90-day response window 01-01 ... 03-31.
final class FeatureCalculatorTests: XCTestCase {
    static let accounts = Sample.csv(
        Sample.accountsHeader,
        [
            "c1,Acme,pro,1000,2025-01-01,,10,10,4,,",
            "c2,Quiet,basic,500,2026-01-01,,5,8,2,,",
            "c3,No Training,basic,500,2026-01-01,,5,8,0,,",
        ])

    static let activity = Sample.csv(
        Sample.activityHeader,
        [
            "c1,u1,2026-03-31T23:59:59Z,login,,",  // 2  T itself, last second
            "c1,u2,2026-03-02T00:00:00Z,login,,",  // 3  first day of the window
            "c1,u3,2026-03-01T23:59:59Z,login,,",  // 4  the day before the window
            "c1,u1,2026-04-01T00:00:00Z,login,,",  // 5  after T
            "c1,u1,2026-03-30T10:00:00Z,api_call,,",  // 6
            "c1,u2,2026-03-30T11:00:00Z,dashboard_view,,",  // 7
            "c1,u4,2026-03-25T00:00:00Z,mobile_session,,",  // 8  first day of the 7-day window
            "c1,u5,2026-03-24T12:00:00Z,mobile_session,,",  // 9  before it, inside 30 days
            "c1,u1,2026-03-10T09:00:00Z,feature_use,reports,",  // 10
            "c1,u2,2026-03-11T09:00:00Z,feature_use,reports,",  // 11 same feature again
            "c1,u2,2026-03-05T09:00:00Z,feature_use,alerts,",  // 12
            "c1,u3,2026-03-01T09:00:00Z,feature_use,export,",  // 13 before the window
            "c1,u1,2026-04-01T09:00:00Z,feature_use,scheduler,",  // 14 after T
            "c1,u1,2026-01-10T09:00:00Z,training_completed,basics,",  // 15
            "c1,u1,2026-02-01T09:00:00Z,training_completed,basics,",  // 16 same module again
            "c1,u2,2026-04-02T09:00:00Z,training_completed,advanced,",  // 17 after T
            "c1,u1,2026-03-31T08:00:00+02:00,login,,",  // 18 06:00Z on T
            "c1,u6,2026-04-01T01:00:00+02:00,work_order_completed,,",  // 19 23:00Z on T: counts
            "c1,u1,2026-03-15T10:00:00Z,work_order_completed,,",  // 20
            "c1,u1,2026-03-31T23:30:00-01:00,api_call,,",  // 21 00:30Z after T: does not count
            "c3,z1,2025-12-01T10:00:00Z,login,,",  // 22 the first day of activity history
            "c2,v1,2026-01-21T10:00:00Z,work_order_completed,,",  // 23 c2's first value, 20 days after its start
        ])

    static func ticket(
        _ id: String, _ opened: String, _ first: String?, _ resolved: String? = nil, customer: String = "c1"
    ) -> String {
        func v(_ s: String?) -> String { s.map { "\"\($0)\"" } ?? "null" }
        return
            "{\"ticket_id\": \"\(id)\", \"customer_id\": \"\(customer)\", \"opened_at\": \(v(opened)), \"first_response_at\": \(v(first)), \"resolved_at\": \(v(resolved))}\n"
    }

    static let ticketsA =
        ticket("t1", "2026-03-10T10:00:00Z", "2026-03-10T14:00:00Z")  // 4 h
        + ticket("t2", "2026-03-20T00:00:00Z", "2026-03-20T10:00:00Z")
        + ticket("t2", "2026-03-20T00:00:00Z", "2026-03-20T10:00:00Z", "2026-03-21T00:00:00Z")  // update: 10 h
        // loses the tie to file b
        + ticket("t3", "2026-03-25T00:00:00Z", "2026-03-25T02:00:00Z", "2026-03-26T00:00:00Z")
        + ticket("t4", "2026-01-15T00:00:00Z", "2026-01-15T08:00:00Z")  // 8 h, 90-day window only
        + ticket("t5", "2025-12-01T00:00:00Z", "2025-12-05T04:00:00Z")  // outside both windows
        + ticket("t6", "2026-03-30T10:00:00Z", nil)  // no response by T
        + ticket("t6", "2026-03-30T10:00:00Z", "2026-04-01T10:00:00Z")  // answered after T
        + ticket("t7", "2026-04-01T10:00:00Z", "2026-04-01T11:00:00Z")  // opened after T
        + ticket("t8", "2026-03-05T00:00:00Z", "2026-03-05T01:00:00Z", "2026-03-06T00:00:00Z")
        // same stamp, later line: 3 h
        + ticket("t8", "2026-03-05T00:00:00Z", "2026-03-05T03:00:00Z", "2026-03-06T00:00:00Z")
        + ticket("t9", "2026-03-06T00:00:00Z", "2026-03-06T05:00:00Z")  // 5 h
        + ticket("t9", "2026-03-06T00:00:00Z", "2026-03-07T05:00:00Z", "not a date")  // rejected: never a version

    static let ticketsB =
        // same stamp, later file: 6 h
        ticket("t3", "2026-03-25T00:00:00Z", "2026-03-25T06:00:00Z", "2026-03-26T00:00:00Z")

    static let uptime = Sample.csv(
        Sample.uptimeHeader,
        [
            "c1,2026-03-30,99.0",
            "c1,2026-03-31,100.0",
            "c1,2026-03-31,97.0",  // same day: the day's mean is 98.5
            "c1,2026-03-01,50",  // before the window
            "c1,2026-04-01,10",  // after T
        ])

    static let savings = Sample.csv(
        Sample.savingsHeader,
        [
            "c1,2025-06-01,1000.10,energy",
            "c1,2026-03-31,250.25,labour",
            "c1,2026-04-01,999,energy",  // after T
        ])

    private func data(threads: Int = 1) throws -> (ExportsFolder, IngestResult) {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write("activity.csv", Self.activity)
        try f.write("tickets-a.jsonl", Self.ticketsA)
        try f.write("tickets-b.jsonl", Self.ticketsB)
        try f.write("uptime.csv", Self.uptime)
        try f.write("savings.csv", Self.savings)
        try f.writePipeline()
        return (f, try InProcess.ingest(f, threads: threads))
    }

    private func features(_ id: String, asOf: String = "2026-03-31", threads: Int = 1) throws -> FeatureVector {
        let (_, d) = try data(threads: threads)
        let c = try XCTUnwrap(d.accounts.firstIndex { $0.customerID == id })
        return FeatureCalculator(data: d, settings: ScoringSettings()).features(customer: c, asOf: InProcess.day(asOf))
    }

    func testInputsAreReadAsExpected() throws {
        let (_, d) = try data()
        XCTAssertEqual(d.rowsRejected, 1, "only the second t9 row: \(d.files.flatMap(\.rejects).map(\.reason))")
        XCTAssertEqual(d.latestActivityDay, InProcess.day("2026-04-02"))
        XCTAssertEqual(d.accounts.map(\.customerID), ["c1", "c2", "c3"])
    }

    func testLoginsAndRecencyWithTheAsOfDayIncluded() throws {
        let f = try features("c1")
        XCTAssertEqual(f.daysSinceLastLogin, 0)
        XCTAssertEqual(f.logins30d, 2, "login days 03-31 and 03-02; 03-01 is outside, 04-01 after T")
    }

    func testDistinctMonthlyUsers() throws {
        XCTAssertEqual(
            try features("c1").monthlyActiveUsers, 5, "u1 u2 u4 u5 u6; u3 was last seen the day before the window")
    }

    func testDailyActiveUsersIsTheMeanOverSevenDays() throws {
        // User-days in 03-25 ... 03-31: u1 on 30 and 31, u2 on 30, u4 on 25, u6 on 31.
        XCTAssertEqual(try features("c1").dailyActiveUsers, 5.0 / 7.0, accuracy: 1e-12)
    }

    func testFeatureAdoption() throws {
        let f = try features("c1")
        XCTAssertEqual(f.featuresUsed30d, 2, "reports and alerts")
        XCTAssertEqual(try XCTUnwrap(f.featureAdoptionRate), 0.2, accuracy: 1e-12)
    }

    func testEventCountsInTheWindow() throws {
        let f = try features("c1")
        XCTAssertEqual(f.apiCalls30d, 1)
        XCTAssertEqual(f.mobileSessions30d, 2)
        XCTAssertEqual(f.dashboardViews30d, 1)
        XCTAssertEqual(f.workOrders30d, 2, "03-15 and the +02:00 row that is 23:00Z on T")
    }

    func testTicketsLatestVersionWinsWithTheTieBreak() throws {
        let f = try features("c1")
        XCTAssertEqual(f.supportTickets30d, 6, "t1 t2 t3 t6 t8 t9; t4 t5 before the window, t7 after T")
        // t1 4 h, t2 10 h, t3 6 h (file b wins the tie), t4 8 h, t8 3 h (later line), t9 5 h (the rejected
        // row is no version); t6 was only answered after T.
        XCTAssertEqual(try XCTUnwrap(f.avgFirstResponseHours), 6.0, accuracy: 1e-12)
    }

    func testUptimeIsTheMeanOfDailyMeans() throws {
        XCTAssertEqual(try XCTUnwrap(try features("c1").uptimePercentage), 98.75, accuracy: 1e-12)
    }

    func testSavingsToDate() throws {
        XCTAssertEqual(try features("c1").costSavingsAchieved, 1250.35)
        XCTAssertEqual(try features("c1", asOf: "2026-03-30").costSavingsAchieved, 1000.10)
    }

    func testTrainingCompletion() throws {
        let f = try features("c1")
        XCTAssertEqual(f.trainingModulesCompleted, 1, "basics twice is one module; advanced is after T")
        XCTAssertEqual(f.trainingCompletionRate, 0.25)
        XCTAssertEqual(try features("c2").trainingCompletionRate, 0)
        XCTAssertNil(try features("c3").trainingCompletionRate, "a plan without modules has no rate")
    }

    func testTenureAndTimeToValue() throws {
        XCTAssertEqual(try features("c1").monthsSinceSubscriptionStart, 454 / 30.4375, accuracy: 1e-12)
        XCTAssertEqual(
            try features("c2").daysToFirstValue, 20, "the work order of 01-21, 20 days after the 01-01 start")
        XCTAssertNil(try features("c2", asOf: "2026-01-20").daysToFirstValue, "no value yet on 01-20")
    }

    func testACustomerWithoutDataHasUnknownsNotZeros() throws {
        let f = try features("c2", asOf: "2026-01-15")
        XCTAssertNil(f.daysSinceLastLogin)
        XCTAssertNil(f.avgFirstResponseHours)
        XCTAssertNil(f.uptimePercentage)
        XCTAssertNil(f.daysToFirstValue)
        XCTAssertEqual(f.trainingCompletionRate, 0, "2 modules in the plan, none completed")
        XCTAssertEqual(f.monthlyActiveUsers, 0)
        XCTAssertEqual(f.costSavingsAchieved, 0)
    }

    func testAnEarlierAsOfDaySeesOnlyItsPast() throws {
        let f = try features("c1", asOf: "2026-03-01")
        XCTAssertEqual(f.daysSinceLastLogin, 0, "u3 logged in on 03-01")
        XCTAssertEqual(f.featuresUsed30d, 1, "export on 03-01")
        XCTAssertEqual(f.supportTickets30d, 0, "t4 opened 01-15 is outside 01-31 ... 03-01")
        XCTAssertEqual(try XCTUnwrap(f.avgFirstResponseHours), 8, accuracy: 1e-12, "t4 only; t5 opened before 12-02")
        XCTAssertEqual(try XCTUnwrap(f.uptimePercentage), 50, accuracy: 1e-12)
        let g = try features("c1", asOf: "2026-02-15")
        XCTAssertEqual(g.daysSinceLastLogin, nil)
        XCTAssertEqual(g.trainingModulesCompleted, 1)
    }

    func testFeaturesDoNotDependOnThreads() throws {
        for id in ["c1", "c2", "c3"] {
            XCTAssertEqual(try features(id, threads: 1), try features(id, threads: 3), id)
        }
    }
}
