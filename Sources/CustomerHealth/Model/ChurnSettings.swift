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

    static func load(_ node: ConfigNode, resolve: @escaping (String) -> String) throws -> ChurnSettings {
        var s = ChurnSettings()
        try settings(resolve: resolve).read(node, into: &s)
        s.training.seed = s.seed
        return s
    }

    static func declared(path: String) -> [DeclaredSection] {
        settings(resolve: { $0 }).declared(path: path, defaults: ChurnSettings())
    }

    /// The `churn:` section, in the order it is read.
    static func settings(resolve: @escaping (String) -> String) -> SettingsSection<ChurnSettings> {
        SettingsSection([
            .custom("model") { node, s in s.modelPath = try node.string("model").map(resolve) },
            .choice("if_missing", \.ifMissing, expected: "train, stop or skip"),
            .whole("horizon_days", \.horizonDays, 1...3650),
            .step("observe_every", \.observeEvery, "expected a step such as 30d or 1m (month ends)"),
            Setting(key: "inactivity_days", documented: false, defaultText: { _ in nil }) { node, _ in
                if node.has("inactivity_days") {
                    throw node.failure(
                        "churn.inactivity_days has moved: write  churn_definition: {from: inactivity, inactivity_days: N}  at the top level of the pipeline, so that every command (run, the KPIs, the at-risk list, backtest), not only training, uses it",
                        key: "inactivity_days")
                }
            },
            .whole("validation_dates", \.validationDates, 1...1000),
            .whole("min_positives", \.minPositives, 0...100_000_000),
            .choice("on_insufficient_data", \.onInsufficientData, expected: "warn or stop"),
            .custom("seed", default: { "\($0.seed)" }) { node, s in
                s.seed = UInt64(try node.int("seed", default: Int(s.seed), range: 0...Int.max))
            },
            .whole("reason_codes", \.reasonCodes, 0...12),
            .step("retrain_every", \.retrainEvery, "expected a step such as 30d or 1m (month starts)"),
            .custom("history_models") { node, s in s.historyFolder = try node.string("history_models").map(resolve) },
            .section("gradient_boosting", gradientBoosting),
            .section("random_forest", randomForest),
            .section("logistic_regression", SettingsSection([.number("l2", \.training.logisticLambda, 0...1e9)])),
            .section("event_features", eventFeatures),
        ])
    }

    /// The gradient-boosted trees' hyperparameters.
    static var gradientBoosting: SettingsSection<ChurnSettings> {
        SettingsSection([
            .number("learning_rate", \.training.gradientBoosting.learningRate, 1e-4...1),
            .whole("max_rounds", \.training.gradientBoosting.maxRounds, 1...100_000),
            .whole("max_depth", \.training.gradientBoosting.maxDepth, 1...16),
            .number("min_child_weight", \.training.gradientBoosting.minChildWeight, 0...1e9),
            .whole("min_leaf_rows", \.training.gradientBoosting.minLeafRows, 1...10_000_000),
            .number("l2", \.training.gradientBoosting.lambda, 0...1e9),
            .number("row_subsample", \.training.gradientBoosting.rowSubsample, 0.01...1),
            .number("feature_subsample", \.training.gradientBoosting.featureSubsample, 0.01...1),
            .whole("early_stopping_rounds", \.training.gradientBoosting.earlyStoppingRounds, 1...100_000),
        ])
    }

    /// The random forest's hyperparameters.
    static var randomForest: SettingsSection<ChurnSettings> {
        SettingsSection([
            .whole("trees", \.training.randomForest.trees, 1...10_000),
            .whole("max_depth", \.training.randomForest.maxDepth, 1...16),
            .whole("min_leaf_rows", \.training.randomForest.minLeafRows, 1...10_000_000),
            .custom("features_per_split") { node, s in
                // Not set: the square root of the number of features, decided when training.
                if node.has("features_per_split") {
                    s.training.randomForest.featuresPerSplit = try node.int(
                        "features_per_split", default: 1, range: 1...ChurnFeatures.names.count)
                }
            },
            .number("sample_fraction", \.training.randomForest.sampleFraction, 0.01...1),
        ])
    }

    /// How many inputs come from the product's events.
    static var eventFeatures: SettingsSection<ChurnSettings> {
        SettingsSection([
            .whole("product_events", \.eventFeatures.productEvents, 0...1000),
            .whole("max_inputs", \.eventFeatures.maxInputs, 0...500),
        ])
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

extension Setting {
    /// A replay step (`30d`, `2w`, `1m`); `message` says what is expected.
    static func step(_ key: String, _ field: WritableKeyPath<Target, ReplayStep>, _ message: String) -> Setting {
        Setting(
            key: key, defaultText: { $0[keyPath: field].setting },
            read: { node, t in
                let text = try node.string(key, default: t[keyPath: field].setting)
                guard let step = ReplayStep(text) else {
                    throw node.failure("\(message), found \"\(text)\"", key: key)
                }
                t[keyPath: field] = step
            })
    }
}

extension ReplayStep {
    /// The step as a pipeline file writes it: `30d`, `1m`.
    var setting: String {
        switch self {
        case .days(let n): return "\(n)d"
        case .months(let n): return "\(n)m"
        }
    }
}
