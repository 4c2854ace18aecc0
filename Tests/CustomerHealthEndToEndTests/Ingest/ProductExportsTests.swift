import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Exports as other products write them: their own event names (`events:`),
/// nested JSON Lines, epoch timestamps, accounts without the seed's columns
/// (docs/data-contract.md and docs/pipeline.md#events).
final class ProductExportsTests: XCTestCase {
    static let accounts =
        "customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules\n"
        + "c1,One,pro,100,2025-01-01,,5,4,2\nc2,Two,pro,100,2025-01-01,,5,4,2\n"

    func testEventNamesMapToKindsKeptNamesAndFeatures() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write(
            "activity.csv",
            """
            customer_id,user_id,occurred_at,event_type,feature,duration_s
            c1,u1,2026-03-31T08:00:00Z,Logged In,,
            c1,u1,2026-03-31T08:01:00Z,Report Exported,,
            c1,u2,2026-03-31T08:02:00Z,Report Scheduled,,
            c1,u2,2026-03-31T08:03:00Z,invite_sent,,
            c1,u2,2026-03-31T08:04:00Z,invite_sent,,
            c1,u3,2026-03-31T08:05:00Z,Page Viewed,,
            c1,u1,2026-03-30T08:05:00Z,login,,
            c2,v1,2026-03-31T08:00:00Z,Report Exported,charts,
            c2,v1,2026-03-31T08:01:00Z,heartbeat,,
            c2,v1,2026-03-31T08:02:00Z,Order Completed,,

            """)
        try f.writePipeline(
            """
            events:
              map:
                "Logged In": login
                "Report *": feature_use
                "Page Viewed": ignore
                "heartbeat": reject
              other: keep

            """)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        let manifest = try o.manifest
        let events = try XCTUnwrap(manifest["events"] as? [String: Any])
        XCTAssertEqual(JSON.int(events["login"]), 2, "Logged In and the built-in login")
        XCTAssertEqual(JSON.int(events["feature_use"]), 3, "the two Report names by pattern")
        XCTAssertEqual(manifest["product_events"] as? [String: Int], ["Order Completed": 1, "invite_sent": 2])
        XCTAssertEqual(JSON.int(manifest["ignored_events"]), 1)
        let rejects = try o.rejects
        XCTAssertEqual(rejects.count, 1)
        assertReject(
            rejects.first, file: "activity.csv", line: 10, column: "event_type", code: "bad_value",
            reasonContains: ["\"heartbeat\"", "events:"])
        // A mapped feature_use names the feature by its event name when the feature column is empty.
        let c1 = try XCTUnwrap(try o.feature("c1")?["features"] as? [String: Any])
        XCTAssertEqual(JSON.int(c1["features_used_30d"]), 2, "Report Exported and Report Scheduled")
        XCTAssertEqual(JSON.int(c1["days_since_last_login"]), 0)
        XCTAssertEqual(JSON.int(c1["monthly_active_users"]), 2, "u3 only viewed a page, which is ignored")
        let c2 = try XCTUnwrap(try o.feature("c2")?["features"] as? [String: Any])
        XCTAssertEqual(JSON.int(c2["features_used_30d"]), 1, "the feature column wins when it is filled: charts")
        XCTAssertNil(c2["days_since_last_login"] as? Int, "c2 never logged in")
    }

    func testUnmappedNamesAreRejectedByDefaultWithAHint() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write(
            "activity.csv",
            "customer_id,user_id,occurred_at,event_type,feature,duration_s\nc1,u1,2026-03-31T08:00:00Z,Signed In,,\nc2,v1,2026-03-31T08:00:00Z,login,,\n"
        )
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let rejects = try f.outputs("2026-03-31").rejects
        assertReject(
            rejects.first, file: "activity.csv", line: 2, column: "event_type", code: "bad_value",
            reasonContains: ["unknown event_type \"Signed In\"", "map the name with `events:`"])
    }

    func testOtherAsFeatureAndLoginsFromActivity() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write(
            "activity.csv",
            """
            customer_id,user_id,occurred_at,event_type,feature,duration_s
            c1,u1,2026-03-20T08:00:00Z,Document Edited,,
            c1,u1,2026-03-25T08:00:00Z,Comment Added,,
            c1,u2,2026-03-25T09:00:00Z,Comment Added,,

            """)
        try f.writePipeline("events: {other: feature, logins_from_activity: true}\n")
        XCTAssertEqual(try f.run().status, 0)
        let c1 = try XCTUnwrap(try f.outputs("2026-03-25").feature("c1")?["features"] as? [String: Any])
        XCTAssertEqual(JSON.int(c1["features_used_30d"]), 2)
        XCTAssertEqual(JSON.int(c1["days_since_last_login"]), 0, "any activity is a login day")
        XCTAssertEqual(JSON.int(c1["logins_30d"]), 2, "two days with activity")
    }

    func testABuiltInNameCanBeMappedAway() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write(
            "activity.csv",
            """
            customer_id,user_id,occurred_at,event_type,feature,duration_s
            c1,u1,2026-03-31T08:00:00Z,login,,
            c1,u1,2026-03-31T08:00:00Z,session_start,,

            """)
        // In this product "login" is a marketing-site visit; its sessions are the logins.
        try f.writePipeline("events: {map: {login: ignore, session_start: login}}\n")
        XCTAssertEqual(try f.run().status, 0)
        let events = try XCTUnwrap(try f.outputs("2026-03-31").manifest["events"] as? [String: Any])
        XCTAssertEqual(JSON.int(events["login"]), 1)
    }

    func testNestedJSONLinesWithEpochMilliseconds() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        // 1774951200000 ms = 2026-03-31T10:00:00Z.
        try f.write(
            "events.jsonl",
            """
            {"type":"track","event":"login","userId":"u1","timestamp":1774951200000,"context":{"groupId":"c1"}}
            {"type":"track","event":"feature_use","userId":"u2","timestamp":1774951260123,"context":{"groupId":"c1"},"properties":{"feature":"charts"}}
            {"type":"track","event":"login","userId":"v1","timestamp":1774951200000,"context":{"groupId":["c2"]}}
            {"type":"track","event":"login","userId":"v1","timestamp":1774951200000,"context":{"groupId":["c1","c2"]}}
            {"type":"track","event":"login","userId":"v1","timestamp":1774951200000,"context":{}}
            {"type":"track","event":"login","userId":"v1","timestamp":"yesterday","context":{"groupId":"c2"}}
            {"type":"track","event":"login","userId":"v1","timestamp":1774951200000,"context":{"groupId":{"id":"c2"}}}

            """)
        try f.writePipeline(
            """
            exports:
              activity:
                files: "events*.jsonl"
                timestamp_format: epoch_ms
                columns: {customer_id: context.groupId, user_id: userId, occurred_at: timestamp, event_type: event, feature: properties.feature}

            """)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        XCTAssertEqual(Set(try o.scores.map { $0["customer_id"] as! String }), ["c1", "c2"])
        let c1 = try XCTUnwrap(try o.feature("c1")?["features"] as? [String: Any])
        XCTAssertEqual(JSON.int(c1["features_used_30d"]), 1)
        let rejects = try o.rejects
        XCTAssertEqual(rejects.count, 4)
        assertReject(
            rejects[0], file: "events.jsonl", line: 4, column: "context.groupId", code: "bad_value",
            reasonContains: ["a list of 2 values", "context.groupId.0"])
        assertReject(
            rejects[1], file: "events.jsonl", line: 5, column: "context.groupId", code: "missing_value",
            reasonContains: ["no key \"context.groupId\""])
        assertReject(
            rejects[2], file: "events.jsonl", line: 6, column: "timestamp", code: "bad_value",
            reasonContains: ["\"yesterday\"", "milliseconds since 1970-01-01"])
        assertReject(
            rejects[3], file: "events.jsonl", line: 7, column: "context.groupId", code: "bad_value",
            reasonContains: ["an object"])
    }

    func testEpochSecondsAndISOWithASpace() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", Self.accounts)
        try f.write(
            "activity.csv",
            "customer_id,user_id,occurred_at,event_type\nc1,u1,1774951200,login\nc2,u1,1774951200.75,login\nc1,u1,-5,login\n"
        )
        try f.writePipeline("exports: {activity: {timestamp_format: epoch_s}}\n")
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs("2026-03-31")
        XCTAssertEqual(try o.scores.count, 2)
        assertReject(
            try o.rejects.first, file: "activity.csv", line: 4, column: "occurred_at", code: "bad_value",
            reasonContains: ["is negative"])
        func iso(_ text: String) throws -> Int64 {
            try Array(text.utf8).withUnsafeBytes { b throws -> Int64 in
                try FieldParser.timestamp(b, format: .iso8601, tokens: [])
            }
        }
        XCTAssertEqual(try iso("2026-03-31 10:00:00.123456"), 1_774_951_200, "Amplitude's space and microseconds")
        XCTAssertEqual(try iso("2026-03-31T10:00:00.482000+00:00"), 1_774_951_200, "PostHog's offset")
    }

    func testAccountsWithoutTheSeedsColumns() throws {
        let f = try ExportsFolder()
        try f.write("accounts.csv", "customer_id,subscription_start,churned_at\nc1,2025-01-01,\nc2,2025-01-01,\n")
        try f.write(
            "activity.csv",
            """
            customer_id,user_id,occurred_at,event_type,feature,duration_s
            c1,u1,2026-03-31T08:00:00Z,login,,
            c1,u1,2026-03-31T08:00:00Z,api_call,,
            c1,u1,2026-03-31T08:00:00Z,feature_use,charts,
            c2,v1,2026-03-31T08:00:00Z,login,,

            """)
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs("2026-03-31")
        let line = try XCTUnwrap(o.feature("c1"))
        let account = try XCTUnwrap(line["account"] as? [String: Any])
        XCTAssertTrue(account["seats"] is NSNull && account["mrr"] is NSNull && account["features_available"] is NSNull)
        XCTAssertEqual(account["plan"] as? String, "")
        // Without seats, features available or training modules, the parts that need them are left out:
        // engagement has no part left and drops out of the health score.
        let score = try XCTUnwrap(o.score("c1"))
        let components = try XCTUnwrap(score["component_scores"] as? [String: Any])
        XCTAssertTrue(components["engagement"] is NSNull)
        XCTAssertTrue(components["satisfaction"] is NSNull, "no tickets or uptime export")
        XCTAssertTrue((score["trends"] as? [String: Any])?["engagement"] is NSNull)
        let parts = try XCTUnwrap(o.manifest["score_parts"] as? [[String: Any]])
        let api = try XCTUnwrap(parts.first { $0["part"] as? String == "engagement.api" })
        XCTAssertEqual(api["applicable"] as? Bool, true)
        XCTAssertEqual(JSON.int(api["customers_without_it"]), 2)
        let kpiParts = try XCTUnwrap(o.kpis["score_parts"] as? [String: [String: Bool]])
        XCTAssertEqual(
            kpiParts["engagement"], ["adoption": false, "api": false, "mobile": false, "training": false],
            "no customer has the account values these parts need")
        XCTAssertTrue((try o.kpis["financial_metrics"] as? [String: Any])?["monthly_recurring_revenue"] is NSNull)
    }
}
