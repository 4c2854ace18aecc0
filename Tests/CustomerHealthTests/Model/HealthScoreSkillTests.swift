import Foundation
import XCTest

@testable import CustomerHealth

/// Is the health score any good? `train` and `backtest` measure it, its
/// components and its parts against what happened, and `train` suggests part
/// weights (never applied).
final class HealthScoreSkillTests: XCTestCase {
    /// Rows where one part (adoption) says who churns and another (uptime) is noise.
    func rows(_ n: Int, seed: UInt64) -> [HealthScoreSkill.Row] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in
            let adoption = rng.uniform()
            let uptime = rng.uniform()
            var parts = [Double?](repeating: nil, count: ScorePart.allCases.count)
            parts[ScorePart.allCases.firstIndex(of: .adoption)!] = adoption
            parts[ScorePart.allCases.firstIndex(of: .uptime)!] = uptime
            let churns = rng.uniform() < 1 / (1 + exp(-(2 - 8 * adoption)))
            return HealthScoreSkill.Row(
                health: 50 + 10 * uptime, components: [nil, adoption * 100, uptime * 100, nil], parts: parts,
                label: churns ? 1 : 0)
        }
    }

    func testTheSkillAndTheSuggestion() throws {
        let validation = rows(4000, seed: 2)
        XCTAssertGreaterThan(
            try XCTUnwrap(HealthScoreSkill.auc(validation) { $0.parts[3] }), 0.8, "low adoption ranks churners first")
        XCTAssertEqual(
            try XCTUnwrap(HealthScoreSkill.auc(validation) { $0.health }), 0.5, accuracy: 0.05,
            "this health score reads uptime only")
        let suggestion = try XCTUnwrap(HealthScoreSkill.suggest(training: rows(4000, seed: 1)))
        XCTAssertGreaterThan(suggestion.componentWeights[.engagement]!, 0.8, "the weight goes where the signal is")
        XCTAssertEqual(suggestion.partPoints[.adoption]!, 100, accuracy: 1e-9)
        let json = HealthScoreSkill.report(
            validation: validation, training: rows(4000, seed: 1), validationDates: [], trainingDates: []
        ).serialized()
        for key in [
            "\"roc_auc\"", "\"components_roc_auc\"", "\"parts_roc_auc\"", "\"suggested_weights\"",
            "\"validation_roc_auc\"",
        ] {
            XCTAssertTrue(json.contains(key), "\(key) in \(json)")
        }
    }

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
