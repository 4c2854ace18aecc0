import CustomerHealthTestSupport
import Foundation
import XCTest

/// Above `max_reject_ratio` a run publishes nothing, writes the rejects to
/// OUTPUT/rejects-<date>.jsonl and exits 4; at the limit it goes on.
final class RejectRatioTests: XCTestCase {
    /// The sample plus `bad` rejected activity rows (21 + bad rows read in all).
    private func folder(bad: Int, limit: Double) throws -> ExportsFolder {
        let f = try ExportsFolder()
        let rows = Sample.activityRows + (0..<bad).map { "c1,u\($0),2026-03-3\($0 % 2)T10:00:00Z,teleport,," }
        try f.writeSample(activity: Sample.csv(Sample.activityHeader, rows))
        try f.writePipeline(maxRejectRatio: limit)
        return f
    }

    func testTooManyRejectsExit4PublishNothingAndWriteTheRejectsReport() throws {
        let f = try folder(bad: 0, limit: 0.05)
        XCTAssertEqual(try f.run().status, 0)
        let before = snapshotTree(f.output)
        // 3 of 24 rows rejected: 12.5% > 5%.
        let rows =
            Sample.activityRows + [
                "c1,u1,2026-03-30T10:00:00Z,teleport,,", "c1,u1,2026-02-30T10:00:00Z,login,,",
                "c1,u1,2026-03-30T10:00:00Z,login,,,",
            ]
        try f.writeSample(activity: Sample.csv(Sample.activityHeader, rows))
        let r = try f.run()
        XCTAssertEqual(r.status, 4, r.transcript)
        XCTAssertTrue(r.stderr.contains("3 of 24 rows were rejected"), r.stderr)
        XCTAssertTrue(r.stderr.contains("max_reject_ratio"), r.stderr)
        XCTAssertTrue(r.stderr.contains("nothing was published"), r.stderr)
        let reportPath = f.output.appendingPathComponent("rejects-\(Sample.asOf).jsonl")
        XCTAssertTrue(r.stderr.contains(reportPath.lastPathComponent), r.stderr)
        let report = try JSON.lines(try Data(contentsOf: reportPath))
        XCTAssertEqual(report.map { JSON.int($0["line"]) }, [10, 11, 12])
        XCTAssertEqual(report.map { $0["code"] as? String }, ["bad_value", "bad_value", "field_count"])
        XCTAssertEqual(report.map { $0["file"] as? String }, Array(repeating: "activity-2026-03.csv", count: 3))
        var after = snapshotTree(f.output)
        after["rejects-\(Sample.asOf).jsonl"] = nil
        XCTAssertEqual(after, before, "OUTPUT/<date> and OUTPUT/latest are as before")
    }

    func testNothingIsPublishedOnAFirstRunEither() throws {
        let f = try folder(bad: 5, limit: 0.001)
        let r = try f.run()
        XCTAssertEqual(r.status, 4, r.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.appendingPathComponent(Sample.asOf).path))
        XCTAssertNil(linkTarget(f.output.appendingPathComponent("latest")))
        XCTAssertEqual(
            try JSON.lines(try Data(contentsOf: f.output.appendingPathComponent("rejects-\(Sample.asOf).jsonl"))).count,
            5)
    }

    func testExactlyAtTheLimitTheRunGoesOn() throws {
        // 1 of 20 rows = 0.05.
        let f = try ExportsFolder()
        try f.writeSample(
            activity: Sample.csv(
                Sample.activityHeader, Sample.activityRows + ["c1,u1,2026-03-30T10:00:00Z,teleport,,"]),
            uptime: Sample.csv(Sample.uptimeHeader, Array(Sample.uptimeRows.prefix(2))))
        try f.writePipeline(maxRejectRatio: 0.05)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let rows = try f.outputs(Sample.asOf).manifest["rows"] as? [String: Any]
        XCTAssertEqual(JSON.int(rows?["read"]), 20)
        XCTAssertEqual(JSON.int(rows?["rejected"]), 1)
    }

    func testValidateWritesOnlyTheRejectsReport() throws {
        let f = try folder(bad: 2, limit: 0.5)
        let r = try CLI.run(["validate", f.pipelinePath, "--quiet"])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stdout.contains("activity-2026-03.csv\tactivity\t10\t2\t0"), r.stdout)
        let report = try JSON.lines(try Data(contentsOf: f.output.appendingPathComponent("validate-rejects.jsonl")))
        XCTAssertEqual(report.count, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.appendingPathComponent(Sample.asOf).path))

        try f.writePipeline(maxRejectRatio: 0.01)
        XCTAssertEqual(try CLI.run(["validate", f.pipelinePath, "--quiet"]).status, 4)
    }
}
