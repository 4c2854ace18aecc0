import CustomerHealthTestSupport
import Foundation
import XCTest

/// `rescore` recomputes scores, lists and KPIs from a run's features.jsonl.
final class RescoreTests: XCTestCase {
    static let rescored = ["scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json"]

    private func runAndKeep(_ f: ExportsFolder) throws -> (String, [String: Data], URL) {
        let r = try f.run(["--threads", "2"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let latest = f.output.appendingPathComponent("latest")
        let date = try XCTUnwrap(linkTarget(latest))
        var files: [String: Data] = [:]
        for name in Self.rescored + ["features.jsonl", "rejects.jsonl"] {
            files[name] = try Data(contentsOf: latest.appendingPathComponent(name))
        }
        // Keep a copy of features.jsonl, with the manifest that rescore reads beside it,
        // outside OUTPUT: rescore replaces the run folder.
        let kept = f.root.appendingPathComponent("kept")
        try FileManager.default.createDirectory(at: kept, withIntermediateDirectories: true)
        let copy = kept.appendingPathComponent("features.jsonl")
        try files["features.jsonl"]!.write(to: copy)
        try Data(contentsOf: latest.appendingPathComponent("manifest.json")).write(
            to: kept.appendingPathComponent("manifest.json"))
        return (date, files, copy)
    }

    func testRescoreWithUnchangedWeightsReproducesTheRun() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let (date, original, _) = try runAndKeep(f)
        let features = f.output.appendingPathComponent(date).appendingPathComponent("features.jsonl")
        let r = try CLI.run(["rescore", f.pipelinePath, "--quiet", "--features", features.path])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stdout.contains("as of \(date)"), r.stdout)
        let o = try f.outputs(date)
        for name in Self.rescored + ["features.jsonl", "rejects.jsonl"] {
            XCTAssertEqual(try o.data(name), original[name], "\(name) differs after rescore")
        }
        let source = try o.manifest["rescored_from"] as? [String: Any]
        XCTAssertEqual(source?["features_file"] as? String, "features.jsonl")
    }

    func testRescoreWithChangedWeightsChangesScoresListAndKPIs() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let (date, original, copy) = try runAndKeep(f)
        try f.writePipeline(
            """
            scoring:
              weights: {usage: 0.70, engagement: 0.10, satisfaction: 0.10, value_realization: 0.10}
              priority:
                at_risk: [critical, high, medium]

            """)
        let r = try CLI.run(["rescore", f.pipelinePath, "--quiet", "--features", copy.path])
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(date)
        for name in ["scores.jsonl", "at-risk.json", "kpis.json"] {
            XCTAssertNotEqual(try o.data(name), original[name], "\(name) should change with the weights")
        }
        // Each new health score follows the new weights from the same components.
        for line in try o.scores {
            let c = try XCTUnwrap(line["component_scores"] as? [String: Any])
            let expected =
                0.7 * JSON.double(c["usage"])! + 0.1 * JSON.double(c["engagement"])!
                + 0.1 * JSON.double(c["satisfaction"])! + 0.1 * JSON.double(c["value_realization"])!
            XCTAssertEqual(JSON.double(line["health_score"])!, expected, accuracy: 0.11, "\(line["customer_id"] ?? "")")
        }
        XCTAssertEqual(
            try o.data("features.jsonl"), original["features.jsonl"], "the features themselves are unchanged")
    }

    func testRescoreNeedsTheRunsManifestAndItsChurnDefinition() throws {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        let (_, _, copy) = try runAndKeep(f)
        // The churn definition decides who is active: features of another definition are refused.
        try f.writePipeline("churn_definition: {from: inactivity, inactivity_days: 20}\n")
        let changed = try CLI.run(["rescore", f.pipelinePath, "--quiet", "--features", copy.path])
        XCTAssertEqual(changed.status, 3, changed.transcript)
        XCTAssertTrue(
            changed.stderr.contains("accounts.churned_at") && changed.stderr.contains("no activity for 20 days"),
            changed.stderr)
        // Without the manifest beside it, the data sources of the run are unknown.
        try f.writePipeline()
        try FileManager.default.removeItem(at: copy.deletingLastPathComponent().appendingPathComponent("manifest.json"))
        let lone = try CLI.run(["rescore", f.pipelinePath, "--quiet", "--features", copy.path])
        XCTAssertEqual(lone.status, 3, lone.transcript)
        XCTAssertTrue(lone.stderr.contains("manifest.json"), lone.stderr)
    }

    func testRescoreOfAMissingOrForeignFileFails() throws {
        let f = try ExportsFolder()
        try f.writePipeline()
        let missing = try CLI.run([
            "rescore", f.pipelinePath, "--features", f.root.appendingPathComponent("nope.jsonl").path,
        ])
        XCTAssertEqual(missing.status, 3, missing.transcript)
        XCTAssertTrue(missing.stderr.contains("nope.jsonl"), missing.stderr)
        try Data("{\"hello\": 1}\n".utf8).write(to: f.root.appendingPathComponent("foreign.jsonl"))
        let foreign = try CLI.run([
            "rescore", f.pipelinePath, "--features", f.root.appendingPathComponent("foreign.jsonl").path,
        ])
        XCTAssertEqual(foreign.status, 3, foreign.transcript)
        XCTAssertTrue(foreign.stderr.contains("line 1"), foreign.stderr)
    }
}
