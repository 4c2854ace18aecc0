import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// `churn_definition`: who is active on a day, worked out by hand on a small
/// history and checked in scores.jsonl, features.jsonl, kpis.json and the
/// at-risk list (docs/scoring.md, "Who is scored" and "KPIs").
final class ChurnDefinitionTests: XCTestCase {
    /// History runs 2026-01-01 ... 2026-03-31; scored as of 2026-03-31 with
    /// churn = 10 days without activity:
    ///
    ///     a  active every day                                   active  (its churned_at is ignored)
    ///     b  active to 02-10                                    churned 02-20, still
    ///     c  active to 03-05                                    churned 03-15 (in the 30 days)
    ///     d  active in January and again from 03-20             churned 02-10, back 03-20: active
    ///     e  starts 03-10, active that day only                 churned 03-20 (in the 30 days)
    ///     f  no activity at all                                 churned 01-11 (10 days into the history)
    ///     g  starts 04-05                                       not a customer yet
    ///     h  active 01-01, then every day from 01-12            a spell 01-11 ... 01-12, active
    static let accounts = [
        "a,A,pro,100,2025-06-01,2026-03-15", "b,B,pro,100,2025-06-01,", "c,C,pro,100,2025-06-01,",
        "d,D,pro,100,2025-06-01,",
        "e,E,pro,100,2026-03-10,", "f,F,pro,100,2025-06-01,", "g,G,pro,100,2026-04-05,", "h,H,pro,100,2025-06-01,",
    ]

    static func activity() -> String {
        var rows = ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
        func on(_ id: String, _ days: ClosedRange<Int>) {
            for d in days { rows.append("\(id),\(id)-u1,\(CalendarDayText.from(d))T10:00:00Z,login,,") }
        }
        on("a", 0...89)  // 01-01 ... 03-31
        on("b", 0...40)  // ... 02-10
        on("c", 0...63)  // ... 03-05
        on("d", 0...30)  // January
        on("d", 78...89)  // 03-20 ...
        on("e", 68...68)  // 03-10
        on("h", 0...0)  // 01-01
        on("h", 11...89)  // 01-12 ...
        return rows.joined(separator: "\n") + "\n"
    }

    private func folder(_ definition: String) throws -> ExportsFolder {
        let f = try ExportsFolder()
        try f.write(
            "accounts.csv",
            "customer_id,name,plan,mrr,subscription_start,churned_at\n" + Self.accounts.joined(separator: "\n") + "\n")
        try f.write("activity.csv", Self.activity())
        try f.writePipeline(definition)
        return f
    }

    func testInactivityChurnByHand() throws {
        let f = try folder("churn_definition: {from: inactivity, inactivity_days: 10}\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        XCTAssertEqual(Set(try o.scores.map { $0["customer_id"] as! String }), ["a", "d", "h"])
        var active: [String: Bool] = [:]
        var spells: [String: [[String?]]] = [:]
        for line in try o.features {
            active[line["customer_id"] as! String] = line["active"] as? Bool
            spells[line["customer_id"] as! String] = (line["churn_spells"] as! [[Any]]).map { $0.map { $0 as? String } }
        }
        XCTAssertEqual(
            active, ["a": true, "b": false, "c": false, "d": true, "e": false, "f": false, "h": true],
            "g has not started")
        XCTAssertEqual(spells["b"], [["2026-02-20", nil]])
        XCTAssertEqual(spells["d"], [["2026-02-10", "2026-03-20"]])
        XCTAssertEqual(spells["f"], [["2026-01-11", nil]])
        XCTAssertEqual(spells["h"], [["2026-01-11", "2026-01-12"]])
        XCTAssertEqual(spells["a"], [])

        let k = try o.kpis
        let overview = try XCTUnwrap(k["overview"] as? [String: Any])
        XCTAssertEqual(JSON.int(overview["total_customers"]), 7)
        XCTAssertEqual(JSON.int(overview["active_customers"]), 3)
        XCTAssertEqual(JSON.int(overview["churned_customers_30d"]), 2, "c on 03-15 and e on 03-20")
        XCTAssertEqual(JSON.int(overview["returned_customers_30d"]), 1, "d on 03-20")
        let retention = try XCTUnwrap(k["retention_rates"] as? [String: Any])
        // Active on 03-01: a, c, h; on 03-31 a and h.
        XCTAssertEqual(try XCTUnwrap(JSON.double(retention["retention_30d"])), 0.6667, accuracy: 1e-9)
        // Active on 2025-12-31 (before the history, nobody had gone quiet yet): a b c d f h; on 03-31 a d h.
        XCTAssertEqual(try XCTUnwrap(JSON.double(retention["retention_90d"])), 0.5, accuracy: 1e-9)
        let financial = try XCTUnwrap(k["financial_metrics"] as? [String: Any])
        XCTAssertEqual(
            JSON.double(financial["monthly_recurring_revenue"]), 300, "the MRR of the three active customers")
        let atRisk = try XCTUnwrap(o.atRisk["customers"] as? [[String: Any]])
        XCTAssertTrue(atRisk.allSatisfy { ["a", "d", "h"].contains($0["customer_id"] as! String) })
        XCTAssertEqual(try o.manifest["churn_definition"] as? String, "no activity for 10 days")
    }

    func testTheSameAccountsUnderChurnedAt() throws {
        let f = try folder("")
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        // Only a has a churned_at; quiet customers stay active.
        XCTAssertEqual(Set(try o.scores.map { $0["customer_id"] as! String }), ["b", "c", "d", "e", "f", "h"])
        let overview = try XCTUnwrap(o.kpis["overview"] as? [String: Any])
        XCTAssertEqual(JSON.int(overview["churned_customers_30d"]), 1)
        XCTAssertEqual(JSON.int(overview["returned_customers_30d"]), 0)
    }

    func testOnlyListedEventsCountAsActivity() throws {
        // d's return in March is a dashboard view, which does not count: d stays churned.
        let f = try ExportsFolder()
        try f.write("accounts.csv", "customer_id,name,plan,mrr,subscription_start\nd,D,pro,100,2025-06-01\n")
        var rows = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for day in 0...30 { rows += "d,u1,\(CalendarDayText.from(day))T10:00:00Z,login,,\n" }
        for day in 78...89 { rows += "d,u1,\(CalendarDayText.from(day))T10:00:00Z,dashboard_view,,\n" }
        try f.write("activity.csv", rows)
        try f.writePipeline("churn_definition: {from: inactivity, inactivity_days: 10, activity_events: [login]}\n")
        XCTAssertEqual(try f.run().status, 0)
        XCTAssertEqual(try f.outputs("2026-03-31").scores.count, 0)
        try f.writePipeline("churn_definition: {from: inactivity, inactivity_days: 10}\n")
        XCTAssertEqual(try f.run().status, 0)
        XCTAssertEqual(try f.outputs("2026-03-31").scores.count, 1)
    }

    func testSubscriptionEndIncludingAFutureEnd() throws {
        let f = try ExportsFolder()
        try f.write(
            "accounts.csv",
            """
            customer_id,name,plan,mrr,subscription_start,subscription_end
            x,X,pro,100,2025-06-01,2026-03-20
            y,Y,pro,100,2025-06-01,2026-06-30
            z,Z,pro,100,2025-06-01,

            """)
        var rows = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for id in ["x", "y", "z"] { rows += "\(id),u1,2026-03-31T10:00:00Z,login,,\n" }
        try f.write("activity.csv", rows)
        try f.writePipeline("churn_definition: {from: subscription_end}\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        // x ended on 03-20 (its activity after does not bring it back); y ends in June, notice given but still a customer.
        XCTAssertEqual(Set(try o.scores.map { $0["customer_id"] as! String }), ["y", "z"])
        XCTAssertEqual(JSON.int((try o.kpis["overview"] as? [String: Any])?["churned_customers_30d"]), 1)
    }

    func testAMissingChurnColumnNamesTheDefinition() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", "customer_id,name,plan,mrr,subscription_start\nx,X,pro,100,2025-06-01\n")
        try f.write(
            "activity.csv",
            "customer_id,user_id,occurred_at,event_type,feature,duration_s\nx,u1,2026-03-31T10:00:00Z,login,,\n")
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("accounts.csv: line 1: the header has no column churned_at"), r.stderr)
        XCTAssertTrue(r.stderr.contains("churn_definition"), r.stderr)
        try f.writePipeline("churn_definition: {from: subscription_end}\n")
        let end = try f.run()
        XCTAssertEqual(end.status, 3, end.transcript)
        XCTAssertTrue(end.stderr.contains("subscription_end"), end.stderr)
    }

}
