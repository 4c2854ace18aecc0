import CustomerHealthTestSupport
import Foundation
import XCTest

/// Row-level bad input: each bad row lands in rejects.jsonl with its file,
/// line, byte offset, column and reason; the rows around it are still used;
/// and no row goes missing from the counts.
final class BadRowTests: XCTestCase {
    let activityFile = "activity-2026-03.csv"

    /// Runs the sample with `rows` appended to the activity export.
    private func runWithActivity(_ rows: [String]) throws -> (ExportsFolder, RunOutputs, String) {
        let f = try ExportsFolder()
        let text = Sample.csv(Sample.activityHeader, Sample.activityRows + rows)
        try f.writeSample(activity: text)
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        return (f, try f.outputs(Sample.asOf), text)
    }

    private func onlyReject(_ o: RunOutputs, in file: String) throws -> [String: Any]? {
        let rejects = try o.rejects(in: file)
        XCTAssertEqual(rejects.count, 1, "\(rejects)")
        return rejects.first
    }

    /// A login by c3 on the as-of day: visible as days_since_last_login 0
    /// (the sample's last login for c3 is 58 days earlier).
    let c3LoginToday = "c3,w9,2026-03-31T12:00:00Z,login,,"

    private func c3DaysSinceLogin(_ o: RunOutputs) throws -> Int? {
        let km = try o.score("c3")?["key_metrics"] as? [String: Any]
        return JSON.int(km?["days_since_last_login"])
    }

    func testWrongColumnCount() throws {
        let few = "c1,u1,2026-03-30T10:00:00Z,login"
        let many = "c1,u1,2026-03-30T10:00:00Z,login,,,extra"
        let (_, o, text) = try runWithActivity([few, many, c3LoginToday])
        let rejects = try o.rejects(in: activityFile)
        XCTAssertEqual(rejects.count, 2)
        let line = Sample.nextActivityLine
        assertReject(
            rejects.first, file: activityFile, line: line, column: nil, code: "field_count",
            reasonContains: ["expected 6 fields", "found 4"])
        XCTAssertEqual(JSON.int(rejects.first?["byte_offset"]), byteOffset(ofLine: line, in: text))
        XCTAssertEqual(rejects.first?["raw"] as? String, few)
        assertReject(
            rejects.last, file: activityFile, line: line + 1, column: nil, code: "field_count",
            reasonContains: ["expected 6 fields", "found 7"])
        XCTAssertEqual(try c3DaysSinceLogin(o), 0, "the row after the bad ones is used")
        let input = try o.input(activityFile)
        XCTAssertEqual(JSON.int(input?["rows_read"]), Sample.activityRows.count + 3)
        XCTAssertEqual(JSON.int(input?["rows_rejected"]), 2)
        try assertNothingLost(o)
    }

    func testEmptyCustomerID() throws {
        let (_, o, text) = try runWithActivity([" ,u1,2026-03-30T10:00:00Z,login,,", c3LoginToday])
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: "customer_id", code: "missing_value",
            reasonContains: ["customer_id is empty"])
        XCTAssertEqual(JSON.int(r?["byte_offset"]), byteOffset(ofLine: Sample.nextActivityLine, in: text))
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testUnparsableTimestamp() throws {
        let (_, o, _) = try runWithActivity(["c1,u1,2026-13-01,login,,", c3LoginToday])
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: "occurred_at", code: "bad_value",
            reasonContains: ["occurred_at", "\"2026-13-01\"", "not a valid calendar date"])
        XCTAssertEqual(r?["raw"] as? String, "c1,u1,2026-13-01,login,,")
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testUnparsableNumber() throws {
        let f = try ExportsFolder()
        let rows =
            Sample.savingsRows + [
                "c2,2026-03-02,12.5.3,energy", "c2,2026-03-03,1e5,energy", "c2,2026-03-04,700,energy",
            ]
        try f.writeSample(savings: Sample.csv(Sample.savingsHeader, rows))
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        let rejects = try o.rejects(in: "savings.csv")
        XCTAssertEqual(rejects.count, 2)
        assertReject(
            rejects.first, file: "savings.csv", line: 5, column: "amount", code: "bad_value",
            reasonContains: ["\"12.5.3\"", "is not a number"])
        assertReject(
            rejects.last, file: "savings.csv", line: 6, column: "amount", code: "bad_value",
            reasonContains: ["\"1e5\"", "is not a number"])
        let km = try o.score("c2")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.double(km?["cost_savings_achieved"]), 700, "only the valid saving counts")
        try assertNothingLost(o)
    }

    func testUnknownEventType() throws {
        let (_, o, _) = try runWithActivity(["c1,u1,2026-03-30T10:00:00Z,logout,,", c3LoginToday])
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: "event_type", code: "bad_value",
            reasonContains: ["unknown event_type \"logout\"", "login", "training_completed"])
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testUptimeOutsideZeroToHundred() throws {
        let f = try ExportsFolder()
        let rows = Sample.uptimeRows + ["c3,2026-03-30,100.5", "c3,2026-03-29,-0.1", "c3,2026-03-28,100.000"]
        try f.writeSample(uptime: Sample.csv(Sample.uptimeHeader, rows))
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        let rejects = try o.rejects(in: "uptime-2026-03.csv")
        XCTAssertEqual(rejects.count, 2, "100.000 is inside the range")
        assertReject(
            rejects.first, file: "uptime-2026-03.csv", line: 6, column: "uptime_pct", code: "bad_value",
            reasonContains: ["\"100.5\"", "outside 0-100"])
        assertReject(
            rejects.last, file: "uptime-2026-03.csv", line: 7, column: "uptime_pct", code: "bad_value",
            reasonContains: ["\"-0.1\"", "outside 0-100"])
        let km = try o.score("c3")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.double(km?["uptime_percentage"]), 100)
        try assertNothingLost(o)
    }

    func testNegativeSavingsAmount() throws {
        let f = try ExportsFolder()
        try f.writeSample(
            savings: Sample.csv(Sample.savingsHeader, Sample.savingsRows + ["c1,2026-03-02,-250.00,energy"]))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let r = try onlyReject(o, in: "savings.csv")
        assertReject(
            r, file: "savings.csv", line: 5, column: "amount", code: "bad_value",
            reasonContains: ["\"-250.00\"", "negative"])
        let km = try o.score("c1")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.double(km?["cost_savings_achieved"]), 15000.5, "the negative amount is not subtracted")
        try assertNothingLost(o)
    }

    func testInvalidUTF8InAField() throws {
        let f = try ExportsFolder()
        var bytes = Array(Sample.activityCSV.utf8)
        bytes += Array("c1,u".utf8) + [0xFF, 0xFE, 0x80] + Array(",2026-03-30T10:00:00Z,login,,\n".utf8)
        bytes += Array((c3LoginToday + "\n").utf8)
        try f.writeSample()
        try f.write(activityFile, bytes: bytes)
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: "user_id", code: "invalid_utf8",
            reasonContains: ["user_id is not valid UTF-8"])
        XCTAssertEqual(JSON.int(r?["byte_offset"]), Sample.activityCSV.utf8.count)
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testUnterminatedQuoteAtEndOfFileIsReportedWhereItOpened() throws {
        let opened = Sample.nextActivityLine + 1
        let (_, o, text) = try runWithActivity([
            c3LoginToday,
            "c1,u1,\"2026-03-30T10:00:00Z,login,,",
            "c2,v1,2026-03-30T10:00:00Z,login,,",
            "c2,v2,2026-03-30T10:00:00Z,login,,",
        ])
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: opened, column: nil, code: "bad_quoting",
            reasonContains: ["quote opened on line \(opened)", "never closed", "end of the file"])
        XCTAssertEqual(JSON.int(r?["byte_offset"]), byteOffset(ofLine: opened, in: text))
        XCTAssertEqual(try c3DaysSinceLogin(o), 0, "the row before the quote is used")
        try assertNothingLost(o)
    }

    func testLineOverOneMiBIsRejectedAndTheRestOfTheFileIsRead() throws {
        // Just over the limit: 1 MiB and 140 bytes, read across two 1 MiB blocks.
        let huge = "c1,u1,2026-03-30T10:00:00Z,feature_use," + String(repeating: "x", count: (1 << 20) + 100) + ","
        let (_, o, text) = try runWithActivity([huge, c3LoginToday, "c1,u1,2026-03-30T10:00:00Z,skydive,,"])
        let rejects = try o.rejects(in: activityFile)
        XCTAssertEqual(rejects.count, 2)
        let r = rejects.first
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: nil, code: "row_too_long",
            reasonContains: ["longer than 1048576 bytes"])
        assertReject(
            rejects.last, file: activityFile, line: Sample.nextActivityLine + 2, column: "event_type",
            code: "bad_value",
            reasonContains: ["skydive"])
        XCTAssertEqual(
            JSON.int(rejects.last?["byte_offset"]), byteOffset(ofLine: Sample.nextActivityLine + 2, in: text))
        XCTAssertEqual(JSON.int(r?["byte_offset"]), byteOffset(ofLine: Sample.nextActivityLine, in: text))
        let raw = r?["raw"] as? String ?? ""
        XCTAssertLessThanOrEqual(raw.utf8.count, 1024, "raw text is cut at 1 KiB")
        XCTAssertTrue(raw.hasPrefix("c1,u1,2026-03-30T10:00:00Z,feature_use,xxx"))
        XCTAssertEqual(try c3DaysSinceLogin(o), 0, "the line after the long one is read")
        let input = try o.input(activityFile)
        XCTAssertEqual(JSON.int(input?["rows_accepted"]), Sample.activityRows.count + 1)
        try assertNothingLost(o)
    }

    func testLinesOverOneMiBInAGzipFileAreRejected() throws {
        let f = try ExportsFolder()
        let justOver = "c1,u1,2026-03-30T10:00:00Z,feature_use," + String(repeating: "z", count: (1 << 20) - 40) + ","
        let huge = "c1,u1,2026-03-30T10:00:00Z,feature_use," + String(repeating: "x", count: 3 << 20) + ","
        XCTAssertEqual(justOver.utf8.count + 1, (1 << 20) + 1, "with its newline, one byte over 1 MiB")
        try f.writeSample()
        try f.remove(activityFile)
        try f.writeGzip(
            "activity-2026-03.csv.gz",
            Sample.csv(Sample.activityHeader, Sample.activityRows + [justOver, c3LoginToday, huge]))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let rejects = try o.rejects(in: "activity-2026-03.csv.gz")
        XCTAssertEqual(
            rejects.compactMap { JSON.int($0["line"]) }, [Sample.nextActivityLine, Sample.nextActivityLine + 2])
        XCTAssertEqual(rejects.compactMap { $0["code"] as? String }, ["row_too_long", "row_too_long"])
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testQuoteNeverClosedInALargeFileNamesItsLineAndTheRowsAfterItAreRead() throws {
        let opened = Sample.nextActivityLine
        var rows = ["c1,u1,\"2026-03-30T10:00:00Z,login,,"]
        // About 4 MB of valid rows after the stray quote.
        let filler = 70_000
        for i in 0..<filler {
            rows.append("c2,user\(i % 50),2026-03-\(10 + i % 20)T10:00:00Z,api_call,,\(i % 1000)")
        }
        rows.append(c3LoginToday)
        let (_, o, text) = try runWithActivity(rows)
        XCTAssertGreaterThan(text.utf8.count, 3_000_000)
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: opened, column: nil, code: "row_too_long",
            reasonContains: ["quote opened on line \(opened)"])
        XCTAssertEqual(JSON.int(r?["byte_offset"]), byteOffset(ofLine: opened, in: text))
        let input = try o.input(activityFile)
        XCTAssertEqual(
            JSON.int(input?["rows_accepted"]), Sample.activityRows.count + filler + 1,
            "every row after the stray quote is read")
        let km = try o.score("c2")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["api_calls_30d"]), filler)
        XCTAssertEqual(JSON.int(km?["monthly_active_users"]), 51, "v1 and user0...user49")
        XCTAssertEqual(try c3DaysSinceLogin(o), 0)
        try assertNothingLost(o)
    }

    func testActivityForACustomerMissingFromAccountsIsCountedAndNotScored() throws {
        let f = try ExportsFolder()
        let text = Sample.csv(
            Sample.activityHeader, Sample.activityRows + ["zz9,u1,2026-03-30T10:00:00Z,login,,", c3LoginToday])
        try f.writeSample(activity: text)
        // Unknown customers are counted apart: they do not count against max_reject_ratio.
        try f.writePipeline(maxRejectRatio: 0)
        let run = try f.run()
        XCTAssertEqual(run.status, 0, run.transcript)
        let o = try f.outputs(Sample.asOf)
        let r = try onlyReject(o, in: activityFile)
        assertReject(
            r, file: activityFile, line: Sample.nextActivityLine, column: "customer_id", code: "unknown_customer",
            reasonContains: ["\"zz9\"", "not in the accounts export"])
        let rows = try o.manifest["rows"] as? [String: Any]
        XCTAssertEqual(JSON.int(rows?["unknown_customer"]), 1)
        XCTAssertEqual(JSON.int(rows?["rejected"]), 0)
        XCTAssertEqual(JSON.int(try o.input(activityFile)?["rows_unknown_customer"]), 1)
        XCTAssertNil(try o.score("zz9"))
        XCTAssertEqual(try o.scores.map { $0["customer_id"] as? String }, ["c1", "c2", "c3"])
        try assertNothingLost(o)
    }

    func testDuplicateCustomerIDInAccountsKeepsTheFirstRow() throws {
        let f = try ExportsFolder()
        let rows = Sample.accountsRows + ["c1,Impostor,basic,1,2025-01-01,,1,1,0,,"]
        try f.writeSample(accounts: Sample.csv(Sample.accountsHeader, rows))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let r = try onlyReject(o, in: "accounts.csv")
        assertReject(
            r, file: "accounts.csv", line: 6, column: "customer_id", code: "duplicate",
            reasonContains: ["\"c1\"", "appears twice", "first row"])
        let account = try o.feature("c1")?["account"] as? [String: Any]
        XCTAssertEqual(account?["name"] as? String, "Acme Corp")
        XCTAssertEqual(JSON.int(account?["seats"]), 10)
        XCTAssertEqual(try o.scores.filter { $0["customer_id"] as? String == "c1" }.count, 1)
        try assertNothingLost(o)
    }

    func testRawTextCanBeTurnedOff() throws {
        let f = try ExportsFolder()
        try f.writeSample(
            activity: Sample.csv(Sample.activityHeader, Sample.activityRows + ["c1,secret-user,2026-13-01,login,,"]))
        try f.writePipeline("rejects:\n  include_raw: false\n")
        XCTAssertEqual(try f.run().status, 0)
        let text = try f.outputs(Sample.asOf).text("rejects.jsonl")
        XCTAssertFalse(text.contains("secret-user"))
        XCTAssertTrue(text.contains("\"raw\": null"), text)
    }
}
