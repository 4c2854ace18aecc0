import Foundation

/// What the tree members train on: the training rows' bins and labels, the
/// validation rows' (which they must not train on), and the settings. The
/// raw values are not here: trees need only the bins, and the logistic
/// regression, which needs the values, is fitted before them.
struct MemberTrainingInput: @unchecked Sendable {
    let trainLabels: [UInt8]
    let validationLabels: [UInt8]
    let binnedTrain: BinnedMatrix
    let binnedValidation: BinnedMatrix
    let binner: FeatureBinner
    let parameters: ChurnTrainingParameters
}

/// What training one member gave.
struct TrainedMember {
    var member: any EnsembleMember
    /// Its margins on the validation rows (which it did not train on).
    var validationMargins: [Double]
    /// Boosting rounds kept (gradient boosting only).
    var rounds: Int?
}

/// A member of the churn ensemble: trains on binned data, gives a log-odds
/// margin, splits it into per-feature contributions, and serialises itself.
/// The ensemble loops over its members; nothing else names them.
public protocol EnsembleMember: Sendable {
    var kind: ChurnEnsemble.Member { get }
    func margin(_ x: UnsafePointer<Double>) -> Double
    /// Per-feature contributions of `scale` times the margin, added into phi; returns the bias.
    func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double) -> Double
    /// The model file's object for this member.
    func json() -> JSONValue
    /// For the compiled scorer: trees with the scale of their leaves, a
    /// constant, and a linear part, for a member weighted by `weight`.
    func compiled(weight: Double) -> (trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?)
    /// Split gains per feature (trees only), for the report's importance.
    func gains(into importance: inout [Double])
}

extension EnsembleMember {
    public func gains(into importance: inout [Double]) {}
}

extension GradientBoostedTrees: EnsembleMember {
    public var kind: ChurnEnsemble.Member { .gradientBoosting }

    public func json() -> JSONValue {
        .object([("base_score", .double(baseScore)), ("trees", .array(trees.map(ChurnModelFile.treeJSON)))])
    }

    public func compiled(weight: Double) -> (
        trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?
    ) {
        (trees.map { ($0, weight) }, weight * baseScore, nil)
    }

    public func gains(into importance: inout [Double]) { for t in trees { t.addGains(into: &importance) } }

    static func trainMember(_ input: MemberTrainingInput) -> TrainedMember {
        let (model, history) = GradientBoostedTrees.train(
            train: input.binnedTrain, labels: input.trainLabels, validation: input.binnedValidation,
            validationLabels: input.validationLabels,
            binner: input.binner, parameters: input.parameters.gradientBoosting, seed: input.parameters.seed)
        var margins = history.validationMargins
        if margins.count != input.validationLabels.count {
            // The same sums, in the same order, as `margin`, with trees walked on bin indices.
            margins = [Double](repeating: model.baseScore, count: input.validationLabels.count)
            for t in model.trees {
                GradientBoostedTrees.addTree(t, binned: input.binnedValidation, binner: input.binner, to: &margins)
            }
        }
        return TrainedMember(member: model, validationMargins: margins, rounds: history.bestRound)
    }
}

extension RandomForest: EnsembleMember {
    public var kind: ChurnEnsemble.Member { .randomForest }

    public func json() -> JSONValue { .object([("trees", .array(trees.map(ChurnModelFile.treeJSON)))]) }

    public func compiled(weight: Double) -> (
        trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?
    ) {
        trees.isEmpty ? ([], 0, nil) : (trees.map { ($0, weight / Double(trees.count)) }, 0, nil)
    }

    public func gains(into importance: inout [Double]) { for t in trees { t.addGains(into: &importance) } }

    static func trainMember(_ input: MemberTrainingInput) -> TrainedMember {
        let model = RandomForest.train(
            train: input.binnedTrain, labels: input.trainLabels, binner: input.binner,
            parameters: input.parameters.randomForest, seed: input.parameters.seed)
        var margins = [Double](repeating: 0, count: input.validationLabels.count)
        for t in model.trees {
            GradientBoostedTrees.addTree(t, binned: input.binnedValidation, binner: input.binner, to: &margins)
        }
        if !model.trees.isEmpty {
            let k = Double(model.trees.count)
            for i in margins.indices { margins[i] /= k }
        }
        return TrainedMember(member: model, validationMargins: margins, rounds: nil)
    }
}

extension LogisticRegression: EnsembleMember {
    public var kind: ChurnEnsemble.Member { .logisticRegression }

    public func json() -> JSONValue {
        .object([
            ("means", .array(means.map { .double($0) })), ("scales", .array(scales.map { .double($0) })),
            ("weights", .array(weights.map { .double($0) })), ("intercept", .double(intercept)),
        ])
    }

    public func compiled(weight: Double) -> (
        trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?
    ) {
        ([], 0, self)
    }

    /// Fits on the training rows' values (standardised on the fly) and gives
    /// the margins of the validation rows.
    static func trainMember(train: TrainingTable, validation: TrainingTable, lambda: Double) -> TrainedMember {
        let model = LogisticRegression.train(train, lambda: lambda)
        return TrainedMember(member: model, validationMargins: model.margins(validation), rounds: nil)
    }
}

extension RegressionTree {
    /// Adds each split's gain to its feature.
    func addGains(into importance: inout [Double]) {
        for node in 0..<nodeCount where feature[node] >= 0 { importance[Int(feature[node])] += gain[node] }
    }
}
