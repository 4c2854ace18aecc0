import Dispatch
import Foundation

/// Trains the churn ensemble: each member on the training rows, then the
/// combination on the validation rows, which no member trained on.
///
/// The combination is chosen on data it was not fitted on: the validation
/// rows are split in two halves by customer; every non-empty subset of
/// members (the single members included, each with its own calibration) is
/// fitted on one half and scored on the other, both ways round, and the
/// subset with the best out-of-half ROC AUC wins. A combination must beat
/// the best single member by more than 0.0005 to be chosen; otherwise that
/// member alone is used. The winner is then fitted on all validation rows.
/// So the ensemble is never below its best member on held-out data, and the
/// report says which subset was chosen and why.
public enum ChurnTrainer {
    /// A combination must beat the best single member by more than this (ROC AUC) to be chosen.
    static let combinationMargin = 0.0005

    public static func train(train: TrainingTable, validation: TrainingTable, parameters p: ChurnTrainingParameters)
        -> (ChurnEnsemble, TrainingReport)
    {
        self.train(train: train, validation: validation, parameters: p, releasingValues: false)
    }

    /// Trains in the order that keeps memory low (docs/model.md, "Training at
    /// scale"): the bins of every value (row-major), the logistic regression
    /// (the only member that reads values, standardised on the fly), then,
    /// with `releasingValues`, the tables' values are freed before the trees
    /// grow from the bins, the forest a bounded number of trees at a time.
    /// The members do not depend on each other, so the order changes nothing
    /// in the model. With `releasingValues` the caller must not read the
    /// tables' values afterwards (labels and ids stay).
    static func train(
        train: TrainingTable, validation: TrainingTable, parameters p: ChurnTrainingParameters,
        releasingValues: Bool
    ) -> (ChurnEnsemble, TrainingReport) {
        let clock = ContinuousClock.now
        let binner = FeatureBinner.fit(train, seed: p.seed)
        var binnedTrain = binner.transform(train)
        let binnedValidation = binner.transform(validation)
        let linear = LogisticRegression.trainMember(train: train, validation: validation, lambda: p.logisticLambda)
        if releasingValues {
            train.values.release()
            validation.values.release()
        }
        // Splits partition the training rows by one feature's column; validation rows are only walked (row-major).
        binnedTrain.addColumnMajor()
        let input = MemberTrainingInput(
            trainLabels: train.labels, validationLabels: validation.labels, binnedTrain: binnedTrain,
            binnedValidation: binnedValidation, binner: binner, parameters: p)
        // The two tree members grow at once, a thread each.
        let grown = ParallelMap.run([
            { @Sendable in GradientBoostedTrees.trainMember(input) }, { @Sendable in RandomForest.trainMember(input) },
        ])
        let byKind: [ChurnEnsemble.Member: TrainedMember] = [
            .logisticRegression: linear, .gradientBoosting: grown[0], .randomForest: grown[1],
        ]
        let kinds = ChurnEnsemble.Member.allCases
        let trained = kinds.map { byKind[$0]! }
        var margins: [ChurnEnsemble.Member: [Double]] = [:]
        for t in trained { margins[t.member.kind] = t.validationMargins }

        let choice = chooseCombination(
            margins: margins, labels: validation.labels,
            halves: validation.rowIDs.perRow { ChurnTrainer.half(of: $0, seed: p.seed) }, seed: p.seed)
        let ensemble = ChurnEnsemble(
            featureNames: train.featureNames, binner: binner, members: trained.map { $0.member },
            weights: choice.weights, intercept: choice.intercept)
        let probabilities = (0..<validation.rowCount).map { i in
            Metrics.sigmoid(
                ensemble.logit(margins: Dictionary(uniqueKeysWithValues: kinds.map { ($0, margins[$0]![i]) })))
        }
        var memberAUC: [ChurnEnsemble.Member: Double] = [:]
        for m in kinds { memberAUC[m] = Metrics.rocAUC(scores: margins[m]!, labels: validation.labels) ?? .nan }
        var importance = [Double](repeating: 0, count: train.featureCount)
        for t in trained { t.member.gains(into: &importance) }
        let totalGain = max(importance.reduce(0, +), 1e-300)
        let ranked = zip(train.featureNames, importance.map { $0 / totalGain }).sorted { $0.1 > $1.1 }
        let report = TrainingReport(
            trainRows: train.rowCount, trainPositives: train.positives, validationRows: validation.rowCount,
            validationPositives: validation.positives, memberAUC: memberAUC,
            ensembleAUC: Metrics.rocAUC(scores: probabilities, labels: validation.labels) ?? .nan,
            ensemblePRAUC: Metrics.averagePrecision(scores: probabilities, labels: validation.labels) ?? .nan,
            logLoss: Metrics.logLoss(probabilities: probabilities, labels: validation.labels),
            brier: Metrics.brier(probabilities: probabilities, labels: validation.labels),
            calibration: Metrics.calibrationTable(probabilities: probabilities, labels: validation.labels),
            featureImportance: ranked, boostingRounds: trained.compactMap { $0.rounds }.first ?? 0,
            seconds: Elapsed.seconds(since: clock), combination: choice.report,
            rocCurve: Metrics.rocCurve(scores: probabilities, labels: validation.labels) ?? [],
            prCurve: Metrics.precisionRecallCurve(scores: probabilities, labels: validation.labels) ?? [])
        return (ensemble, report)
    }

    /// The members' combination, chosen on held-out halves of the validation rows (above).
    static func chooseCombination(
        margins: [ChurnEnsemble.Member: [Double]], labels: [UInt8], ids: [String], seed: UInt64
    )
        -> (weights: [ChurnEnsemble.Member: Double], intercept: Double, report: CombinationReport)
    {
        chooseCombination(margins: margins, labels: labels, halves: ids.map { half(of: $0, seed: seed) }, seed: seed)
    }

    /// The half of the validation rows a row id falls in: halves by customer,
    /// so that one customer's rows on two dates never sit on both sides.
    static func half(of id: String, seed: UInt64) -> UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return UInt8(SyntheticRandom.mix(h) & 1)
    }

    static func chooseCombination(
        margins: [ChurnEnsemble.Member: [Double]], labels: [UInt8], halves: [UInt8], seed: UInt64
    )
        -> (weights: [ChurnEnsemble.Member: Double], intercept: Double, report: CombinationReport)
    {
        let kinds = ChurnEnsemble.Member.allCases
        let n = labels.count
        let half = halves.map { Int($0) }
        func both(_ side: Int) -> Bool {
            let rows = (0..<n).filter { half[$0] == side }
            let positives = rows.reduce(0) { $0 + Int(labels[$1]) }
            return positives > 0 && positives < rows.count
        }
        let crossFit = both(0) && both(1)
        var candidates: [CombinationReport.Candidate] = []
        for mask in 1..<(1 << kinds.count) {
            let chosen = kinds.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
            guard
                let heldOut = heldOutMargins(
                    chosen.map { margins[$0]! }, labels: labels, half: half, crossFit: crossFit)
            else { continue }
            candidates.append(
                .init(
                    members: chosen, auc: Metrics.rocAUC(scores: heldOut, labels: labels) ?? 0.5,
                    logLoss: Metrics.logLoss(margins: heldOut, labels: labels)))
        }
        let (winner, reason) = winner(of: candidates, crossFit: crossFit)
        var weights = Dictionary(uniqueKeysWithValues: kinds.map { ($0, 0.0) })
        var intercept = 0.0
        if let winner, let fit = stack(winner.members.map { margins[$0]! }, labels: labels) {
            for (k, m) in winner.members.enumerated() { weights[m] = fit.coefficients[k] }
            intercept = fit.intercept
        } else {
            weights[.gradientBoosting] = 1
        }
        return (
            weights, intercept,
            CombinationReport(
                candidates: candidates, chosen: winner?.members ?? [.gradientBoosting], reason: reason,
                crossFitted: crossFit)
        )
    }

    /// Each validation row's stacked margin from a fit that did not see it:
    /// fitted on one half, applied to the other (or, without two halves that
    /// both hold churn, fitted and applied on every row). Nil when no fit exists.
    private static func heldOutMargins(_ columns: [[Double]], labels: [UInt8], half: [Int], crossFit: Bool)
        -> [Double]?
    {
        let n = labels.count
        var heldOut = [Double](repeating: 0, count: n)
        if crossFit {
            for side in 0...1 {
                let fitRows = (0..<n).filter { half[$0] != side }
                guard let fit = stack(columns.map { c in fitRows.map { c[$0] } }, labels: fitRows.map { labels[$0] })
                else { return nil }
                for i in 0..<n where half[i] == side {
                    var z = fit.intercept
                    for (k, c) in columns.enumerated() { z += fit.coefficients[k] * c[i] }
                    heldOut[i] = z
                }
            }
        } else if let fit = stack(columns, labels: labels) {
            // Too few rows to hold any out: scored on the rows it was fitted on (the report says so).
            for i in 0..<n {
                var z = fit.intercept
                for (k, c) in columns.enumerated() { z += fit.coefficients[k] * c[i] }
                heldOut[i] = z
            }
        } else {
            return nil
        }
        return heldOut
    }

    /// The best single member, unless a combination beats its held-out ROC
    /// AUC by more than `combinationMargin`; and why, for the report.
    private static func winner(of candidates: [CombinationReport.Candidate], crossFit: Bool) -> (
        CombinationReport.Candidate?, String
    ) {
        let singles = candidates.filter { $0.members.count == 1 }
        let bestSingle = singles.max { ($0.auc, -$0.logLoss) < ($1.auc, -$1.logLoss) }
        let bestCombination = candidates.filter { $0.members.count > 1 }.max {
            ($0.auc, -$0.logLoss) < ($1.auc, -$1.logLoss)
        }
        var winner = bestSingle ?? candidates.first
        var reason = "no combination could be fitted; the best single member is used"
        if let single = bestSingle {
            reason =
                "\(single.members[0].rawValue) alone: no combination beat its held-out ROC AUC \(JSONValue.number(single.auc, places: 4).serialized()) by more than \(combinationMargin)"
            if let combo = bestCombination, combo.auc > single.auc + combinationMargin {
                winner = combo
                reason =
                    "\(combo.members.map(\.rawValue).joined(separator: " + ")): held-out ROC AUC \(JSONValue.number(combo.auc, places: 4).serialized()) against \(JSONValue.number(single.auc, places: 4).serialized()) for the best single member, \(single.members[0].rawValue)"
            }
        }
        if !crossFit {
            reason +=
                " (too few churn events to hold half of the validation rows out: compared on the rows they were fitted on)"
        }
        return (winner, reason)
    }

    /// Logistic regression of the labels on member margins with non-negative
    /// coefficients (a negative one drops the fit: that subset is covered by a smaller one).
    static func stack(_ columns: [[Double]], labels: [UInt8]) -> (
        coefficients: [Double], intercept: Double, loss: Double
    )? {
        let k = columns.count
        let n = labels.count
        guard n > 0 else { return nil }
        var beta = [Double](repeating: 0, count: k + 1)
        for j in 1...k { beta[j] = 1 / Double(k) }
        let dims = k + 1
        for _ in 0..<100 {
            var grad = [Double](repeating: 0, count: dims)
            var hess = [Double](repeating: 0, count: dims * dims)
            for i in 0..<n {
                var z = beta[0]
                for j in 0..<k { z += beta[j + 1] * columns[j][i] }
                let p = Metrics.sigmoid(z)
                let r = p - Double(labels[i])
                let w = max(p * (1 - p), 1e-12)
                for a in 0..<dims {
                    let xa = a == 0 ? 1 : columns[a - 1][i]
                    grad[a] += r * xa
                    for b in a..<dims {
                        let xb = b == 0 ? 1 : columns[b - 1][i]
                        hess[a * dims + b] += w * xa * xb
                    }
                }
            }
            // A tiny ridge keeps collinear members (they usually are) solvable.
            for a in 0..<dims {
                hess[a * dims + a] += 1e-6 * Double(n)
                grad[a] += a == 0 ? 0 : 1e-6 * Double(n) * beta[a]
            }
            guard let change = LinearAlgebra.newtonStep(hessianUpper: hess, gradient: grad, beta: &beta) else {
                return nil
            }
            if change < 1e-10 { break }
        }
        guard beta[1...].allSatisfy({ $0 >= 0 && $0.isFinite }), beta[0].isFinite else { return nil }
        var margins = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var z = beta[0]
            for j in 0..<k { z += beta[j + 1] * columns[j][i] }
            margins[i] = z
        }
        return (Array(beta[1...]), beta[0], Metrics.logLoss(margins: margins, labels: labels))
    }
}
