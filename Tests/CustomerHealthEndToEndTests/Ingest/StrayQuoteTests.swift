import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// A stray opening quote in a CSV export costs one row, wherever it is in
/// the file, and the rows after it are read; in the header it stops the run
/// naming the header and the position.
final class StrayQuoteTests: XCTestCase {
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

    func testStrayQuoteInTheHeaderThroughTheCLI() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        let header = "customer_id,user_id,occurred_at,\"event_type,feature,duration_s"
        try f.write("activity-2026-03.csv", header + "\r" + Sample.activityRows.joined(separator: "\r") + "\r")
        try f.writePipeline()
        let r = try SpecialFileTests.runWithWatchdog(["run", f.pipelinePath, "--quiet"])
        XCTAssertEqual(r.result.status, 3, r.result.transcript)
        XCTAssertTrue(r.result.stderr.contains("activity-2026-03.csv"), r.result.stderr)
        XCTAssertTrue(r.result.stderr.contains(header), r.result.stderr)
        XCTAssertTrue(r.result.stderr.contains("column 33"), r.result.stderr)
    }
}
