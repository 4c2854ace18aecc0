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

}
