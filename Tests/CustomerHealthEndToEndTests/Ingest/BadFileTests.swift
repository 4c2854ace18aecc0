import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Problems with a whole file: the run stops with exit 3 and a message that
/// names the file, and the previous outputs stay exactly as they were.
final class BadFileTests: XCTestCase {
    /// A folder with the sample exports, already run once successfully.
    private func publishedFolder() throws -> (ExportsFolder, [String: String]) {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let before = snapshotTree(f.output)
        XCTAssertEqual(before["latest"], "link -> \(Sample.asOf)")
        return (f, before)
    }

    func testMissingRequiredColumnStopsTheRunAndNamesColumnAndFile() throws {
        let (f, before) = try publishedFolder()
        let header = "customer_id,user_id,occurred_at,feature,duration_s"  // no event_type
        try f.write("activity-2026-03.csv", header + "\nc1,u1,2026-03-31T10:00:00Z,,\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-03.csv"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 1: the header has no column event_type"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before, "the previous outputs are untouched")
    }

    func testMissingRenamedColumnNamesBothNames() throws {
        let (f, before) = try publishedFolder()
        try f.writePipeline("exports:\n  activity:\n    columns: {customer_id: account_ref}\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-03.csv"), r.stderr)
        XCTAssertTrue(r.stderr.contains("account_ref (mapped to customer_id)"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testSemicolonHeaderWithoutDelimiterSettingSuggestsIt() throws {
        let (f, before) = try publishedFolder()
        try f.write(
            "activity-2026-03.csv",
            Sample.csv(Sample.activityHeader, Sample.activityRows).replacingOccurrences(of: ",", with: ";"))
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("set `delimiter`"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testEmptyFileFailsTheRunWithItsName() throws {
        let (f, before) = try publishedFolder()
        try f.write("activity-2026-04.csv", "")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-04.csv: the file is empty (0 bytes)"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testEmptyGzipFileFailsTheRunWithItsName() throws {
        let (f, before) = try publishedFolder()
        try f.write("activity-2026-04.csv.gz", "")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-04.csv.gz: the file is empty (0 bytes)"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testFileOfBlankLinesHasNoHeader() throws {
        let (f, before) = try publishedFolder()
        try f.write("activity-2026-04.csv", "\n\r\n\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-04.csv: has no header row"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testFileMatchedByTwoExportsIsAPipelineError() throws {
        let (f, before) = try publishedFolder()
        try f.writePipeline("exports:\n  uptime:\n    files: [\"uptime*.csv\", \"*-2026-03.csv\"]\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertTrue(r.stderr.contains("activity-2026-03.csv matches the globs of both activity and uptime"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testGzippedJSONLWithNoLinesIsValid() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writeGzip("tickets-2026-04.jsonl.gz", "")
        try f.writePipeline(maxRejectRatio: 0)
        let ok = try f.run()
        XCTAssertEqual(ok.status, 0, ok.transcript)
        XCTAssertEqual(JSON.int(try f.outputs(Sample.asOf).input("tickets-2026-04.jsonl.gz")?["rows_read"]), 0)
    }

    func testHeaderOnlyFileIsFineWithZeroRows() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.write("activity-2026-04.csv", Sample.activityHeader + "\n")
        try f.writeGzip("activity-2026-05.csv.gz", Sample.activityHeader + "\r\n")
        try f.writePipeline(maxRejectRatio: 0)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        for name in ["activity-2026-04.csv", "activity-2026-05.csv.gz"] {
            let input = try o.input(name)
            XCTAssertNotNil(input, "\(name) is listed in the manifest")
            XCTAssertEqual(JSON.int(input?["rows_read"]), 0)
            XCTAssertTrue(input?["skipped"] is NSNull)
        }
        XCTAssertEqual(try o.scores.count, 3)
        try assertNothingLost(o)
    }

    func testHeaderWithoutNewlineIsAHeaderOnlyFile() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.write("activity-2026-04.csv", Sample.activityHeader)
        try f.writePipeline(maxRejectRatio: 0)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertEqual(JSON.int(try f.outputs(Sample.asOf).input("activity-2026-04.csv")?["rows_read"]), 0)
    }

    /// Deletes `victim` as soon as the first event file has been read: the
    /// file was listed, but is gone when its turn comes.
    private func deleteDuringIngest(_ f: ExportsFolder, victim: String) throws -> IngestRunner {
        var runner = InProcess.ingestRunner(try f.config(), threads: 1)
        let path = f.path(victim)
        runner.progress = { _, _ in unlink(path) }
        return runner
    }

    func testFileDeletedBetweenListingAndReadingFailsWithItsName() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let runner = try deleteDuringIngest(f, victim: "uptime-2026-03.csv")
        XCTAssertTrue(try runner.listFiles().contains { $0.name == "uptime-2026-03.csv" }, "listed")
        XCTAssertThrowsError(try runner.run()) { error in
            guard let e = error as? CustomerHealthError, case .input(let file, let message) = e else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "uptime-2026-03.csv")
            XCTAssertTrue(message.contains("no longer exists"), message)
            XCTAssertEqual(e.exitCode, 3)
        }
    }

    func testFileDeletedDuringARunLeavesThePreviousOutputs() throws {
        let (f, before) = try publishedFolder()
        var runner = try InProcess.runner(f, threads: 1)
        let victim = f.path("savings.csv")
        runner.progress = { _, _ in unlink(victim) }
        XCTAssertThrowsError(try runner.run()) { error in
            XCTAssertEqual((error as? CustomerHealthError)?.exitCode, 3)
            XCTAssertTrue("\(error)".contains("savings.csv: no longer exists"), "\(error)")
        }
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testFileDeletedBetweenListingAndReadingIsSkippedAndReportedUnderSkip() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline("on_corrupt_file: skip\n")
        let runner = try deleteDuringIngest(f, victim: "uptime-2026-03.csv")
        let data = try runner.run()
        let report = data.files.first { $0.name == "uptime-2026-03.csv" }
        XCTAssertNotNil(report?.skipped)
        XCTAssertEqual(report?.rowsRead, 0)
        XCTAssertEqual(data.files.first { $0.name == "savings.csv" }?.rowsAccepted, 3, "the other files are read")
        XCTAssertEqual(data.rowsRead, 4 + 8 + 2 + 3)
    }

    func testMissingInputFolderExits3() throws {
        let f = try ExportsFolder()
        try f.writePipelineText("input: no-such-folder\noutput: out\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("no-such-folder"), r.stderr)
        XCTAssertTrue(r.stderr.contains("does not exist"), r.stderr)
    }

    func testMissingActivityExportExits3() throws {
        let (f, before) = try publishedFolder()
        try f.remove("activity-2026-03.csv")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("no activity export"), r.stderr)
        XCTAssertEqual(snapshotTree(f.output), before)
    }

    func testFilesStillBeingWrittenAreIgnored() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.write("activity-2026-04.csv.tmp", "garbage\n")
        try f.write("activity-2026-04.csv.part", "garbage\n")
        try f.writePipeline(maxRejectRatio: 0)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertNil(try f.outputs(Sample.asOf).input("activity-2026-04.csv.tmp"))
    }
}
