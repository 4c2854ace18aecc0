import Foundation

/// `train --table` and `evaluate --table`: the ensemble on any labelled CSV.
public enum TableTraining {
    public struct Outcome: Sendable {
        public var report: TrainingReport
        public var modelBytes: Int
        public var featureNames: [String]
    }

    public static func train(tablePath: String, label: String, id: String?, validationPath: String?, modelPath: String,
                             seed: UInt64, validationShare: Double = 0.2) throws -> Outcome {
        let (header, rows) = try LabelledTableReader.readCSV(path: tablePath)
        let schema = try LabelledTableReader.schema(header: header, rows: rows, label: label, id: id)
        let name = (tablePath as NSString).lastPathComponent
        let full = try LabelledTableReader.table(header: header, rows: rows, schema: schema, file: name)
        let train: TrainingTable
        let validation: TrainingTable
        if let validationPath {
            let (vh, vr) = try LabelledTableReader.readCSV(path: validationPath)
            train = full
            validation = try LabelledTableReader.table(header: vh, rows: vr, schema: schema, file: (validationPath as NSString).lastPathComponent)
        } else {
            let split = LabelledTableReader.stratifiedSplit(full, validationShare: validationShare, seed: seed)
            train = full.subset(split.train)
            validation = full.subset(split.validation)
        }
        guard train.positives > 0, train.positives < train.rowCount, validation.positives > 0, validation.positives < validation.rowCount else {
            throw CustomerHealthError.input(file: name, message: "both the training and the validation rows need examples of both labels (training: \(train.positives) of \(train.rowCount) positive; validation: \(validation.positives) of \(validation.rowCount))")
        }
        var parameters = ChurnTrainingParameters()
        parameters.seed = seed
        let (ensemble, report) = ChurnTrainer.train(train: train, validation: validation, parameters: parameters)
        let metadata: JSONValue = .object([
            ("trained_on", .string(name)),
            ("table_schema", schema.json()),
            ("seed", .int(Int(seed))),
            ("report", report.json()),
        ])
        let text = ChurnModelFile(ensemble: ensemble, metadata: metadata).serialized()
        try PipelineRunner.writeAtomically(text, to: modelPath)
        return Outcome(report: report, modelBytes: text.utf8.count, featureNames: schema.featureNames)
    }

    public struct Evaluation: Sendable {
        public var rows: Int
        public var positives: Int
        public var auc: Double?
        public var prAUC: Double?
        public var logLoss: Double
        public var brier: Double
        public var seconds: Double
        public var rowsPerSecond: Double
    }

    public static func evaluate(tablePath: String, modelPath: String, threads: Int) throws -> Evaluation {
        let file: ChurnModelFile
        do { file = try ChurnModelFile.load(path: modelPath) } catch { throw CustomerHealthError.input(file: modelPath, message: error.description) }
        guard let raw = try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: modelPath) ?? Data()) as? [String: Any],
            let meta = raw["metadata"] as? [String: Any], let schema = LabelledTableSchema.from(meta["table_schema"])
        else {
            throw CustomerHealthError.input(file: modelPath, message: "was not trained with --table, so it does not say how to read a table; use `backtest` for pipeline models")
        }
        guard schema.featureNames == file.ensemble.featureNames else {
            throw CustomerHealthError.input(file: modelPath, message: "its table schema and its features disagree: the model is corrupt")
        }
        let (header, rows) = try LabelledTableReader.readCSV(path: tablePath)
        let table = try LabelledTableReader.table(header: header, rows: rows, schema: schema, file: (tablePath as NSString).lastPathComponent)
        var matrix = [Double](repeating: 0, count: table.rowCount * table.featureCount)
        for j in 0..<table.featureCount { for i in 0..<table.rowCount { matrix[i * table.featureCount + j] = table.columns[j][i] } }
        let clock = ContinuousClock.now
        let p = file.ensemble.probabilities(rows: matrix, featureCount: table.featureCount, threads: threads)
        let d = ContinuousClock.now - clock
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return Evaluation(rows: table.rowCount, positives: table.positives,
            auc: Metrics.rocAUC(scores: p, labels: table.labels), prAUC: Metrics.averagePrecision(scores: p, labels: table.labels),
            logLoss: Metrics.logLoss(probabilities: p, labels: table.labels), brier: Metrics.brier(probabilities: p, labels: table.labels),
            seconds: seconds, rowsPerSecond: Double(table.rowCount) / max(seconds, 1e-9))
    }
}
