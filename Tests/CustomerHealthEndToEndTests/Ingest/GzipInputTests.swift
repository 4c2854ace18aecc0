import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// A gzip file counts only once its end and CRC check out. A truncated or
/// corrupt one fails the run (exit 3, file name and byte offset) and leaves
/// the previous outputs alone, or, under `on_corrupt_file: skip`, is left out
/// entirely and reported in manifest.json.
final class GzipInputTests: XCTestCase {
    /// Rows of the extra activity file: a login for c3 on the as-of day (the
    /// sample's last c3 login is 58 days earlier) and a bad row.
    static let extraActivity = Sample.csv(
        Sample.activityHeader,
        [
            "c3,w9,2026-03-31T12:00:00Z,login,,",
            "c3,w8,2026-03-31T12:00:00Z,api_call,,",
            "c3,w9,not-a-date,login,,",
        ])

    private func folderWithExtraGzip() throws -> ExportsFolder {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writeGzip("activity-2026-04.csv.gz", Self.extraActivity)
        return f
    }

    private func publish(_ f: ExportsFolder, _ pipeline: String = "") throws -> [String: String] {
        try f.writePipeline(pipeline)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        return snapshotTree(f.output)
    }

    private func corruptCRC(_ f: ExportsFolder, _ name: String) throws {
        var bytes = try f.bytes(name)
        bytes[bytes.count - 8] ^= 0xFF  // first byte of the CRC-32 in the trailer
        try f.write(name, bytes: bytes)
    }

    private func truncate(_ f: ExportsFolder, _ name: String, by n: Int) throws {
        let bytes = try f.bytes(name)
        try f.write(name, bytes: Array(bytes.prefix(bytes.count - n)))
    }

    /// The number after "byte offset" in a message.
    func testGzipWithoutItsTrailerFailsTheRunAndKeepsPreviousOutputs() throws {
        let f = try folderWithExtraGzip()
        let before = try publish(f)
        let size = try f.bytes("activity-2026-04.csv.gz").count
        try truncate(f, "activity-2026-04.csv.gz", by: 8)
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-04.csv.gz"), r.stderr)
        XCTAssertTrue(r.stderr.contains("truncated"), r.stderr)
        XCTAssertEqual(byteOffset(inMessage: r.stderr), size - 8, r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testGzipWithBadCRCFailsTheRunAndKeepsPreviousOutputs() throws {
        let f = try folderWithExtraGzip()
        let before = try publish(f)
        let size = try f.bytes("activity-2026-04.csv.gz").count
        try corruptCRC(f, "activity-2026-04.csv.gz")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-04.csv.gz"), r.stderr)
        XCTAssertTrue(r.stderr.contains("corrupt gzip data"), r.stderr)
        let at = try XCTUnwrap(byteOffset(inMessage: r.stderr), r.stderr)
        XCTAssertTrue((size - 8)...size ~= at, "offset \(at) should point into the trailer of a \(size)-byte file")
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    private func assertCorruptFileSkipped(_ f: ExportsFolder, file: StaticString = #filePath, line: UInt = #line) throws
    {
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript, file: file, line: line)
        let o = try f.outputs(Sample.asOf)
        let input = try XCTUnwrap(
            try o.input("activity-2026-04.csv.gz"), "the skipped file is in manifest.json", file: file, line: line)
        let skipped = input["skipped"] as? String ?? ""
        XCTAssertTrue(skipped.contains("skip"), "skipped: \(skipped)", file: file, line: line)
        XCTAssertEqual(JSON.int(input["rows_read"]), 0, file: file, line: line)
        // The other files' rows are used ...
        XCTAssertEqual(
            JSON.int(try o.input("activity-2026-03.csv")?["rows_accepted"]), Sample.activityRows.count, file: file,
            line: line)
        XCTAssertEqual(try o.scores.count, 3, file: file, line: line)
        // ... and none of the corrupt file's: no c3 login on the 31st, no api call, no reject.
        let km = try o.score("c3")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["days_since_last_login"]), 58, file: file, line: line)
        XCTAssertEqual(JSON.int(km?["api_calls_30d"]), 0, file: file, line: line)
        XCTAssertEqual(try o.rejects.count, 0, file: file, line: line)
        let events = try o.manifest["events"] as? [String: Any]
        XCTAssertEqual(JSON.int(events?["login"]), 4, "the sample's four logins only", file: file, line: line)
        try assertNothingLost(o)
    }

    func testTruncatedGzipIsSkippedAndReportedUnderSkip() throws {
        let f = try folderWithExtraGzip()
        try f.writePipeline("on_corrupt_file: skip\n")
        try truncate(f, "activity-2026-04.csv.gz", by: 8)
        try assertCorruptFileSkipped(f)
    }

    func testGzipWithBadCRCIsSkippedAndReportedUnderSkip() throws {
        let f = try folderWithExtraGzip()
        try f.writePipeline("on_corrupt_file: skip\n")
        try corruptCRC(f, "activity-2026-04.csv.gz")
        try assertCorruptFileSkipped(f)
    }

    func testSkipGivesTheSameScoresAsWithoutTheFile() throws {
        let corrupt = try folderWithExtraGzip()
        try corrupt.writePipeline("on_corrupt_file: skip\n")
        try corruptCRC(corrupt, "activity-2026-04.csv.gz")
        XCTAssertEqual(try corrupt.run(["--threads", "2"]).status, 0)
        let clean = try ExportsFolder()
        try clean.writeSample()
        try clean.writePipeline()
        XCTAssertEqual(try clean.run().status, 0)
        for name in ["scores.jsonl", "features.jsonl", "kpis.json", "at-risk.json", "at-risk.csv"] {
            XCTAssertEqual(try corrupt.outputs(Sample.asOf).data(name), try clean.outputs(Sample.asOf).data(name), name)
        }
    }

    func testMultiMemberGzipReadsEveryMember() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writeGzip(
            "activity-2026-04.csv.gz",
            members: [
                Sample.activityHeader + "\nc3,w1,2026-03-20T10:00:00Z,api_call,,\n",
                "c3,w2,2026-03-21T10:00:00Z,api_call,,\n",
                "c3,w3,2026-03-31T10:00:00Z,login,,\nc3,w3,2026-03-31T10:00:00Z,nap,,\n",
            ])
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        XCTAssertEqual(JSON.int(try o.input("activity-2026-04.csv.gz")?["rows_accepted"]), 3)
        // Lines and byte offsets count through the member boundaries, in the decompressed text.
        let reject = try o.rejects(in: "activity-2026-04.csv.gz").first
        assertReject(
            reject, file: "activity-2026-04.csv.gz", line: 5, column: "event_type", code: "bad_value",
            reasonContains: ["\"nap\""])
        let plain =
            Sample.activityHeader
            + "\nc3,w1,2026-03-20T10:00:00Z,api_call,,\nc3,w2,2026-03-21T10:00:00Z,api_call,,\nc3,w3,2026-03-31T10:00:00Z,login,,\n"
        XCTAssertEqual(JSON.int(reject?["byte_offset"]), plain.utf8.count)
        let km = try o.score("c3")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["days_since_last_login"]), 0, "the last member's row is read")
        XCTAssertEqual(JSON.int(km?["api_calls_30d"]), 2)
        try assertNothingLost(o)
    }

    func testRowSplitAcrossMembersIsOneRow() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writeGzip(
            "activity-2026-04.csv.gz",
            members: [
                Sample.activityHeader + "\nc3,w1,2026-03-3", "1T10:00:00Z,login,,\n",
            ])
        try f.writePipeline(maxRejectRatio: 0)
        XCTAssertEqual(try f.run().status, 0)
        let km = try f.outputs(Sample.asOf).score("c3")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["days_since_last_login"]), 0)
    }

}
