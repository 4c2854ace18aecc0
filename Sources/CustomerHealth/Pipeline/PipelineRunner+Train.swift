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
