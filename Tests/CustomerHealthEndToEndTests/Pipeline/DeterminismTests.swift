import CustomerHealthTestSupport
import Foundation
import XCTest

/// The same exports give byte-identical outputs whatever the thread count and
/// whatever order the file system lists the files in.
final class DeterminismTests: XCTestCase {
    static let identical = [
        "scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "features.jsonl", "rejects.jsonl",
    ]

    /// manifest.json without the fields that are meant to differ.
    private func comparableManifest(_ o: RunOutputs) throws -> NSDictionary {
        var m = try o.manifest
        m["started_at"] = nil
        m["timings_seconds"] = nil
        return m as NSDictionary
    }

    private func run(_ f: ExportsFolder, threads: Int, into name: String) throws -> RunOutputs {
        let out = f.root.appendingPathComponent(name)
        let r = try CLI.run(["run", f.pipelinePath, "--quiet", "--threads", String(threads), "--output", out.path])
        XCTAssertEqual(r.status, 0, r.transcript)
        // The as-of day is the newest activity day (an offset moves one event into April).
        let date = try XCTUnwrap(linkTarget(out.appendingPathComponent("latest")))
        return try RunOutputs(folder: out.appendingPathComponent(date), owner: f)
    }

    private func assertSame(
        _ a: RunOutputs, _ b: RunOutputs, _ label: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for name in Self.identical {
            XCTAssertEqual(try a.data(name), try b.data(name), "\(name) differs: \(label)", file: file, line: line)
        }
        XCTAssertEqual(
            try comparableManifest(a), try comparableManifest(b), "manifest.json differs: \(label)", file: file,
            line: line)
    }

    func testThreadCountNeverChangesTheOutputs() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let one = try run(f, threads: 1, into: "out1")
        // The data set exercises what could differ between threads.
        XCTAssertGreaterThan(try one.rejects.count, 10)
        XCTAssertGreaterThan(try one.scores.count, 30)
        XCTAssertGreaterThan(JSON.int((try one.atRisk)["count"]) ?? 0, 0)
        XCTAssertGreaterThan(JSON.int((try one.manifest["rows"] as? [String: Any])?["unknown_customer"]) ?? 0, 0)
        for threads in [2, 4] {
            try assertSame(one, try run(f, threads: threads, into: "out\(threads)"), "--threads 1 vs \(threads)")
        }
    }

    func testFileListingOrderNeverChangesTheOutputs() throws {
        let a = try ExportsFolder()
        try SyntheticExports.write(to: a)
        try a.writePipeline()
        // The same files, created in the opposite order with opposite times.
        let b = try ExportsFolder()
        let names = try FileManager.default.contentsOfDirectory(atPath: a.exports.path).sorted().reversed()
        for (i, name) in names.enumerated() {
            try b.write(name, bytes: try a.bytes(name))
            let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(i) * 3600)
            try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: b.path(name))
        }
        try b.writePipeline()
        for threads in [1, 2] {
            try assertSame(
                try run(a, threads: threads, into: "out"), try run(b, threads: threads, into: "out"),
                "other listing order, --threads \(threads)")
        }
    }

    func testRunningTwiceGivesTheSameBytes() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let first = try run(f, threads: 2, into: "outA")
        try assertSame(first, try run(f, threads: 2, into: "outB"), "second run")
    }
}
