import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The as-of rule of docs/data-contract.md: what is recorded after day T
/// leaves T's outputs as they were, and a ticket opened on or before T
/// counts even when its only version is stamped after T.
final class AsOfDayTests: XCTestCase {
    /// An accounts export written after T that records a churn after T changes
    /// features.jsonl of day T (it echoes churned_at).
    func testChurnRecordedAfterTheAsOfDayDoesNotChangeThatDay() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(
            try f.run(["--as-of", "2026-03-31", "--output", f.root.appendingPathComponent("a").path]).status, 0)
        let rows = Sample.accountsRows.map {
            $0.hasPrefix("c2,") ? $0.replacingOccurrences(of: "2025-06-01,,", with: "2025-06-01,2026-04-05,") : $0
        }
        try f.write("accounts.csv", Sample.csv(Sample.accountsHeader, rows))
        XCTAssertEqual(
            try f.run(["--as-of", "2026-03-31", "--output", f.root.appendingPathComponent("b").path]).status, 0)
        for name in ["scores.jsonl", "kpis.json", "at-risk.json", "features.jsonl"] {
            let a = try Data(contentsOf: f.root.appendingPathComponent("a/2026-03-31/\(name)"))
            let b = try Data(contentsOf: f.root.appendingPathComponent("b/2026-03-31/\(name)"))
            XCTAssertEqual(a, b, name)
        }
    }

    /// docs/data-contract.md, the as-of rule: "a ticket counts only if opened on
    /// or before T". Since 296512c a ticket whose only version is stamped after T
    /// (opened before T, answered after it) is not counted at all as of T.
    func testTicketOpenedBeforeTWithOnlyALaterVersionCounts() throws {
        let f = try ExportsFolder()
        try f.writeSample(
            tickets:
                "{\"ticket_id\": \"t1\", \"customer_id\": \"c1\", \"opened_at\": \"2026-03-30T10:00:00Z\", \"first_response_at\": \"2026-04-01T10:00:00Z\", \"resolved_at\": \"2026-04-02T10:00:00Z\"}\n"
        )
        try f.writePipeline()
        XCTAssertEqual(try f.run(["--as-of", "2026-03-31"]).status, 0)
        let km = try f.outputs("2026-03-31").score("c1")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["support_tickets_30d"]), 1, "the ticket was open on the as-of day")
    }
}
