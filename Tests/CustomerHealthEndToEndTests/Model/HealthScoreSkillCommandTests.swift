import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The health score's skill through the executable: `train` and `backtest`
/// report the health score's own AUCs on generated data.
final class HealthScoreSkillCommandTests: XCTestCase {
    /// On generated data: the train report and the backtest carry the health score's own AUCs.
    func testTrainAndBacktestReportIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-skill-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try SyntheticExportGenerator.generate(
            options: SyntheticExportOptions(customers: 700, days: 200, seed: 6, threads: 2), to: root.path)
        let pipeline = root.appendingPathComponent("pipeline.yaml").path
        let train = try CLI.run(["train", pipeline, "--quiet"])
        XCTAssertEqual(train.status, 0, train.transcript)
        XCTAssertTrue(train.stdout.contains("health score ROC AUC 0."), train.stdout)
        XCTAssertTrue(train.stdout.contains("combination: "), train.stdout)
        let report = try JSON.object(Data(contentsOf: root.appendingPathComponent("models/churn-model.report.json")))
        let health = try XCTUnwrap(report["health_score"] as? [String: Any])
        let auc = try XCTUnwrap(JSON.double(health["roc_auc"]))
        XCTAssertGreaterThan(auc, 0.6, "on this data the health score ranks churn")
        XCTAssertEqual((health["parts_roc_auc"] as? [String: Any])?.count, 13)
        XCTAssertNotNil((health["suggested_weights"] as? [String: Any])?["validation_roc_auc"])

        let asOf = "2026-10-15"
        XCTAssertEqual(try CLI.run(["run", pipeline, "--as-of", asOf, "--quiet"]).status, 0)
        let backtest = try CLI.run([
            "backtest", pipeline, "--predictions", root.appendingPathComponent("output/\(asOf)").path, "--quiet",
        ])
        XCTAssertEqual(backtest.status, 0, backtest.transcript)
        XCTAssertTrue(backtest.stdout.contains("  components: usage 0."), backtest.stdout)
        XCTAssertTrue(backtest.stdout.contains("engagement.adoption 0."), backtest.stdout)
    }
}
