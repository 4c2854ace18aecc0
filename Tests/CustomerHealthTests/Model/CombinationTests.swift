import Foundation
import XCTest

@testable import CustomerHealth

/// The ensemble is never below its best member on held-out data: the
/// combination is chosen on halves of the validation rows it was not fitted
/// on, and falls back to the best single member when it does not win.
final class CombinationTests: XCTestCase {
    /// 20 features, the label a logistic function of a linear mix of all of them: with few
    /// rows the trees cut the smooth boundary coarsely and the logistic regression ranks best.
    static func linearTable(rows: Int, seed: UInt64) -> TrainingTable {
        var rng = SeededGenerator(seed: seed)
        let d = 20
        var columns = [[Double]](repeating: [], count: d)
        var labels: [UInt8] = []
        for _ in 0..<rows {
            var z = -1.0
            for j in 0..<d {
                let v = rng.uniform() * 2 - 1
                columns[j].append(v)
                z += (j % 2 == 0 ? 0.6 : -0.5) * v
            }
            labels.append(rng.uniform() < 1 / (1 + exp(-z)) ? 1 : 0)
        }
        return TrainingTable(
            featureNames: (0..<d).map { "f\($0)" }, columns: columns, labels: labels,
            rowIDs: (0..<rows).map { "r\($0 % (rows / 2))-\($0)" })
    }

    func testWhereTheLogisticRegressionIsBestTheEnsembleIsNotBelowIt() {
        let train = Self.linearTable(rows: 1500, seed: 3)
        let validation = Self.linearTable(rows: 6000, seed: 4)
        var p = ChurnTrainingParameters()
        p.gradientBoosting.maxRounds = 60
        p.randomForest.trees = 20
        let (model, report) = ChurnTrainer.train(train: train, validation: validation, parameters: p)
        let lr = report.memberAUC[.logisticRegression]!
        XCTAssertGreaterThan(
            lr, report.memberAUC[.gradientBoosting]!, "the table is built so that the logistic regression ranks best")
        XCTAssertGreaterThan(lr, report.memberAUC[.randomForest]!)
        let combination = report.combination
        XCTAssertTrue(combination.crossFitted)
        // Every subset that fits with non-negative weights (a negative one is covered by a smaller subset).
        XCTAssertEqual(
            combination.candidates.filter { $0.members.count == 1 }.count, 3, "each member alone is a candidate")
        XCTAssertLessThanOrEqual(combination.candidates.count, 7)
        let chosen = combination.candidates.first { $0.members == combination.chosen }!
        let bestSingle = combination.candidates.filter { $0.members.count == 1 }.map(\.auc).max()!
        XCTAssertGreaterThanOrEqual(
            chosen.auc, bestSingle, "held out, the chosen combination is at least the best member")
        XCTAssertTrue(combination.chosen.contains(.logisticRegression), combination.reason)
        XCTAssertGreaterThanOrEqual(report.ensembleAUC, lr - 0.002, "the ensemble stays at the best member's level")
        if combination.chosen == [.logisticRegression] {
            XCTAssertEqual(report.ensembleAUC, lr, accuracy: 1e-12, "alone, it is only calibrated: the same ranking")
            XCTAssertEqual(model.weights[.gradientBoosting], 0)
            XCTAssertTrue(combination.reason.hasPrefix("logistic_regression alone"), combination.reason)
        }
        // The report says which was chosen and why.
        let json = report.json().serialized()
        XCTAssertTrue(json.contains("\"combination\""), json)
        XCTAssertTrue(json.contains("held_out_roc_auc"))
    }

    func testAFallbackAndAWinningCombination() {
        var rng = SeededGenerator(seed: 9)
        let n = 8000
        var a: [Double] = []
        var b: [Double] = []
        var noise: [Double] = []
        var labels: [UInt8] = []
        for _ in 0..<n {
            let s1 = rng.uniform() * 4 - 2
            let s2 = rng.uniform() * 4 - 2
            labels.append(rng.uniform() < 1 / (1 + exp(-(s1 + s2 - 1))) ? 1 : 0)
            // Member A sees one half of the signal, member B the other; C sees the first half again, blurred.
            a.append(s1)
            b.append(s2)
            noise.append(s1 + 3 * (rng.uniform() - 0.5))
        }
        let ids = (0..<n).map { "c\($0)" }
        // A and B complement each other: their combination wins.
        let both = ChurnTrainer.chooseCombination(
            margins: [.gradientBoosting: a, .randomForest: b, .logisticRegression: noise], labels: labels, ids: ids,
            seed: 1)
        XCTAssertEqual(Set(both.report.chosen), [.gradientBoosting, .randomForest], both.report.reason)
        XCTAssertGreaterThan(both.weights[.gradientBoosting]!, 0)
        XCTAssertGreaterThan(both.weights[.randomForest]!, 0)
        // A alone, with two blurred copies of itself: nothing to gain, A alone is kept.
        let blurred = a.map { $0 + 2 * (rng.uniform() - 0.5) }
        let alone = ChurnTrainer.chooseCombination(
            margins: [.gradientBoosting: a, .randomForest: blurred, .logisticRegression: noise], labels: labels,
            ids: ids, seed: 1)
        XCTAssertEqual(alone.report.chosen, [.gradientBoosting], alone.report.reason)
        XCTAssertEqual(alone.weights[.randomForest], 0)
        XCTAssertEqual(alone.weights[.logisticRegression], 0)
    }
}
