import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// A bad pipeline file through the executable: exit 2 naming the key.
final class PipelineConfigCommandLineTests: XCTestCase {
    func testCLIExitsWith2AndNamesTheKey() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline("scoring:\n  wieghts: {usage: 1}\n")
        let r = try f.run()
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertTrue(r.stderr.contains("scoring.wieghts"), r.stderr)
        XCTAssertTrue(r.stderr.contains(f.pipelinePath), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.output.path), "nothing is written")

        try f.writePipeline("scoring:\n  weights: {usage: 0.9}\n")
        let w = try f.run()
        XCTAssertEqual(w.status, 2, w.transcript)
        XCTAssertTrue(w.stderr.contains("add up to 1"), w.stderr)

        try f.writePipelineText("output: out\n")
        let i = try f.run()
        XCTAssertEqual(i.status, 2, i.transcript)
        XCTAssertTrue(i.stderr.contains("input"), i.stderr)

        let missing = try CLI.run(["run", f.root.appendingPathComponent("nope.yaml").path])
        XCTAssertEqual(missing.status, 2, missing.transcript)
        XCTAssertTrue(missing.stderr.contains("nope.yaml"), missing.stderr)
    }
}
