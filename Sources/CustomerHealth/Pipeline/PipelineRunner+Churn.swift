import Foundation

/// What `train` produced.
public struct TrainOutcome: Sendable {
    public var modelPath: String
    public var reportPath: String
    public var report: TrainingReport
    public var observationDates: [CalendarDay]
    public var validationDates: [CalendarDay]
    public var modelBytes: Int
    public var warnings: [String]
}

extension PipelineRunner {
    /// Reads the exports and trains the churn model on their history.
    public func train(exportTable: String? = nil) throws -> TrainOutcome {
        let data = try ingest()
        return try train(data: data, exportTable: exportTable)
    }

    func train(data: IngestResult, exportTable: String?) throws -> TrainOutcome {
        let churn = config.churn
        guard let modelPath = churn.modelPath else {
            throw CustomerHealthError.pipeline(file: config.file, path: "churn.model", message: "no model file is set: add `churn: {model: models/churn-model.json}` to the pipeline")
        }
        let builder = TrainingSetBuilder(data: data, scoring: config.scoring, churn: churn)
        let dates = builder.observationDates()
        guard dates.count >= 2 else {
            throw CustomerHealthError.input(file: config.inputDirectory,
                message: "the exports hold too little history to train on: \(dates.count) observation date(s); training needs at least two, each with \(config.scoring.windowDays) days of history before it and \(churn.horizonDays) days after it")
        }
        let table = builder.build(dates: dates, threads: threads)
        let heldOut = min(churn.validationDates, dates.count - 1)
        let validationDates = Array(dates.suffix(heldOut))
        let firstValidation = validationDates.first!
        var trainRows: [Int] = []
        var validationRows: [Int] = []
        for i in 0..<table.rowCount { if table.dates![i] >= firstValidation { validationRows.append(i) } else { trainRows.append(i) } }
        let train = table.subset(trainRows)
        let validation = table.subset(validationRows)
        var warnings: [String] = []
        let customers = Set(table.rowIDs).count
        if table.positives < churn.minPositives || train.positives == 0 || validation.positives == 0 {
            let message = "too little to learn from: \(table.rowCount) rows of \(customers) customers over \(dates.count) observation dates hold \(table.positives) churn events (\(train.positives) for training, \(validation.positives) held out for validation); the pipeline asks for at least \(churn.minPositives) (churn.min_positives)"
            if churn.onInsufficientData == .stop || train.positives == 0 || validation.positives == 0 {
                throw CustomerHealthError.input(file: config.inputDirectory, message: message + ". Add history, or set churn.on_insufficient_data: warn to train anyway")
            }
            warnings.append(message + "; training anyway (on_insufficient_data: warn): treat its probabilities with care")
            logger.warning("\(warnings.last!)")
        }
        if let exportTable {
            try TableExport.write(table, split: table.dates!.map { $0 >= firstValidation ? "validation" : "train" }, to: exportTable)
        }
        var parameters = ChurnTrainingParameters()
        parameters.seed = churn.seed
        let (ensemble, report) = ChurnTrainer.train(train: train, validation: validation, parameters: parameters)
        let metadata: JSONValue = .object([
            ("trained_on", .string(config.inputDirectory)),
            ("pipeline_sha256", .string(config.sha256)),
            ("horizon_days", .int(churn.horizonDays)),
            ("churn_definition", .string(churn.inactivityDays.map { "no activity for \($0) days" } ?? "accounts.churned_at")),
            ("observation_dates", .array(dates.map { .string($0.description) })),
            ("validation_dates", .array(validationDates.map { .string($0.description) })),
            ("seed", .int(Int(churn.seed))),
            ("report", report.json()),
        ])
        let file = ChurnModelFile(ensemble: ensemble, metadata: metadata)
        let text = file.serialized()
        try PipelineRunner.writeAtomically(text, to: modelPath)
        let reportPath = (modelPath as NSString).deletingPathExtension + ".report.json"
        var reportJSON = report.json()
        if case .object(var members) = reportJSON {
            members.insert(("model_sha256", .string(file.contentHash)), at: 0)
            members.insert(("observation_dates", .array(dates.map { .string($0.description) })), at: 1)
            members.insert(("validation_dates", .array(validationDates.map { .string($0.description) })), at: 2)
            if !warnings.isEmpty { members.append(("warnings", .array(warnings.map { .string($0) }))) }
            reportJSON = .object(members)
        }
        try PipelineRunner.writeAtomically(reportJSON.serialized(pretty: true) + "\n", to: reportPath)
        return TrainOutcome(modelPath: modelPath, reportPath: reportPath, report: report, observationDates: dates,
            validationDates: validationDates, modelBytes: text.utf8.count, warnings: warnings)
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let tmp = path + ".\(getpid()).tmp"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: tmp))
            guard rename(tmp, path) == 0 else {
                throw CustomerHealthError.output(path: path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CustomerHealthError.output(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// The churn model the pipeline names, checked; trains one first when the
    /// pipeline says so. Nil when the pipeline has no model (or says skip).
    func churnModel(data: IngestResult?) throws -> ChurnModelFile? {
        let churn = config.churn
        guard let path = churn.modelPath else { return nil }
        if !FileManager.default.fileExists(atPath: path) {
            switch churn.ifMissing {
            case .skip:
                logger.warning("no churn model at \(path); scoring without churn probabilities (churn.if_missing: skip)")
                return nil
            case .stop:
                throw CustomerHealthError.input(file: path,
                    message: "no churn model here yet. Train one with:  customer-health train \(config.file)  (or set churn.if_missing: train to train before the first run)")
            case .train:
                guard let data else {
                    throw CustomerHealthError.input(file: path, message: "no churn model here yet. Train one with:  customer-health train \(config.file)")
                }
                logger.info("no churn model at \(path) yet; training one from the exports (churn.if_missing: train)")
                _ = try train(data: data, exportTable: nil)
            }
        }
        let file: ChurnModelFile
        do {
            file = try ChurnModelFile.load(path: path)
        } catch {
            throw CustomerHealthError.input(file: path, message: error.description.replacingOccurrences(of: "\(path): ", with: "") + ". Nothing was scored with it.")
        }
        guard file.ensemble.featureNames == ChurnFeatures.names else {
            throw CustomerHealthError.input(file: path,
                message: "the model's features (\(file.ensemble.featureNames.joined(separator: ", "))) do not match this customer-health's (\(ChurnFeatures.names.joined(separator: ", "))); train a new model with: customer-health train \(config.file)")
        }
        return file
    }
}

/// Writes a training table as CSV (for the benchmark's peers and for audits).
public enum TableExport {
    public static func write(_ table: TrainingTable, split: [String]?, to path: String) throws {
        var out = "customer_id,as_of," + (split != nil ? "split," : "") + "label," + table.featureNames.joined(separator: ",") + "\n"
        out.reserveCapacity(table.rowCount * 120)
        for i in 0..<table.rowCount {
            out += table.rowIDs[i]
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
        try PipelineRunner.writeAtomically(out, to: path)
    }
}

/// What `backtest` measured: an earlier run's probabilities against what happened since.
public struct BacktestResult: Sendable {
    public var asOf: CalendarDay
    public var customers: Int
    public var churned: Int
    public var unknownCustomers: Int
    public var daysObserved: Int
    public var horizonDays: Int
    public var auc: Double?
    public var prAUC: Double?
    public var logLoss: Double
    public var brier: Double
    public var meanPredicted: Double
    public var observedRate: Double
    public var calibration: [(low: Double, high: Double, count: Int, meanPredicted: Double, observedRate: Double)]
}

extension PipelineRunner {
    /// Compares the churn probabilities of OUTPUT/<date>/scores.jsonl with the
    /// churn that the current exports show in the horizon after that date.
    public func backtest(predictionsFolder: String) throws -> BacktestResult {
        let scoresPath = (predictionsFolder as NSString).appendingPathComponent("scores.jsonl")
        guard let data = FileManager.default.contents(atPath: scoresPath) else {
            throw CustomerHealthError.input(file: scoresPath, message: "cannot be read: --predictions must be an output folder such as output/2026-10-23")
        }
        struct Line: Decodable { var customer_id: String; var as_of: String; var churn_probability: Double? }
        var predictions: [(String, Double)] = []
        var asOf: CalendarDay? = nil
        var lineNumber = 0
        for raw in data.split(separator: 0x0A) {
            lineNumber += 1
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(raw)), let day = CalendarDay(line.as_of) else {
                throw CustomerHealthError.features(file: scoresPath, line: lineNumber, message: "not a scores.jsonl line written by customer-health")
            }
            guard let p = line.churn_probability else {
                throw CustomerHealthError.features(file: scoresPath, line: lineNumber, message: "has no churn_probability: that run had no churn model, so there is nothing to backtest")
            }
            asOf = day
            predictions.append((line.customer_id, p))
        }
        guard let asOf, !predictions.isEmpty else { throw CustomerHealthError.input(file: scoresPath, message: "holds no scores") }
        let ingested = try ingest()
        let builder = TrainingSetBuilder(data: ingested, scoring: config.scoring, churn: config.churn)
        var index: [String: Int] = [:]
        for (i, a) in ingested.accounts.enumerated() { index[a.customerID] = i }
        var probabilities: [Double] = []
        var labels: [UInt8] = []
        var unknown = 0
        for (id, p) in predictions {
            guard let c = index[id] else { unknown += 1; continue }
            let state = builder.churnState(customer: c, on: asOf)
            probabilities.append(p)
            labels.append(state.label ? 1 : 0)
        }
        let latest = ingested.latestActivityDay ?? asOf
        let observed = max(0, min(config.churn.horizonDays, Int(latest.number - asOf.number)))
        if observed < config.churn.horizonDays {
            logger.warning("only \(observed) of the \(config.churn.horizonDays) days after \(asOf) are in the exports yet: churn still to come is counted as no churn")
        }
        let churned = labels.reduce(0) { $0 + Int($1) }
        return BacktestResult(
            asOf: asOf, customers: labels.count, churned: churned, unknownCustomers: unknown, daysObserved: observed,
            horizonDays: config.churn.horizonDays, auc: Metrics.rocAUC(scores: probabilities, labels: labels),
            prAUC: Metrics.averagePrecision(scores: probabilities, labels: labels),
            logLoss: Metrics.logLoss(probabilities: probabilities, labels: labels), brier: Metrics.brier(probabilities: probabilities, labels: labels),
            meanPredicted: probabilities.reduce(0, +) / Double(max(1, probabilities.count)),
            observedRate: Double(churned) / Double(max(1, labels.count)),
            calibration: Metrics.calibrationTable(probabilities: probabilities, labels: labels))
    }
}
