import Foundation

/// What `train` produced.
public struct TrainOutcome: Sendable {
    public var modelPath: String
    public var reportPath: String
    /// The report as a page (`ModelReportPage`), beside the JSON report.
    public var reportHTMLPath: String
    public var report: TrainingReport
    /// The health score's own skill on the validation dates (the report's `health_score`).
    public var healthScore: JSONValue
    public var observationDates: [CalendarDay]
    public var validationDates: [CalendarDay]
    public var modelBytes: Int
    public var warnings: [String]
}

extension PipelineRunner {
    /// Reads the exports and trains the churn model on their history, or on
    /// the history up to `through` only (data after it is never looked at).
    public func train(exportTable: String? = nil, through: CalendarDay? = nil) throws -> TrainOutcome {
        let data = try ingest()
        return try train(data: data, exportTable: exportTable, through: through)
    }

    /// Trains the pipeline's model and writes it, with its report, to `churn.model`.
    func train(data: IngestResult, exportTable: String?, through: CalendarDay? = nil) throws -> TrainOutcome {
        guard let modelPath = config.churn.modelPath else {
            throw CustomerHealthError.pipeline(
                file: config.file, path: "churn.model",
                message: "no model file is set: add `churn: {model: models/churn-model.json}` to the pipeline")
        }
        let trained = try trainModel(data: data, through: through, exportTable: exportTable)
        return try write(trained, to: modelPath)
    }

    /// Writes a trained model to `path` and its report beside it, as JSON and as a page.
    func write(_ trained: TrainedModel, to modelPath: String) throws -> TrainOutcome {
        let text = trained.file.serialized()
        try AtomicFile.write(Data(text.utf8), to: modelPath)
        let reportPath = (modelPath as NSString).deletingPathExtension + ".report.json"
        let reportHTMLPath = (modelPath as NSString).deletingPathExtension + ".report.html"
        var reportJSON = trained.report.json()
        if case .object(var members) = reportJSON {
            members.insert(("model_sha256", .string(trained.file.contentHash)), at: 0)
            members.insert(("data_through", .string(trained.dataThrough.description)), at: 1)
            members.insert(
                ("observation_dates", .array(trained.observationDates.map { .string($0.description) })), at: 2)
            members.insert(("validation_dates", .array(trained.validationDates.map { .string($0.description) })), at: 3)
            members.append(contentsOf: trained.report.curvesJSON())
            members.append(("health_score", trained.healthScore))
            if !trained.warnings.isEmpty { members.append(("warnings", .array(trained.warnings.map { .string($0) }))) }
            reportJSON = .object(members)
        }
        let reportText = reportJSON.serialized(pretty: true) + "\n"
        try AtomicFile.write(Data(reportText.utf8), to: reportPath)
        // Made from the JSON text just written, as anything reading the file later would make it.
        let reportHTML = try ModelReportPage.html(reportJSON: Data(reportText.utf8), modelPath: modelPath)
        try AtomicFile.write(Data(reportHTML.utf8), to: reportHTMLPath)
        return TrainOutcome(
            modelPath: modelPath, reportPath: reportPath, reportHTMLPath: reportHTMLPath, report: trained.report,
            healthScore: trained.healthScore,
            observationDates: trained.observationDates, validationDates: trained.validationDates,
            modelBytes: text.utf8.count,
            warnings: trained.warnings)
    }

    /// A model trained in memory, with what it was trained on.
    struct TrainedModel {
        var file: ChurnModelFile
        var report: TrainingReport
        var dataThrough: CalendarDay
        var observationDates: [CalendarDay]
        var validationDates: [CalendarDay]
        var warnings: [String]
        var healthScore: JSONValue
    }

    /// What a training covers: its observation dates, the validation dates
    /// held out of them, and the last day of data it may see.
    struct TrainingPlan {
        var dates: [CalendarDay]
        var validationDates: [CalendarDay]
        var dataThrough: CalendarDay
        /// " up to DATE" for messages, or "".
        var upTo: String

        var firstValidation: CalendarDay { validationDates.first! }
        /// The training dates the health score's suggested weights are fitted
        /// on: the three latest (each is a full scoring of the portfolio).
        var healthScoreTrainingDates: [CalendarDay] { Array(dates.filter { $0 < firstValidation }.suffix(3)) }
    }

    /// The observation and validation dates of a training on `data` up to
    /// `through` (default: the newest activity day). Throws when the history
    /// holds fewer than two observation dates.
    func trainingPlan(data: IngestResult, through: CalendarDay?) throws -> TrainingPlan {
        let churn = config.churn
        let builder = TrainingSetBuilder(data: data, scoring: config.scoring, churn: churn, events: config.events)
        let latest = data.latestActivityDay.map { through.map { min($0, through!) } ?? $0 }
        let dataThrough = latest ?? through ?? CalendarDay(number: 0)
        let dates = builder.observationDates(through: latest)
        let upTo = through.map { " up to \($0)" } ?? ""
        guard dates.count >= 2 else {
            throw CustomerHealthError.input(
                file: config.inputDirectory,
                message:
                    "the exports hold too little history\(upTo) to train on: \(dates.count) observation date(s); training needs at least two, each with \(config.scoring.windowDays) days of history before it and \(churn.horizonDays) days after it"
            )
        }
        let heldOut = min(churn.validationDates, dates.count - 1)
        return TrainingPlan(
            dates: dates, validationDates: Array(dates.suffix(heldOut)), dataThrough: dataThrough, upTo: upTo)
    }

    /// Trains the ensemble on the observation dates whose horizon ends by
    /// `through` (default: the newest activity day). Throws
    /// `CustomerHealthError.input` when the history is too short or holds
    /// too few churn events (as `churn.on_insufficient_data` says).
    func trainModel(data: IngestResult, through: CalendarDay?, exportTable: String?) throws -> TrainedModel {
        let churn = config.churn
        let builder = TrainingSetBuilder(data: data, scoring: config.scoring, churn: churn, events: config.events)
        let plan = try trainingPlan(data: data, through: through)
        let buildStart = ContinuousClock.now
        let firstValidation = plan.firstValidation
        let rows = builder.rows(dates: plan.dates)
        let trainCount = rows.firstIndex { $0.date >= firstValidation } ?? rows.count
        // Inputs from the product's events, chosen on the training dates only.
        let (eventInputs, ranking) = builder.selectEventInputs(
            trainingRows: Array(rows[..<trainCount]), productEvents: churn.eventFeatures.productEvents,
            maxInputs: churn.eventFeatures.maxInputs, seed: churn.seed, threads: threads)
        let table = builder.build(rows: rows, threads: threads, inputs: ChurnFeatures.fixed + eventInputs)
        logger.info(
            "training table: \(table.rowCount) rows over \(plan.dates.count) observation dates, \(table.featureCount) inputs (\(eventInputs.count) from the product's events), built in \(String(format: "%.1f", Elapsed.seconds(since: buildStart))) s"
        )
        return try fitModel(
            table: table, trainCount: trainCount, plan: plan, eventInputs: eventInputs.map(\.name), ranking: ranking,
            exportTable: exportTable
        ) {
            // The health score on the same validation dates, and the part weights that would have ranked best on the latest training dates.
            HealthScoreSkill.report(
                validation: HealthScoreSkill.rows(
                    runner: self, data: data, dates: plan.validationDates, builder: builder),
                training: HealthScoreSkill.rows(
                    runner: self, data: data, dates: plan.healthScoreTrainingDates, builder: builder),
                validationDates: plan.validationDates, trainingDates: plan.healthScoreTrainingDates)
        }
    }

    /// Fits the ensemble on a training table (rows date by date, the first
    /// `trainCount` before the validation dates) and describes it: what
    /// `train` and `train --from-parts` share, so that both write the same
    /// model from the same rows. The table's values are freed during training.
    func fitModel(
        table: TrainingTable, trainCount: Int, plan: TrainingPlan, eventInputs: [String], ranking: [(String, Double)],
        exportTable: String?, healthScore: () throws -> JSONValue
    ) throws -> TrainedModel {
        let churn = config.churn
        let upTo = plan.upTo
        var table = table
        let train = table.slice(0..<trainCount)
        let validation = table.slice(trainCount..<table.rowCount)
        var warnings: [String] = []
        let customers = table.rowIDs.distinctCount
        let dates = plan.dates
        if table.positives < churn.minPositives || train.positives == 0 || validation.positives == 0 {
            let message =
                "too little to learn from\(upTo): \(table.rowCount) rows of \(customers) customers over \(dates.count) observation dates hold \(table.positives) churn events (\(train.positives) for training, \(validation.positives) held out for validation); the pipeline asks for at least \(churn.minPositives) (churn.min_positives)"
            if churn.onInsufficientData == .stop || train.positives == 0 || validation.positives == 0 {
                throw CustomerHealthError.input(
                    file: config.inputDirectory,
                    message: message + ". Add history, or set churn.on_insufficient_data: warn to train anyway")
            }
            warnings.append(
                message + "; training anyway (on_insufficient_data: warn): treat its probabilities with care")
            logger.warning("\(warnings.last!)")
        }
        if let exportTable {
            let split = (0..<table.rowCount).map { $0 < trainCount ? "train" : "validation" }
            try TableExport.write(table, split: split, to: exportTable)
        }
        table.dates = nil
        let (ensemble, report) = ChurnTrainer.train(
            train: train, validation: validation, parameters: churn.training, releasingValues: true)
        let healthScore = try healthScore()
        let metadata: JSONValue = .object([
            ("trained_on", .string(config.inputDirectory)),
            ("pipeline_sha256", .string(config.sha256)),
            ("data_through", .string(plan.dataThrough.description)),
            ("training_fingerprint", .string(ChurnModelFile.hash(config.trainingFingerprint))),
            ("horizon_days", .int(churn.horizonDays)),
            ("churn_definition", .string(config.churnDefinition.summary)),
            ("observation_dates", .array(dates.map { .string($0.description) })),
            ("validation_dates", .array(plan.validationDates.map { .string($0.description) })),
            ("seed", .int(Int(churn.seed))),
            (
                "event_inputs",
                .object([
                    ("chosen", .array(eventInputs.map { .string($0) })),
                    (
                        "screened",
                        .array(
                            ranking.prefix(60).map {
                                .object([
                                    ("input", .string($0.0)), ("auc_distance_from_half", .number($0.1, places: 4)),
                                ])
                            })
                    ),
                ])
            ),
            ("report", report.json()),
            ("health_score", healthScore),
        ])
        return TrainedModel(
            file: ChurnModelFile(ensemble: ensemble, metadata: metadata), report: report, dataThrough: plan.dataThrough,
            observationDates: dates, validationDates: plan.validationDates, warnings: warnings, healthScore: healthScore
        )
    }

    /// Reads a model file and checks it fits this pipeline; every failure
    /// stops the run with a message (a model is never applied silently).
    func loadChurnModel(path: String, retrainHint: String) throws -> ChurnModelFile {
        let file: ChurnModelFile
        do {
            file = try ChurnModelFile.load(path: path)
        } catch {
            throw CustomerHealthError.input(
                file: path,
                message: error.description.replacingOccurrences(of: "\(path): ", with: "")
                    + ". Nothing was scored with it.")
        }
        let unknown = ChurnFeatures.unknown(in: file.ensemble.featureNames)
        guard unknown.isEmpty else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "the model reads \(unknown.joined(separator: ", ")), which this customer-health does not compute; \(retrainHint)"
            )
        }
        return file
    }
}

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

/// Writes a training table as CSV (for the benchmark's peers and for audits).
public enum TableExport {
    public static func write(_ table: TrainingTable, split: [String]?, to path: String) throws {
        // RFC 4180 quoting: input names of product events hold quotes, ids may hold commas.
        func cell(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var out =
            "customer_id,as_of," + (split != nil ? "split," : "") + "label,"
            + table.featureNames.map(cell).joined(separator: ",") + "\n"
        out.reserveCapacity(table.rowCount * 120)
        for i in 0..<table.rowCount {
            out += cell(table.rowIDs[i])
            out += ","
            out += table.dates.map { $0[i].description } ?? ""
            out += ","
            if let split { out += split[i] + "," }
            out += table.labels[i] == 1 ? "1" : "0"
            for j in 0..<table.featureCount {
                let v = table.columns[j][i]
                out += ","
                if !v.isNaN { out += v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
            }
            out += "\n"
        }
        try AtomicFile.write(Data(out.utf8), to: path)
    }
}

/// What `backtest` measured: an earlier run's health scores and churn
/// probabilities against what happened since, by the pipeline's churn definition.
public struct BacktestResult: Sendable {
    public var asOf: CalendarDay
    /// Customers scored then and active on that day by the churn definition.
    public var customers: Int
    public var churned: Int
    public var unknownCustomers: Int
    /// Customers in the scores that the churn definition does not count as
    /// active on the as-of day (scored by an earlier definition, or the data
    /// changed since): left out of every figure.
    public var notActive: Int
    public var daysObserved: Int
    public var horizonDays: Int
    /// How well the health score ranks churn (lower health, more churn).
    public var healthAUC: Double?
    /// The same for each component (from scores.jsonl) and each part (recomputed from the
    /// run's features.jsonl with the pipeline's current scoring settings), nil where none applied.
    public var componentAUC: [(String, Double?)] = []
    public var partAUC: [(String, Double?)] = []
    public var observedRate: Double
    /// Nil when that run had no churn model.
    public var model: ModelSkill?

    public struct ModelSkill: Sendable {
        public var auc: Double?
        public var prAUC: Double?
        public var logLoss: Double
        public var brier: Double
        public var meanPredicted: Double
        public var calibration: [(low: Double, high: Double, count: Int, meanPredicted: Double, observedRate: Double)]
    }

    /// One row per customer counted: what was predicted and what happened.
    public var rows: [(customerID: String, healthScore: Double, churnProbability: Double?, churned: Bool)]

    /// Writes `rows` as CSV (customer_id, health_score, churn_probability, churned), atomically.
    public func writeLabels(to path: String) throws {
        var csv = "customer_id,health_score,churn_probability,churned\n"
        for row in rows {
            let p = row.churnProbability.map { JSONValue.number($0, places: 4).serialized() } ?? ""
            csv +=
                "\(OutputRenderers.csvCell(row.customerID)),\(JSONValue.number(row.healthScore, places: 1).serialized()),\(p),\(row.churned ? 1 : 0)\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: path)
    }
}

extension PipelineRunner {
    /// Compares the health scores and churn probabilities of
    /// OUTPUT/<date>/scores.jsonl with the churn that the current exports
    /// show in the horizon after that date, over the customers active on
    /// that date by the pipeline's churn definition.
    public func backtest(predictionsFolder: String) throws -> BacktestResult {
        let scoresPath = (predictionsFolder as NSString).appendingPathComponent("scores.jsonl")
        guard let data = FileManager.default.contents(atPath: scoresPath) else {
            throw CustomerHealthError.input(
                file: scoresPath,
                message: "cannot be read: --predictions must be an output folder such as output/2026-10-23")
        }
        struct Components: Decodable {
            var usage: Double?
            var engagement: Double?
            var satisfaction: Double?
            var value_realization: Double?
        }
        struct Line: Decodable {
            var customer_id: String
            var as_of: String
            var health_score: Double
            var churn_probability: Double?
            var component_scores: Components
        }
        var predictions: [(String, Double, Double?)] = []
        var componentsByID: [String: [Double?]] = [:]
        var asOf: CalendarDay? = nil
        var lineNumber = 0
        for raw in data.split(separator: 0x0A) {
            lineNumber += 1
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(raw)), let day = CalendarDay(line.as_of)
            else {
                throw CustomerHealthError.features(
                    file: scoresPath, line: lineNumber, message: "not a scores.jsonl line written by customer-health")
            }
            if let asOf, asOf != day {
                throw CustomerHealthError.features(
                    file: scoresPath, line: lineNumber, message: "as_of \(day) differs from the first line's \(asOf)")
            }
            asOf = day
            if let first = predictions.first, (first.2 == nil) != (line.churn_probability == nil) {
                throw CustomerHealthError.features(
                    file: scoresPath, line: lineNumber, message: "some lines have a churn_probability and others not")
            }
            predictions.append((line.customer_id, line.health_score, line.churn_probability))
            let c = line.component_scores
            componentsByID[line.customer_id] = [c.usage, c.engagement, c.satisfaction, c.value_realization]
        }
        guard let asOf, !predictions.isEmpty else {
            throw CustomerHealthError.input(file: scoresPath, message: "holds no scores")
        }
        let ingested = try ingest()
        let builder = TrainingSetBuilder(
            data: ingested, scoring: config.scoring, churn: config.churn, events: config.events)
        var index: [String: Int] = [:]
        for (i, a) in ingested.accounts.enumerated() { index[a.customerID] = i }
        var rows: [(customerID: String, healthScore: Double, churnProbability: Double?, churned: Bool)] = []
        var unknown = 0
        var notActive = 0
        for (id, health, p) in predictions {
            guard let c = index[id] else {
                unknown += 1
                continue
            }
            guard ingested.lifecycles[c].isActive(on: asOf) else {
                notActive += 1
                continue
            }
            rows.append((id, health, p, builder.churnState(customer: c, on: asOf).label))
        }
        if notActive > 0 {
            logger.warning(
                "\(notActive) customers of \(scoresPath) are not active on \(asOf) by the churn definition (\(config.churnDefinition.summary)); they are left out"
            )
        }
        let latest = ingested.latestActivityDay ?? asOf
        let observed = max(0, min(config.churn.horizonDays, Int(latest.number - asOf.number)))
        if observed < config.churn.horizonDays {
            logger.warning(
                "only \(observed) of the \(config.churn.horizonDays) days after \(asOf) are in the exports yet: churn still to come is counted as no churn"
            )
        }
        let labels = rows.map { UInt8($0.churned ? 1 : 0) }
        let churned = labels.reduce(0) { $0 + Int($1) }
        var skill: BacktestResult.ModelSkill? = nil
        if predictions.first?.2 != nil {
            let probabilities = rows.map { $0.churnProbability! }
            skill = .init(
                auc: Metrics.rocAUC(scores: probabilities, labels: labels),
                prAUC: Metrics.averagePrecision(scores: probabilities, labels: labels),
                logLoss: Metrics.logLoss(probabilities: probabilities, labels: labels),
                brier: Metrics.brier(probabilities: probabilities, labels: labels),
                meanPredicted: probabilities.reduce(0, +) / Double(max(1, probabilities.count)),
                calibration: Metrics.calibrationTable(probabilities: probabilities, labels: labels))
        }
        var result = BacktestResult(
            asOf: asOf, customers: rows.count, churned: churned, unknownCustomers: unknown, notActive: notActive,
            daysObserved: observed,
            horizonDays: config.churn.horizonDays,
            healthAUC: Metrics.rocAUC(scores: rows.map { 100 - $0.healthScore }, labels: labels),
            observedRate: Double(churned) / Double(max(1, labels.count)), model: skill, rows: rows)
        let outcome = Dictionary(
            rows.map { ($0.customerID, UInt8($0.churned ? 1 : 0)) }, uniquingKeysWith: { a, _ in a })
        func auc(_ values: [(String, Double?)]) -> Double? {
            var s: [Double] = []
            var y: [UInt8] = []
            for (id, v) in values {
                if let v, let label = outcome[id] {
                    s.append(-v)
                    y.append(label)
                }
            }
            return Metrics.rocAUC(scores: s, labels: y)
        }
        result.componentAUC = ScoreComponent.ordered.enumerated().map { (k, c) in
            (c.rawValue, auc(componentsByID.map { ($0.key, $0.value[k]) }))
        }
        // The parts, from the run's features (when they are beside its scores).
        let featuresPath = (predictionsFolder as NSString).appendingPathComponent("features.jsonl")
        if FileManager.default.fileExists(atPath: featuresPath),
            let (sources, _) = try? PipelineRunner.runFacts(featuresPath: featuresPath),
            let (_, snaps, _) = try? PipelineRunner.readFeatures(path: featuresPath, inputNames: [])
        {
            let applicability = ScoreApplicability(sources: sources, settings: config.scoring.parts)
            let scorer = HealthScorer(settings: config.scoring.resolvingTargets(from: snaps))
            var fractions: [[(String, Double?)]] = Array(repeating: [], count: ScorePart.allCases.count)
            for s in snaps where s.active {
                guard let f = s.features else { continue }
                let parts = applicability.parts(for: s.account)
                for (k, p) in ScorePart.allCases.enumerated() {
                    let (maximum, earned) = scorer.points(p, f, account: s.account)
                    fractions[k].append(
                        (s.account.customerID, parts.contains(p) && maximum > 0 ? earned / maximum : nil))
                }
            }
            result.partAUC = ScorePart.allCases.enumerated().map { ($1.key, auc(fractions[$0])) }
        }
        return result
    }
}
