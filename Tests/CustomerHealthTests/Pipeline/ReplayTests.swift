import Foundation
import XCTest

/// `replay` writes, for each date, what `run --as-of DATE` writes.
final class ReplayTests: XCTestCase {
    func testReplayedDatesMatchSingleRuns() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let replayOut = f.root.appendingPathComponent("replay")
        let r = try CLI.run(["replay", f.pipelinePath, "--quiet", "--from", "2026-03-01", "--to", "2026-03-29", "--every", "14d",
                             "--output", replayOut.path, "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.transcript)
        for date in ["2026-03-01", "2026-03-15", "2026-03-29"] {
            let single = f.root.appendingPathComponent("single-\(date)")
            XCTAssertEqual(try CLI.run(["run", f.pipelinePath, "--quiet", "--as-of", date, "--output", single.path]).status, 0)
            for name in ["scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "features.jsonl", "rejects.jsonl"] {
                XCTAssertEqual(try Data(contentsOf: replayOut.appendingPathComponent("\(date)/\(name)")),
                               try Data(contentsOf: single.appendingPathComponent("\(date)/\(name)")), "\(date)/\(name)")
            }
        }
        XCTAssertEqual(linkTarget(replayOut.appendingPathComponent("latest")), "2026-03-29")
    }
}
