import XCTest

@testable import CustomerHealth

/// Regressions for bugs found in review: each failed before its fix.
final class ReviewRegressionTests: XCTestCase {
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
}

extension ReviewRegressionTests {
    /// Under on_corrupt_file: skip, a corrupt (only) accounts file is skipped,
    /// every other row becomes unknown_customer (which does not count towards
    /// max_reject_ratio), and an empty run replaces the day's good outputs with exit 0.
    func testCorruptAccountsFileUnderSkipDoesNotPublishAnEmptyRun() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.remove("accounts.csv")
        try f.writeGzip("accounts.csv.gz", Sample.accountsCSV)
        try f.writePipeline(maxRejectRatio: 0.001, "on_corrupt_file: skip\nas_of: 2026-03-31\n")
        XCTAssertEqual(try f.run().status, 0)
        let before = snapshotTree(f.output)
        var b = try f.bytes("accounts.csv.gz")
        b[b.count - 8] ^= 0xFF
        try f.write("accounts.csv.gz", bytes: b)
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertEqual(
            snapshotTree(f.output), before, "the good run of 2026-03-31 was replaced by one with 0 customers")
    }
}

extension ReviewRegressionTests {
    /// A stray opening quote followed (within 1 MiB) by a row with a properly
    /// quoted field: libcsv fails with EPARSE on that later row and every line
    /// in between is dropped without being counted or reported as a row.
    func testStrayQuoteBeforeAQuotedFieldCostsOneRow() throws {
        let f = try ExportsFolder()
        var rows = ["c1,u1,\"2026-03-30T10:00:00Z,login,,"]
        for i in 0..<100 { rows.append("c2,user\(i),2026-03-20T10:00:00Z,api_call,,") }
        rows.append("c2,\"quoted, user\",2026-03-20T10:00:00Z,api_call,,")
        for i in 0..<100 { rows.append("c2,user\(i),2026-03-21T10:00:00Z,api_call,,") }
        try f.writeSample(activity: Sample.csv(Sample.activityHeader, Sample.activityRows + rows))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let input = try o.input("activity-2026-03.csv")
        XCTAssertEqual(
            JSON.int(input?["rows_read"]), Sample.activityRows.count + rows.count, "every data line is a row")
        XCTAssertEqual(
            JSON.int(input?["rows_accepted"]), Sample.activityRows.count + rows.count - 1,
            "one stray quote costs one row")
        let km = try o.score("c2")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["api_calls_30d"]), 201)
    }

    /// A stray quote less than 1 MiB before the end of the file: the rows after
    /// it are swallowed into one "record" rejected at end of file, instead of
    /// being read again as in the large-file case ("one stray quote costs one row").
    func testStrayQuoteNearTheEndOfTheFileCostsOneRow() throws {
        let f = try ExportsFolder()
        let rows = [
            "c1,u1,\"2026-03-30T10:00:00Z,login,,", "c3,w9,2026-03-31T12:00:00Z,login,,",
            "c2,v9,2026-03-31T12:00:00Z,api_call,,",
        ]
        try f.writeSample(activity: Sample.csv(Sample.activityHeader, Sample.activityRows + rows))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        XCTAssertEqual(JSON.int(try o.input("activity-2026-03.csv")?["rows_accepted"]), Sample.activityRows.count + 2)
        let km = try o.score("c3")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["days_since_last_login"]), 0)
    }
}

extension ReviewRegressionTests {
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

    /// docs/data-contract.md: "an empty file (0 bytes), compressed or not" stops
    /// the run. Since 296512c a 0-byte .jsonl is accepted (a 0-byte .jsonl.gz or .csv is not).
}
