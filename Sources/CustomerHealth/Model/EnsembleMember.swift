import Foundation

/// What every member trains on: the training rows (raw and binned), the
/// validation rows it must not train on, and the settings.
struct MemberTrainingInput: @unchecked Sendable {
    let train: TrainingTable
    let validation: TrainingTable
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

extension ChurnEnsemble.Member {
    /// Trains this member (members train side by side: each depends only on
    /// its inputs and its own seeded streams).
    func train(_ input: MemberTrainingInput) -> TrainedMember {
        switch self {
        case .gradientBoosting: return GradientBoostedTrees.trainMember(input)
        case .randomForest: return RandomForest.trainMember(input)
        case .logisticRegression: return LogisticRegression.trainMember(input)
        }
    }
}

extension GradientBoostedTrees: EnsembleMember {
    public var kind: ChurnEnsemble.Member { .gradientBoosting }

    public func json() -> JSONValue {
        .object([("base_score", .double(baseScore)), ("trees", .array(trees.map(ChurnModelFile.treeJSON)))])
    }

    public func compiled(weight: Double) -> (trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?) {
        (trees.map { ($0, weight) }, weight * baseScore, nil)
    }

    public func gains(into importance: inout [Double]) { for t in trees { t.addGains(into: &importance) } }

    static func trainMember(_ input: MemberTrainingInput) -> TrainedMember {
        let (model, history) = GradientBoostedTrees.train(
            train: input.binnedTrain, labels: input.train.labels, validation: input.binnedValidation, validationLabels: input.validation.labels,
            binner: input.binner, parameters: input.parameters.gradientBoosting, seed: input.parameters.seed)
        var margins = history.validationMargins
        if margins.count != input.validation.rowCount {
            // The same sums, in the same order, as `margin`, with trees walked on bin indices.
            margins = [Double](repeating: model.baseScore, count: input.validation.rowCount)
            for t in model.trees { GradientBoostedTrees.addTree(t, binned: input.binnedValidation, binner: input.binner, to: &margins) }
        }
        return TrainedMember(member: model, validationMargins: margins, rounds: history.bestRound)
    }
}

extension RandomForest: EnsembleMember {
    public var kind: ChurnEnsemble.Member { .randomForest }

    public func json() -> JSONValue { .object([("trees", .array(trees.map(ChurnModelFile.treeJSON)))]) }

    public func compiled(weight: Double) -> (trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?) {
        trees.isEmpty ? ([], 0, nil) : (trees.map { ($0, weight / Double(trees.count)) }, 0, nil)
    }

    public func gains(into importance: inout [Double]) { for t in trees { t.addGains(into: &importance) } }

    static func trainMember(_ input: MemberTrainingInput) -> TrainedMember {
        let model = RandomForest.train(train: input.binnedTrain, labels: input.train.labels, binner: input.binner,
            parameters: input.parameters.randomForest, seed: input.parameters.seed)
        var margins = [Double](repeating: 0, count: input.validation.rowCount)
        for t in model.trees { GradientBoostedTrees.addTree(t, binned: input.binnedValidation, binner: input.binner, to: &margins) }
        if !model.trees.isEmpty { let k = Double(model.trees.count); for i in margins.indices { margins[i] /= k } }
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

    public func compiled(weight: Double) -> (trees: [(RegressionTree, Double)], constant: Double, linear: LogisticRegression?) {
        ([], 0, self)
    }

    static func trainMember(_ input: MemberTrainingInput) -> TrainedMember {
        let model = LogisticRegression.train(input.train, lambda: input.parameters.logisticLambda)
        let v = input.validation
        var margins: [Double] = []
        margins.reserveCapacity(v.rowCount)
        var x = [Double](repeating: 0, count: v.featureCount)
        for i in 0..<v.rowCount {
            for j in 0..<v.featureCount { x[j] = v.columns[j][i] }
            margins.append(x.withUnsafeBufferPointer { model.margin($0.baseAddress!) })
        }
        return TrainedMember(member: model, validationMargins: margins, rounds: nil)
    }
}

extension RegressionTree {
    /// Adds each split's gain to its feature.
    func addGains(into importance: inout [Double]) {
        for node in 0..<nodeCount where feature[node] >= 0 { importance[Int(feature[node])] += gain[node] }
    }
}
