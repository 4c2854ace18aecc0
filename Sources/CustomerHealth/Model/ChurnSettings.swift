import Foundation

/// The `churn:` section of a pipeline file: where the model lives, what
/// counts as churn, and how training samples history.
public struct ChurnSettings: Sendable, Equatable {
    public enum IfMissing: String, Sendable { case train, stop, skip }
    public enum Insufficient: String, Sendable { case warn, stop }

    /// Model file path (resolved against the pipeline's folder); nil: no churn model.
    public var modelPath: String?
    public var ifMissing: IfMissing = .stop
    public var horizonDays = 30
    /// Observation dates: every N days back from the newest eligible date, or month ends.
    public var observeEvery: ReplayStep = .days(30)
    public var validationDates = 2
    public var minPositives = 200
    public var onInsufficientData: Insufficient = .stop
    public var seed: UInt64 = 42
    public var reasonCodes = 3
    /// Past as-of dates get a model trained only on data up to the latest
    /// retraining date on or before them (see `retrainDate(onOrBefore:)`).
    public var retrainEvery: ReplayStep = .months(1)
    /// Where those point-in-time models are kept; nil: beside the model file.
    public var historyFolder: String?
    /// The members' hyperparameters (`gradient_boosting:`, `random_forest:`,
    /// `logistic_regression:`); the seed is `seed`.
    public var training = ChurnTrainingParameters()
    /// Inputs derived from the product's events (`event_features:`).
    public var eventFeatures = EventFeatureSettings()

    public init() {}

    static func load(_ node: ConfigNode, resolve: (String) -> String) throws -> ChurnSettings {
        var s = ChurnSettings()
        s.modelPath = try node.string("model").map(resolve)
        let missing = try node.string("if_missing", default: "stop")
        guard let m = IfMissing(rawValue: missing) else {
            throw node.failure("expected train, stop or skip, found \"\(missing)\"", key: "if_missing")
        }
        s.ifMissing = m
        s.horizonDays = try node.int("horizon_days", default: 30, range: 1...3650)
        let every = try node.string("observe_every", default: "30d")
        guard let step = ReplayStep(every) else {
            throw node.failure(
                "expected a step such as 30d or 1m (month ends), found \"\(every)\"", key: "observe_every")
        }
        s.observeEvery = step
        if node.has("inactivity_days") {
            throw node.failure(
                "churn.inactivity_days has moved: write  churn_definition: {from: inactivity, inactivity_days: N}  at the top level of the pipeline, so that every command (run, the KPIs, the at-risk list, backtest), not only training, uses it",
                key: "inactivity_days")
        }
        s.validationDates = try node.int("validation_dates", default: 2, range: 1...1000)
        s.minPositives = try node.int("min_positives", default: 200, range: 0...100_000_000)
        let insufficient = try node.string("on_insufficient_data", default: "stop")
        guard let i = Insufficient(rawValue: insufficient) else {
            throw node.failure("expected warn or stop, found \"\(insufficient)\"", key: "on_insufficient_data")
        }
        s.onInsufficientData = i
        s.seed = UInt64(try node.int("seed", default: 42, range: 0...Int.max))
        s.reasonCodes = try node.int("reason_codes", default: 3, range: 0...12)
        let retrain = try node.string("retrain_every", default: "1m")
        guard let r = ReplayStep(retrain) else {
            throw node.failure(
                "expected a step such as 30d or 1m (month starts), found \"\(retrain)\"", key: "retrain_every")
        }
        s.retrainEvery = r
        s.historyFolder = try node.string("history_models").map(resolve)
        s.training = try ChurnTrainingParameters.load(node)
        let ef = try node.child("event_features")
        s.eventFeatures.productEvents = try ef.int(
            "product_events", default: s.eventFeatures.productEvents, range: 0...1000)
        s.eventFeatures.maxInputs = try ef.int("max_inputs", default: s.eventFeatures.maxInputs, range: 0...500)
        s.training.seed = s.seed
        return s
    }

    /// The folder of point-in-time models: `history_models`, or
    /// `<model file without .json>.history/` beside the model.
    public var historyModelsFolder: String? {
        if let historyFolder { return historyFolder }
        return modelPath.map { ($0 as NSString).deletingPathExtension + ".history" }
    }

    /// The retraining date that serves as-of day `d`: with `Nd`, the latest
    /// day on or before `d` whose number of days since 1970-01-01 is a
    /// multiple of N; with `Nm`, the first day of the latest month on or
    /// before `d` whose months since January 1970 are a multiple of N. Fixed
    /// dates, not relative to a replay's start, so that `run --as-of` and
    /// `replay` pick the same model for a day.
    public func retrainDate(onOrBefore d: CalendarDay) -> CalendarDay {
        switch retrainEvery {
        case .days(let n):
            let k = Int(d.number)
            return CalendarDay(number: Int32(k - ((k % n) + n) % n))
        case .months(let n):
            let c = d.components
            let index = (c.year - 1970) * 12 + (c.month - 1)
            let start = index - ((index % n) + n) % n
            return CalendarDay(year: 1970 + start / 12, month: start % 12 + 1, day: 1)!
        }
    }

    /// A digest of every setting that changes what training produces, so a
    /// cached point-in-time model trained under other settings is retrained.
    func trainingFingerprint(windowDays: Int, definition: ChurnDefinition, events: EventVocabulary) -> String {
        let t = training
        let g = t.gradientBoosting
        let f = t.randomForest
        return [
            "tool \(ToolVersion.current)", "schema \(ChurnEnsemble.schemaVersion)", "window \(windowDays)",
            "horizon \(horizonDays)", "observe \(observeEvery)", "churn \(definition.summary)",
            "events \(events.summary)",
            "validation \(validationDates)", "min_positives \(minPositives)", "seed \(seed)",
            "gb \(g.learningRate) \(g.maxRounds) \(g.maxDepth) \(g.minChildWeight) \(g.minLeafRows) \(g.lambda) \(g.rowSubsample) \(g.featureSubsample) \(g.earlyStoppingRounds)",
            "rf \(f.trees) \(f.maxDepth) \(f.minLeafRows) \(f.featuresPerSplit.map(String.init) ?? "sqrt") \(f.sampleFraction)",
            "lr \(t.logisticLambda)", "features \(ChurnFeatures.names.joined(separator: ","))",
            "event features \(eventFeatures.productEvents) \(eventFeatures.maxInputs) \(EventStatistic.allCases.map(\.rawValue).joined(separator: ","))",
        ].joined(separator: "; ")
    }
}

/// How many inputs the model may derive from the product's events.
public struct EventFeatureSettings: Sendable, Equatable {
    /// Named product events considered, the most frequent first.
    public var productEvents = 20
    /// Event-derived inputs kept after screening on the training dates (0: none).
    public var maxInputs = 24

    public init() {}
}

extension ChurnTrainingParameters {
    /// Reads `gradient_boosting:`, `random_forest:` and `logistic_regression:`
    /// from the churn section; whatever is left out keeps its default.
    static func load(_ churn: ConfigNode) throws -> ChurnTrainingParameters {
        var p = ChurnTrainingParameters()
        let gb = try churn.child("gradient_boosting")
        p.gradientBoosting.learningRate = try gb.double(
            "learning_rate", default: p.gradientBoosting.learningRate, range: 1e-4...1)
        p.gradientBoosting.maxRounds = try gb.int(
            "max_rounds", default: p.gradientBoosting.maxRounds, range: 1...100_000)
        p.gradientBoosting.maxDepth = try gb.int("max_depth", default: p.gradientBoosting.maxDepth, range: 1...16)
        p.gradientBoosting.minChildWeight = try gb.double(
            "min_child_weight", default: p.gradientBoosting.minChildWeight, range: 0...1e9)
        p.gradientBoosting.minLeafRows = try gb.int(
            "min_leaf_rows", default: p.gradientBoosting.minLeafRows, range: 1...10_000_000)
        p.gradientBoosting.lambda = try gb.double("l2", default: p.gradientBoosting.lambda, range: 0...1e9)
        p.gradientBoosting.rowSubsample = try gb.double(
            "row_subsample", default: p.gradientBoosting.rowSubsample, range: 0.01...1)
        p.gradientBoosting.featureSubsample = try gb.double(
            "feature_subsample", default: p.gradientBoosting.featureSubsample, range: 0.01...1)
        p.gradientBoosting.earlyStoppingRounds = try gb.int(
            "early_stopping_rounds", default: p.gradientBoosting.earlyStoppingRounds, range: 1...100_000)
        let rf = try churn.child("random_forest")
        p.randomForest.trees = try rf.int("trees", default: p.randomForest.trees, range: 1...10_000)
        p.randomForest.maxDepth = try rf.int("max_depth", default: p.randomForest.maxDepth, range: 1...16)
        p.randomForest.minLeafRows = try rf.int(
            "min_leaf_rows", default: p.randomForest.minLeafRows, range: 1...10_000_000)
        if rf.has("features_per_split") {
            p.randomForest.featuresPerSplit = try rf.int(
                "features_per_split", default: 1, range: 1...ChurnFeatures.names.count)
        }
        p.randomForest.sampleFraction = try rf.double(
            "sample_fraction", default: p.randomForest.sampleFraction, range: 0.01...1)
        let lr = try churn.child("logistic_regression")
        p.logisticLambda = try lr.double("l2", default: p.logisticLambda, range: 0...1e9)
        return p
    }
}
