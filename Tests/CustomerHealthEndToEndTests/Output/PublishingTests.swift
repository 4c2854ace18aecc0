import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

#if canImport(Glibc)
    import Glibc
#endif

/// OUTPUT/<date> appears all at once, OUTPUT/latest points at the newest date,
/// a failed run changes nothing, and two runs never write at the same time.
final class PublishingTests: XCTestCase {
    func testAFailedRunLeavesEveryPreviousOutputAsItWas() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run(["--as-of", "2026-03-30"]).status, 0)
        XCTAssertEqual(try f.run(["--as-of", "2026-03-31"]).status, 0)
        let before = snapshotTree(f.output)
        XCTAssertEqual(before["latest"], "link -> 2026-03-31")
        // A corrupt gzip among the inputs: the run fails after reading the good files.
        try f.writeGzip("activity-2026-04.csv.gz", Sample.activityCSV)
        var bytes = try f.bytes("activity-2026-04.csv.gz")
        bytes[bytes.count / 2] ^= 0x55
        try f.write("activity-2026-04.csv.gz", bytes: bytes)
        for args in [[], ["--as-of", "2026-03-31"], ["--as-of", "2026-03-30"], ["--threads", "1"]] {
            let r = try f.run(args)
            XCTAssertEqual(r.status, 3, r.transcript)
            XCTAssertEqual(snapshotTree(f.output), before, "after a failed run with \(args)")
        }
    }

    func testLatestPointsAtTheNewestDateEvenAfterAnOlderRun() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        XCTAssertEqual(linkTarget(f.output.appendingPathComponent("latest")), "2026-03-31")
        XCTAssertEqual(try f.run(["--as-of", "2026-03-20"]).status, 0)
        XCTAssertEqual(
            linkTarget(f.output.appendingPathComponent("latest")), "2026-03-31",
            "a replay of an old date does not move latest back")
        XCTAssertEqual(try f.outputs("2026-03-20").scores.first?["as_of"] as? String, "2026-03-20")
        XCTAssertEqual(try f.outputs("latest").scores.first?["as_of"] as? String, "2026-03-31")
        XCTAssertEqual(try f.run(["--as-of", "2026-04-02"]).status, 0)
        XCTAssertEqual(linkTarget(f.output.appendingPathComponent("latest")), "2026-04-02")
    }

    func testRerunningADateReplacesItWhole() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let first = try f.outputs(Sample.asOf).data("scores.jsonl")
        try f.writeSample(
            activity: Sample.csv(Sample.activityHeader, Sample.activityRows + ["c3,w9,2026-03-31T12:00:00Z,login,,"]))
        XCTAssertEqual(try f.run().status, 0)
        XCTAssertNotEqual(try f.outputs(Sample.asOf).data("scores.jsonl"), first)
        let runs = try FileManager.default.contentsOfDirectory(atPath: f.output.appendingPathComponent(".runs").path)
        XCTAssertEqual(runs.count, 1, "the replaced run's files are cleaned up: \(runs)")
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: f.output.appendingPathComponent(Sample.asOf).path)),
            [
                "scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "features.jsonl", "rejects.jsonl",
                "manifest.json", "metrics.prom",
                "report.html",
            ])
    }

    /// Holds OUTPUT/.lock the way another run would.
    private func holdLock(_ output: URL) throws -> Int32 {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let fd = open(output.appendingPathComponent(".lock").path, O_RDWR | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        return fd
    }

    func testASecondRunWhileTheLockIsHeldExitsWithAClearMessage() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run(["--as-of", "2026-03-30"]).status, 0)
        let before = snapshotTree(f.output)
        let fd = try holdLock(f.output)
        for args in [[], ["--lock-wait", "0.3"]] {
            let r = try f.run(args)
            XCTAssertEqual(r.status, 1, r.transcript)
            XCTAssertTrue(r.stderr.contains(".lock"), r.stderr)
            XCTAssertTrue(r.stderr.contains("another customer-health run"), r.stderr)
            XCTAssertEqual(snapshotTree(f.output), before, "nothing written while another run holds the lock")
        }
        let rescore = try CLI.run([
            "rescore", f.pipelinePath, "--features", f.outputFile("2026-03-30", "features.jsonl"),
        ])
        XCTAssertEqual(rescore.status, 1, rescore.transcript)
        XCTAssertTrue(rescore.stderr.contains(".lock"), rescore.stderr)
        close(fd)
        let after = try f.run()
        XCTAssertEqual(after.status, 0, "the lock is free again: \(after.transcript)")
    }

}
