import CustomerHealthTestSupport
import Foundation
import XCTest

/// The `customer-health` executable as a user and cron see it.
final class CommandLineTests: XCTestCase {
    func testHelpForEveryCommandExitsZero() throws {
        for args in [
            ["--help"], ["run", "--help"], ["rescore", "--help"], ["validate", "--help"], ["help", "run"], ["-h"],
        ] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.transcript)")
            XCTAssertTrue(r.stdout.contains("USAGE"), "\(args): \(r.stdout)")
        }
        XCTAssertTrue(try CLI.run(["run", "--help"]).stdout.contains("--as-of"))
        XCTAssertTrue(try CLI.run(["run", "--help"]).stdout.contains("--threads"))
        XCTAssertTrue(try CLI.run(["rescore", "--help"]).stdout.contains("--features"))
        let root = try CLI.run(["--help"]).stdout
        for word in ["run", "rescore", "validate", "Exit codes"] {
            XCTAssertTrue(root.contains(word), "root help mentions \(word)")
        }
    }

    func testVersion() throws {
        let r = try CLI.run(["--version"])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertFalse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    func testUsageErrorsExit2() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let cases: [[String]] = [
            ["run"],
            ["run", f.pipelinePath, "--threads", "0"],
            ["run", f.pipelinePath, "--threads", "many"],
            ["run", f.pipelinePath, "--as-of", "2026-13-01"],
            ["run", f.pipelinePath, "--as-of", "31/03/2026"],
            ["run", f.pipelinePath, "--bogus"],
            ["run", f.pipelinePath, "extra-argument"],
            ["rescore", f.pipelinePath],
            ["frobnicate"],
        ]
        for args in cases {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.transcript)")
            XCTAssertFalse(r.stderr.isEmpty, "\(args) explains itself on stderr")
        }
        XCTAssertTrue(try CLI.run(["run", f.pipelinePath, "--as-of", "2026-13-01"]).stderr.contains("2026-13-01"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.path), "no usage error writes anything")
    }

    func testSuccessfulRunPrintsASummaryAndExitsZero() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let r = try f.run(["--threads", "2"])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stdout.contains("scored 3 customers as of 2026-03-31"), r.stdout)
        XCTAssertTrue(r.stdout.contains("rows read: 21 from 5 files"), r.stdout)
        XCTAssertTrue(r.stdout.contains(f.output.appendingPathComponent("2026-03-31").path), r.stdout)
        XCTAssertEqual(r.stderr, "", "quiet on stderr when it is not a terminal")
    }

    func testOutputOptionOverridesThePipeline() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let elsewhere = f.root.appendingPathComponent("elsewhere")
        XCTAssertEqual(try f.run(["--output", elsewhere.path]).status, 0)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("2026-03-31/scores.jsonl").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.path))
    }

    func testBrokenPipeOnStdoutExitsQuietlyWithZero() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let r = try CLI.runWithClosedStdout(["run", f.pipelinePath, "--quiet"])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertEqual(r.stderr, "", "no crash report, no error message")
        XCTAssertNotNil(linkTarget(f.output.appendingPathComponent("latest")), "the run itself completed")

        let help = try CLI.runWithClosedStdout(["run", "--help"])
        XCTAssertEqual(help.status, 0, help.transcript)
        let validate = try CLI.runWithClosedStdout(["validate", f.pipelinePath, "--quiet"])
        XCTAssertEqual(validate.status, 0, validate.transcript)
    }

    /// validate --memory: a row per store, bytes that add up to the total,
    /// and the activity store growing with the rows of the exports.
    func testValidateMemoryPrintsWhatEachStoreHolds() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let r = try CLI.run(["validate", f.pipelinePath, "--quiet", "--memory"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(of: "store\tMB\tentries\tbytes_per_customer") else {
            return XCTFail(r.stdout)
        }
        let rows = lines[(header + 1)...].map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
        let stores = rows.filter { $0[2] != "-" }
        XCTAssertEqual(Set(stores.map { $0[0] }).count, 11, r.stdout)
        let days = try XCTUnwrap(stores.first { $0[0] == "activity: user, feature and module days" })
        XCTAssertGreaterThan(Int(days[2]) ?? 0, 0, "the sample's activity has user days")
        let total = try XCTUnwrap(rows.first { $0[0] == "total held after ingest" })
        let sum = stores.reduce(0.0) { $0 + Double($1[1])! }
        XCTAssertEqual(Double(total[1])!, sum, accuracy: 0.1 * Double(stores.count), "the total is the stores' sum")
        let peak = try XCTUnwrap(rows.first { $0[0] == "peak resident memory of this process" })
        XCTAssertGreaterThanOrEqual(Double(peak[1])!, Double(total[1])!, "the process holds at least the stores")
    }

    func testBrokenPipeThroughAShellPipeline() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let bin = try CLI.binary().path
        // `true` exits without reading, so the summary hits a closed pipe.
        let script = "'\(bin)' run '\(f.pipelinePath)' --quiet | true; echo \"status=${PIPESTATUS[0]}\""
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(
            String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "status=0")
    }

    func testExitCodesForInputProblems() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        try f.remove("accounts.csv")
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("no accounts export"), r.stderr)
    }

    func testNoActivityRowsAndNoAsOfIsAClearError() throws {
        let f = try ExportsFolder()
        try f.writeSample(activity: Sample.activityHeader + "\n")
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("--as-of"), r.stderr)
        XCTAssertEqual(try f.run(["--as-of", "2026-03-31"]).status, 0)
    }
}
