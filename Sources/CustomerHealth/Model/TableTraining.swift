import Foundation

/// `train --table` and `evaluate --table`: the ensemble on any labelled CSV.
public enum TableTraining {
    public struct Outcome: Sendable {
        public var report: TrainingReport
        public var modelBytes: Int
        public var featureNames: [String]
    }

    /// Trains on a CSV table. The table is read straight into columns (no
    /// copy of its text, no second copy for the split) and its values are
    /// freed as soon as the trees no longer need them (docs/model.md, "Training at scale").
    public static func train(
        tablePath: String, label: String, id: String?, validationPath: String?, modelPath: String,
        seed: UInt64, validationShare: Double = 0.2
    ) throws -> Outcome {
        let name = (tablePath as NSString).lastPathComponent
        let loaded = try LabelledTableLoader.load(
            path: tablePath, label: label, id: id, schema: nil,
            validationShare: validationPath == nil ? validationShare : nil, seed: seed)
        let schema = loaded.schema
        let train: TrainingTable
        let validation: TrainingTable
        if let validationPath {
            train = loaded.table
            validation = try LabelledTableLoader.load(
                path: validationPath, label: label, id: id, schema: schema, validationShare: nil,
                seed: seed
            ).table
        } else {
            let start = loaded.validationStart ?? loaded.table.rowCount
            train = loaded.table.slice(0..<start)
            validation = loaded.table.slice(start..<loaded.table.rowCount)
        }
        guard train.positives > 0, train.positives < train.rowCount, validation.positives > 0,
            validation.positives < validation.rowCount
        else {
            throw CustomerHealthError.input(
                file: name,
                message:
                    "both the training and the validation rows need examples of both labels (training: \(train.positives) of \(train.rowCount) positive; validation: \(validation.positives) of \(validation.rowCount))"
            )
        }
        var parameters = ChurnTrainingParameters()
        parameters.seed = seed
        let (ensemble, report) = ChurnTrainer.train(
            train: train, validation: validation, parameters: parameters, releasingValues: true)
        let metadata: JSONValue = .object([
            ("trained_on", .string(name)),
            ("table_schema", schema.json()),
            ("seed", .int(Int(seed))),
            ("report", report.json()),
        ])
        let text = ChurnModelFile(ensemble: ensemble, metadata: metadata).serialized()
        try AtomicFile.write(Data(text.utf8), to: modelPath)
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
        do { file = try ChurnModelFile.load(path: modelPath) } catch {
            throw CustomerHealthError.input(file: modelPath, message: error.description)
        }
        guard
            let raw = try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: modelPath) ?? Data())
                as? [String: Any],
            let meta = raw["metadata"] as? [String: Any], let schema = LabelledTableSchema.from(meta["table_schema"])
        else {
            throw CustomerHealthError.input(
                file: modelPath,
                message:
                    "was not trained with --table, so it does not say how to read a table; use `backtest` for pipeline models"
            )
        }
        guard schema.featureNames == file.ensemble.featureNames else {
            throw CustomerHealthError.input(
                file: modelPath, message: "its table schema and its features disagree: the model is corrupt")
        }
        let name = (tablePath as NSString).lastPathComponent
        let header = try LabelledTableReader.header(path: tablePath)
        let scorer = try StreamingTableScorer(
            header: header, schema: schema, model: CompiledEnsemble(file.ensemble), threads: threads, file: name)
        var settings = ExportSettings(kind: .savings)
        settings.globs = []
        let reader = try InputFileReader(
            path: tablePath, settings: settings, handler: scorer, maxRowBytes: 1 << 20, includeRaw: true,
            mode: .anyColumns)
        let report = try reader.read()
        if let error = scorer.error { throw error }
        if let bad = report.rejects.first {
            throw CustomerHealthError.input(file: name, message: "line \(bad.line): \(bad.reason)")
        }
        let p = scorer.probabilities
        let labels = scorer.labels
        return Evaluation(
            rows: labels.count, positives: labels.reduce(0) { $0 + Int($1) },
            auc: Metrics.rocAUC(scores: p, labels: labels), prAUC: Metrics.averagePrecision(scores: p, labels: labels),
            logLoss: Metrics.logLoss(probabilities: p, labels: labels),
            brier: Metrics.brier(probabilities: p, labels: labels),
            seconds: scorer.scoringSeconds, rowsPerSecond: Double(labels.count) / max(scorer.scoringSeconds, 1e-9))
    }
}

/// Scores a labelled table as it is read: rows go through a fixed block of
/// 65,536 feature rows that is scored and reused, and only each row's label
/// and probability are kept (9 bytes a row), so memory does not hold the table.
final class StreamingTableScorer: RowHandler {
    private let labelIndex: Int
    private let labelName: String
    private let numericIndex: [Int]
    private let categoricalIndex: [Int]
    private let categories: [[[UInt8]]]
    private let model: CompiledEnsemble
    private let threads: Int
    private let file: String
    private let featureCount: Int
    private let blockRows = 1 << 16
    private var block: [Double]
    private var filled = 0
    private(set) var labels: [UInt8] = []
    private(set) var probabilities: [Double] = []
    /// The first unreadable label; reported after the file is read.
    private(set) var error: CustomerHealthError?
    /// Time spent scoring blocks (not reading).
    private(set) var scoringSeconds = 0.0

    init(header: [String], schema: LabelledTableSchema, model: CompiledEnsemble, threads: Int, file: String) throws {
        let index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        guard let label = index[schema.label] else {
            throw CustomerHealthError.input(file: file, message: "has no label column \"\(schema.label)\"")
        }
        for name in schema.numeric + schema.categorical.map(\.0) where index[name] == nil {
            throw CustomerHealthError.input(
                file: file, message: "has no column \"\(name)\", which the model was trained with")
        }
        labelIndex = label
        labelName = schema.label
        numericIndex = schema.numeric.map { index[$0]! }
        categoricalIndex = schema.categorical.map { index[$0.0]! }
        categories = schema.categorical.map { $0.1.map { Array($0.utf8) } }
        featureCount = schema.featureNames.count
        self.model = model
        self.threads = max(1, threads)
        self.file = file
        block = [Double](repeating: 0, count: blockRows * max(1, featureCount))
    }

    func handle(_ row: RowView, line: Int) -> RowRejection? {
        guard error == nil else { return nil }
        let labelText = row.field(labelIndex)
        guard let y = LabelledTableReader.parseLabel(bytes: labelText) else {
            error = CustomerHealthError.input(
                file: file,
                message:
                    "line \(line), column \(labelName): \"\(String(decoding: labelText, as: UTF8.self))\" is not a label (0/1, true/false, yes/no)"
            )
            return nil
        }
        labels.append(y)
        var f = filled * featureCount
        for j in numericIndex {
            block[f] = LabelledTableReader.number(bytes: row.field(j)) ?? .nan
            f += 1
        }
        for (c, j) in categoricalIndex.enumerated() {
            let v = LabelledTableReader.trimmed(bytes: row.field(j))
            for category in categories[c] {
                block[f] = v.isEmpty ? .nan : (v.elementsEqual(category) ? 1 : 0)
                f += 1
            }
        }
        filled += 1
        if filled == blockRows { flush() }
        return nil
    }

    func finish() { flush() }

    private func flush() {
        guard filled > 0 else { return }
        let n = filled
        let start = probabilities.count
        probabilities.append(contentsOf: repeatElement(0, count: n))
        let clock = ContinuousClock.now
        let width = featureCount
        let compiled = model
        block.withUnsafeBufferPointer { x in
            probabilities.withUnsafeMutableBufferPointer { out in
                let box = UnsafeSendable((x, out))
                ParallelMap.forEachChunk(count: n, threads: threads, minimum: 1024) { range in
                    let (x, out) = box.value
                    let lo = range.lowerBound
                    let hi = range.upperBound
                    compiled.probabilities(
                        x.baseAddress! + lo * width, featureCount: width, count: hi - lo,
                        into: out.baseAddress! + start + lo)
                }
            }
        }
        scoringSeconds += Elapsed.seconds(since: clock)
        filled = 0
    }
}
