import CustomerHealth
import CustomerHealthTestSupport
import Foundation
import XCTest

/// A file that holds most of the input is decompressed and parsed on two
/// threads (above 4 MiB, with --threads 2 or more). The results, the rejects
/// and the failures must be those of the one-thread path.
final class LargeFileTests: XCTestCase {
    /// About 7 MB of activity with bad rows, a 3 MiB line and a stray quote in it.
    static func bigActivity() -> (text: String, badLines: [Int]) {
        var r = SeededRandom(seed: 99)
        var lines = [Sample.activityHeader]
        var bad: [Int] = []
        let events = ["login", "api_call", "mobile_session", "dashboard_view", "work_order_completed"]
        for i in 0..<95_000 {
            if i == 20_000 {
                lines.append("c1,u1,2026-03-30T10:00:00Z,feature_use," + String(repeating: "y", count: 3 << 20) + ",")
                bad.append(lines.count)
                continue
            }
            if i == 50_000 {
                lines.append("c2,u1,\"2026-03-30T10:00:00Z,login,,")  // quote never closed: the next MiB is read again
                bad.append(lines.count)
                continue
            }
            if i % 9_999 == 0 {
                lines.append("c\(1 + i % 3),u\(i),2026-03-\(10 + i % 20)T10:00:00Z,hover,,")
                bad.append(lines.count)
                continue
            }
            let c = 1 + r.int(0...2)
            lines.append(
                "c\(c),u\(r.int(1...400)),2026-03-\(String(format: "%02d", r.int(1...31)))T\(String(format: "%02d", r.int(0...23))):00:00Z,\(r.pick(events)),,\(r.int(1...900))"
            )
        }
        return (lines.map { $0 + "\n" }.joined(), bad)
    }

    private func runBoth(_ f: ExportsFolder) throws -> (RunOutputs, RunOutputs) {
        var outs: [RunOutputs] = []
        for threads in [1, 2] {
            let out = f.root.appendingPathComponent("out-\(threads)")
            let r = try CLI.run(["run", f.pipelinePath, "--quiet", "--threads", String(threads), "--output", out.path])
            XCTAssertEqual(r.status, 0, r.transcript)
            outs.append(try RunOutputs(folder: out.appendingPathComponent(Sample.asOf), owner: f))
        }
        return (outs[0], outs[1])
    }

    private func assertSameOutputs(_ a: RunOutputs, _ b: RunOutputs, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        for name in ["scores.jsonl", "features.jsonl", "kpis.json", "at-risk.json", "at-risk.csv", "rejects.jsonl"] {
            XCTAssertEqual(try a.data(name), try b.data(name), name, file: file, line: line)
        }
    }

    func testLargePlainFileGivesTheSameOutputsOnOneAndTwoThreads() throws {
        let f = try ExportsFolder()
        let (text, bad) = Self.bigActivity()
        try f.writeSample(activity: text)
        try f.writePipeline()
        let (one, two) = try runBoth(f)
        try assertSameOutputs(one, two)
        let rejects = try two.rejects(in: "activity-2026-03.csv")
        XCTAssertEqual(rejects.compactMap { JSON.int($0["line"]) }, bad)
        XCTAssertEqual(rejects.compactMap { $0["code"] as? String }.filter { $0 == "row_too_long" }.count, 2)
        let starts = lineStarts(text)
        for r in rejects {
            XCTAssertEqual(JSON.int(r["byte_offset"]), starts[JSON.int(r["line"])! - 1])
        }
        let input = try XCTUnwrap(try two.input("activity-2026-03.csv"))
        XCTAssertEqual(JSON.int(input["rows_read"]), 95_000)
        XCTAssertEqual(JSON.int(input["rows_accepted"]), 95_000 - bad.count)
        try assertNothingLost(two)
    }

    func testLargeGzipFileGivesTheSameOutputsOnOneAndTwoThreads() throws {
        let f = try ExportsFolder()
        let (text, _) = Self.bigActivity()
        try f.writeSample()
        try f.remove("activity-2026-03.csv")
        // Level 0 (stored blocks) keeps the compressed file above 4 MiB.
        let writer = try GzipFileWriter(path: f.path("activity-2026-03.csv.gz"), level: 0)
        let half = text.utf8.count / 2
        let bytes = Array(text.utf8)
        try writer.write(bytes: Array(bytes[..<half]))
        try writer.startNewMember()
        try writer.write(bytes: Array(bytes[half...]))
        try writer.close()
        XCTAssertGreaterThan(try f.bytes("activity-2026-03.csv.gz").count, 4 << 20)
        try f.writePipeline()
        let (one, two) = try runBoth(f)
        try assertSameOutputs(one, two)
        XCTAssertEqual(JSON.int(try two.input("activity-2026-03.csv.gz")?["rows_read"]), 95_000)
    }

    func testLargeCorruptGzipFailsOnTwoThreadsToo() throws {
        let f = try ExportsFolder()
        let (text, _) = Self.bigActivity()
        try f.writeSample()
        try f.remove("activity-2026-03.csv")
        let writer = try GzipFileWriter(path: f.path("activity-2026-03.csv.gz"), level: 0)
        try writer.write(text)
        try writer.close()
        try f.writePipeline()
        let whole = try f.bytes("activity-2026-03.csv.gz")
        for threads in ["1", "2"] {
            try f.write("activity-2026-03.csv.gz", bytes: Array(whole.dropLast(8)))
            let cut = try f.run(["--threads", threads])
            XCTAssertEqual(cut.status, 3, cut.transcript)
            XCTAssertTrue(
                cut.stderr.contains("activity-2026-03.csv.gz: truncated gzip file at byte offset \(whole.count - 8)"),
                cut.stderr)
            var crc = whole
            crc[crc.count - 8] ^= 0x01
            try f.write("activity-2026-03.csv.gz", bytes: crc)
            let bad = try f.run(["--threads", threads])
            XCTAssertEqual(bad.status, 3, bad.transcript)
            XCTAssertTrue(bad.stderr.contains("activity-2026-03.csv.gz: corrupt gzip data at byte offset"), bad.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.appendingPathComponent(Sample.asOf).path))
    }

    func testLargeCorruptGzipIsSkippedWholeOnTwoThreads() throws {
        let f = try ExportsFolder()
        let (text, _) = Self.bigActivity()
        try f.writeSample()
        let writer = try GzipFileWriter(path: f.path("activity-2026-04.csv.gz"), level: 0)
        try writer.write(text)
        try writer.close()
        var crc = try f.bytes("activity-2026-04.csv.gz")
        crc[crc.count - 8] ^= 0x01
        try f.write("activity-2026-04.csv.gz", bytes: crc)
        try f.writePipeline("on_corrupt_file: skip\n")
        let r = try f.run(["--threads", "2"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        XCTAssertNotNil(try o.input("activity-2026-04.csv.gz")?["skipped"] as? String)
        XCTAssertEqual(try o.rejects.count, 0, "none of the skipped file's rejects")
        let rows = try o.manifest["rows"] as? [String: Any]
        XCTAssertEqual(JSON.int(rows?["read"]), 21, "only the sample's rows")
    }
}
