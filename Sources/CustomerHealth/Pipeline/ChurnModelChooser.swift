import Foundation

/// Chooses the churn model for each as-of day so that no output of a day
/// depends on data after it, which is what a nightly run on that day could
/// have had:
/// - the pipeline's model file, when it saw no data after the day (its
///   `data_through` is on or before it): the nightly case;
/// - otherwise a point-in-time model, trained only on data up to the
///   retraining date that serves the day (`churn.retrain_every`), kept in
///   `churn.history_models` and reused while the training settings are the same.
/// `run --as-of` and `replay` go through the same choice, so their folders match.
final class ChurnModelChooser {
    private let runner: PipelineRunner
    private let data: IngestResult?
    private enum MainState {
        case unknown, absent, skipped
        case loaded(ChurnModelFile, dataThrough: CalendarDay?)
    }
    private var main = MainState.unknown
    private var pointInTime: [CalendarDay: (ChurnModelFile?, [(String, JSONValue)])] = [:]

    /// `data` nil (rescore): point-in-time models can only be read, not trained.
    init(runner: PipelineRunner, data: IngestResult?) {
        self.runner = runner
        self.data = data
    }

    private var churn: ChurnSettings { runner.config.churn }

    /// The model for `asOf`, nil for none, and what manifest.json says of it.
    func model(asOf: CalendarDay) throws -> (ChurnModelFile?, manifest: [(String, JSONValue)]) {
        guard let path = churn.modelPath else { return (nil, []) }
        let config = runner.config
        if case .unknown = main {
            if FileManager.default.fileExists(atPath: path) {
                _ = try loadMain(path)
            } else {
                switch churn.ifMissing {
                case .skip:
                    runner.logger.warning(
                        "no churn model at \(path); scoring without churn probabilities (churn.if_missing: skip)")
                    main = .skipped
                case .stop:
                    throw CustomerHealthError.input(
                        file: path,
                        message:
                            "no churn model here yet. Train one with:  customer-health train \(config.file)  (or set churn.if_missing: train to train before the first run)"
                    )
                case .train:
                    guard data != nil else {
                        throw CustomerHealthError.input(
                            file: path,
                            message: "no churn model here yet. Train one with:  customer-health train \(config.file)")
                    }
                    main = .absent
                }
            }
        }
        switch main {
        case .skipped: return (nil, [])
        case .loaded(let file, let through) where through.map({ $0 <= asOf }) ?? true:
            return (
                file,
                ChurnModelChooser.manifest(
                    file: (path as NSString).lastPathComponent, model: file, through: through, pointInTime: false)
            )
        case .absent:
            if let data, let latest = data.latestActivityDay, asOf >= latest {
                runner.logger.info(
                    "no churn model at \(path) yet; training one from the exports (churn.if_missing: train)")
                _ = try runner.train(data: data, exportTable: nil)
                let (file, through) = try loadMain(path)
                return (
                    file,
                    ChurnModelChooser.manifest(
                        file: (path as NSString).lastPathComponent, model: file, through: through, pointInTime: false)
                )
            }
        default: break
        }
        let day = churn.retrainDate(onOrBefore: asOf)
        if let cached = pointInTime[day] { return cached }
        let chosen = try pointInTimeModel(through: day, asOf: asOf)
        pointInTime[day] = chosen
        return chosen
    }

    /// Loads the pipeline's model file as the main model.
    private func loadMain(_ path: String) throws -> (ChurnModelFile, CalendarDay?) {
        let file = try runner.loadChurnModel(
            path: path, retrainHint: "train a new model with: customer-health train \(runner.config.file)")
        let through = ChurnModelChooser.dataThrough(file)
        main = .loaded(file, dataThrough: through)
        return (file, through)
    }

    private func pointInTimeModel(through day: CalendarDay, asOf: CalendarDay) throws -> (
        ChurnModelFile?, [(String, JSONValue)]
    ) {
        let config = runner.config
        guard let folder = churn.historyModelsFolder else { return (nil, []) }
        let name = "through-\(day).json"
        let path = (folder as NSString).appendingPathComponent(name)
        let shown = "\((folder as NSString).lastPathComponent)/\(name)"
        let fingerprint = ChurnModelFile.hash(config.trainingFingerprint)
        if FileManager.default.fileExists(atPath: path) {
            let file = try runner.loadChurnModel(
                path: path, retrainHint: "delete \(folder) so that its models are trained again")
            if case .object(let members) = file.metadata,
                members.contains(where: { $0.0 == "training_fingerprint" && $0.1 == .string(fingerprint) })
            {
                return (
                    file,
                    ChurnModelChooser.manifest(
                        file: shown, model: file, through: ChurnModelChooser.dataThrough(file), pointInTime: true)
                )
            }
            guard data != nil else {
                throw CustomerHealthError.input(
                    file: path,
                    message:
                        "this point-in-time model was trained under other churn settings than the pipeline's; run  customer-health run \(config.file) --as-of \(asOf)  to train it again"
                )
            }
            runner.logger.info("\(path) was trained under other churn settings; training it again")
        }
        guard let data else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "no point-in-time churn model for \(asOf) yet (the pipeline's model saw data after that day). Score that day with  customer-health run \(config.file) --as-of \(asOf), which trains it"
            )
        }
        runner.logger.info(
            "as of \(asOf): training a churn model on data up to \(day) only (churn.retrain_every), so that nothing after the day counts"
        )
        let trained: PipelineRunner.TrainedModel
        do {
            trained = try runner.trainModel(data: data, through: day, exportTable: nil)
        } catch let error as CustomerHealthError {
            guard case .input(_, let message) = error, churn.onInsufficientData == .warn else { throw error }
            runner.logger.warning("as of \(asOf): no churn probabilities: \(message)")
            return (
                nil,
                [
                    (
                        "churn_model",
                        .object([
                            ("file", .null), ("data_through", .string(day.description)), ("point_in_time", .bool(true)),
                            ("not_trained", .string(message)),
                        ])
                    )
                ]
            )
        }
        try AtomicFile.write(Data(trained.file.serialized().utf8), to: path)
        let file = try runner.loadChurnModel(
            path: path, retrainHint: "delete \(folder) so that its models are trained again")
        return (
            file, ChurnModelChooser.manifest(file: shown, model: file, through: trained.dataThrough, pointInTime: true)
        )
    }

    /// The last day of data a model was trained on (nil: unknown, e.g. a table model).
    static func dataThrough(_ file: ChurnModelFile) -> CalendarDay? {
        guard case .object(let members) = file.metadata else { return nil }
        var lastObservation: CalendarDay? = nil
        var horizon: Int? = nil
        for (key, value) in members {
            switch (key, value) {
            case ("data_through", .string(let s)): return CalendarDay(s)
            case ("observation_dates", .array(let dates)):
                if case .string(let s)? = dates.last { lastObservation = CalendarDay(s) }
            case ("horizon_days", .int(let h)): horizon = h
            default: break
            }
        }
        // Files from before data_through was recorded: the last label's day.
        if let lastObservation, let horizon { return lastObservation.adding(days: horizon) }
        return nil
    }

    static func manifest(file: String, model: ChurnModelFile, through: CalendarDay?, pointInTime: Bool) -> [(
        String, JSONValue
    )] {
        [
            (
                "churn_model",
                .object([
                    ("file", .string(file)),
                    ("sha256", .optionalString(model.loadedHash)),
                    ("data_through", .optionalString(through?.description)),
                    ("point_in_time", .bool(pointInTime)),
                ])
            )
        ]
    }
}
