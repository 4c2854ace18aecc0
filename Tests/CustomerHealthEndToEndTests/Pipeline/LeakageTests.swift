import CustomerHealthTestSupport
import Foundation
import XCTest

/// Only data up to the as-of day counts: events dated after it never change
/// any output for that day.
final class LeakageTests: XCTestCase {
    static let compared = [
        "scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "features.jsonl", "rejects.jsonl",
    ]
    let asOf = "2026-03-31"

    private func outputs(_ f: ExportsFolder, into name: String) throws -> [String: Data] {
        let out = f.root.appendingPathComponent(name)
        let r = try CLI.run(["run", f.pipelinePath, "--quiet", "--as-of", asOf, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try RunOutputs(folder: out.appendingPathComponent(asOf), owner: f)
        var files: [String: Data] = [:]
        for name in Self.compared { files[name] = try o.data(name) }
        return files
    }

    /// Late rows for known customers, of every kind, all dated after 2026-03-31 (UTC).
    private func addLateEvents(_ f: ExportsFolder) throws {
        var activity = Sample.activityHeader + "\n"
        let kinds = [
            "login", "feature_use,newfeature", "api_call", "mobile_session", "dashboard_view", "work_order_completed",
            "training_completed,module-late",
        ]
        for i in 1...SyntheticExports.customers {
            for (k, kind) in kinds.enumerated() {
                let parts = kind.split(separator: ",").map(String.init)
                let feature = parts.count > 1 ? parts[1] : ""
                activity +=
                    "\(SyntheticExports.id(i)),late-user-\(k),2026-04-0\(1 + k % 5)T00:00:00Z,\(parts[0]),\(feature),5\n"
            }
            // A minute after midnight UTC, written with an offset that still says March 31.
            activity += "\(SyntheticExports.id(i)),offset-user,2026-03-31T20:01:00-04:00,login,,\n"
        }
        try f.write("activity-2026-04.csv", activity)
        // Late rows appended to a file that already holds earlier data.
        try f.write(
            "activity-2026-02.csv",
            String(decoding: try f.bytes("activity-2026-02.csv"), as: UTF8.self)
                + "c001,late,2026-04-03T10:00:00Z,login,,\nc002,late,2026-04-03T10:00:00Z,feature_use,maps,\n")
        // New tickets opened after T, and updates (closing, resolving) of tickets opened before it.
        var tickets = ""
        for t in 0..<40 {
            tickets +=
                "{\"ticket_id\": \"L\(t)\", \"customer_id\": \"\(SyntheticExports.id(1 + t))\", \"opened_at\": \"2026-04-02T10:00:00Z\", \"first_response_at\": \"2026-04-02T11:00:00Z\"}\n"
        }
        tickets +=
            "{\"ticket_id\": \"X1\", \"customer_id\": \"c003\", \"opened_at\": \"2026-03-30T10:00:00Z\", \"first_response_at\": null}\n"
        try f.write("tickets-0.jsonl", tickets)
        try f.write(
            "tickets-9.jsonl",
            "{\"ticket_id\": \"X1\", \"customer_id\": \"c003\", \"opened_at\": \"2026-03-30T10:00:00Z\", \"first_response_at\": \"2026-04-01T09:00:00Z\", \"resolved_at\": \"2026-04-03T09:00:00Z\", \"status\": \"closed\"}\n"
        )
        var uptime = Sample.uptimeHeader + "\n"
        var savings = Sample.savingsHeader + "\n"
        for i in 1...SyntheticExports.customers {
            uptime += "\(SyntheticExports.id(i)),2026-04-01,12.5\n"
            savings += "\(SyntheticExports.id(i)),2026-04-01,99999,energy\n"
        }
        try f.write("uptime-2026-04.csv", uptime)
        try f.write("savings-2026-04.csv", savings)
        // A customer that signs up after T, with activity.
        try f.write(
            "accounts.csv",
            String(decoding: try f.bytes("accounts.csv"), as: UTF8.self)
                + "c999,Newcomer,pro,9999,2026-04-02,,50,10,3,100,10\n")
        try f.write("activity-2026-05.csv", Sample.activityHeader + "\nc999,n1,2026-04-02T10:00:00Z,login,,\n")
    }

    func testLateEventsNeverChangeAnOutputOfAnEarlierDay() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        // The base data already holds the ticket X1 opened before T.
        try f.write(
            "tickets-0.jsonl",
            "{\"ticket_id\": \"X1\", \"customer_id\": \"c003\", \"opened_at\": \"2026-03-30T10:00:00Z\", \"first_response_at\": null}\n"
        )
        try f.writePipeline()
        let before = try outputs(f, into: "before")
        try addLateEvents(f)
        let after = try outputs(f, into: "after")
        for name in Self.compared {
            XCTAssertEqual(after[name], before[name], "\(name) changed after adding events dated after \(asOf)")
        }
        // The late data was read (this is not a run that ignored the new files).
        let latest = try CLI.run([
            "run", f.pipelinePath, "--quiet", "--output", f.root.appendingPathComponent("latest-run").path,
        ])
        XCTAssertEqual(latest.status, 0, latest.transcript)
        XCTAssertTrue(latest.stdout.contains("as of 2026-04-05"), latest.stdout)
    }

    func testTheAsOfDayItselfIsIncluded() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run(["--as-of", "2026-03-30"]).status, 0)
        XCTAssertEqual(try f.run(["--as-of", "2026-03-31"]).status, 0)
        let km30 = try f.outputs("2026-03-30").score("c1")?["key_metrics"] as? [String: Any]
        let km31 = try f.outputs("2026-03-31").score("c1")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km31?["days_since_last_login"]), 0, "c1 logged in on the 31st")
        XCTAssertNil(km30?["days_since_last_login"] as? NSNumber, "as of the 30th that login has not happened")
        XCTAssertEqual(JSON.double(km31?["uptime_percentage"]), 99.9)
        XCTAssertEqual(JSON.double(km30?["uptime_percentage"]), 99.95)
    }
}
