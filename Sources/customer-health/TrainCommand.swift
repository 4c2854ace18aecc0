import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the churn ensemble on the exports' own history, or on any labelled table.",
        discussion: """
            With a pipeline: builds a training set from the exports (every customer active on each \
            observation date, its features as of that date, and whether it churned within the \
            horizon after it), holds the latest dates out for validation, trains gradient-boosted \
            trees, a random forest and a logistic regression, fits their weights and calibration \
            on the held-out dates, and writes the model named in `churn.model` with a report \
            beside it (<model>.report.json) and the same report as a page that opens offline \
            (<model>.report.html: ROC, precision-recall and calibration plots, the members' \
            AUCs, feature importance, the observation dates).

            --as-of DATE trains on the data up to DATE only, as a run on that day would have; \
            runs for earlier days never use a model that saw data after them (they train \
            point-in-time models instead, see `churn.retrain_every` in docs/pipeline.md).

            With --table: the same ensemble on any CSV with a 0/1 (true/false, yes/no) label column; \
            numeric columns stay numbers, text columns are one-hot encoded; the validation rows are \
            a seeded stratified split, or --validation FILE.

            At scale (docs/model.md, "Training at scale"): with --shard K/N and --parts-output DIR, \
            a shard builds only its customers' rows of the training table (by the hash of \
            customer_id that sharded runs use) and writes DIR/train-part-K-of-N/; it never fits a \
            model. --shard auto reads K and N from the array job's environment, as `run --shard` \
            does. Then --from-parts DIR checks that all N parts are there, complete and agree, \
            joins them and fits the model: the same file, byte for byte, that one machine's \
            `train` writes. Give every shard the same --as-of (or none).

            Examples:
              customer-health train pipelines/nightly.yaml
              customer-health train pipelines/nightly.yaml --export-table /tmp/training.csv
              customer-health train pipelines/nightly.yaml --as-of 2026-10-01
              customer-health train --table churn.csv.gz --label churned --id customer --model model.json
              customer-health train pipelines/nightly.yaml --shard 2/8 --parts-output /shared/training
              customer-health train pipelines/nightly.yaml --from-parts /shared/training
            """
    )

    @Argument(help: "The pipeline file (omit with --table).")
    var pipeline: String?

    @Option(name: .long, help: ArgumentHelp("Train on the data up to this date (yyyy-MM-dd) only.", valueName: "date"))
    var asOf: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Also write the training table (with a split column) as CSV.", valueName: "file"))
    var exportTable: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Train on this labelled CSV (.csv or .csv.gz) instead of a pipeline.", valueName: "file"))
    var table: String?

    @Option(name: .long, help: "The label column of --table.")
    var label: String?

    @Option(name: .long, help: "An id column of --table (not used as a feature).")
    var id: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Validation rows for --table (default: a seeded stratified 20% split).", valueName: "file"))
    var validation: String?

    @Option(name: .long, help: ArgumentHelp("Where to write the model with --table.", valueName: "file"))
    var model: String?

    @Option(name: .long, help: "Seed for --table training (pipelines use churn.seed).")
    var seed: UInt64 = 42

    @Option(name: .long, help: "Worker threads (default: all cores). The model file never depends on it.")
    var threads: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Build only shard K of N's part of the training table (0-based K), or `auto` to read them from the job's environment; needs --parts-output.",
            valueName: "K/N|auto"))
    var shard: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where train --shard writes its part (train-part-K-of-N/), for --from-parts.", valueName: "dir"))
    var partsOutput: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Fit the model on the parts of the training table in this folder (written by train --shard).",
            valueName: "dir"))
    var fromParts: String?

    @Flag(name: .long, help: "Log warnings and errors only.")
    var quiet = false

    func validate() throws {
        if table == nil && pipeline == nil {
            throw ValidationError("give a pipeline file, or --table FILE --label COLUMN --model OUT.json")
        }
        if table != nil && pipeline != nil { throw ValidationError("give either a pipeline file or --table, not both") }
        if table != nil && asOf != nil {
            throw ValidationError("--as-of applies to pipeline training; a table has no dates")
        }
        if table != nil && (label == nil || model == nil) {
            throw ValidationError("--table needs --label COLUMN and --model OUT.json")
        }
        if table != nil && (shard != nil || fromParts != nil) {
            throw ValidationError("--shard and --from-parts apply to pipeline training, not to --table")
        }
        if shard != nil && partsOutput == nil {
            throw ValidationError(
                "--shard needs --parts-output DIR: a shard writes its part of the training table, for train --from-parts"
            )
        }
        if shard == nil && partsOutput != nil {
            throw ValidationError("--parts-output is for train --shard K/N (or --shard auto)")
        }
        if shard != nil && fromParts != nil {
            throw ValidationError("give either --shard (build one part) or --from-parts (fit on all of them), not both")
        }
        if shard != nil && exportTable != nil {
            throw ValidationError("--export-table writes the whole table: give it to --from-parts, not to a shard")
        }
        if fromParts != nil && asOf != nil {
            throw ValidationError(
                "--as-of applies to the parts: give the same --as-of to every train --shard; --from-parts uses what they cover"
            )
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: quiet)
        if let table, let label, let model {
            let outcome = try TableTraining.train(
                tablePath: table, label: label, id: id, validationPath: validation, modelPath: model, seed: seed)
            Console.out(TrainCommand.describe(outcome.report, modelPath: model, modelBytes: outcome.modelBytes))
            return
        }
        let config = try PipelineConfig.load(path: pipeline!)
        let runner = PipelineRunner(
            config: config, options: RunOptions(threads: threads), logger: Logger(label: "customer-health"))
        let through = try asOf.map { try CommandSupport.parseDate($0, option: "--as-of") }
        if let shard, let partsOutput {
            let spec = try CommandSupport.shardSpec(shard)
            let s = try runner.writeTrainingPart(spec, partsDirectory: partsOutput, through: through)
            Console.out(
                """
                customer-health: training part \(s.shard): \(s.rows) rows of \(s.customers) customers (\(s.positives) churned) over \(s.observationDates.count) observation dates in \(String(format: "%.2f", s.seconds)) s
                  columns: \(ChurnFeatures.names.count) inputs and \(s.candidates) candidate inputs from the product's events
                  part:    \(s.path)/  (fit with: customer-health train \(pipeline!) --from-parts \(partsOutput))
                """)
            return
        }
        let outcome =
            try fromParts.map { try runner.trainFromParts(directory: $0, exportTable: exportTable) }
            ?? runner.train(exportTable: exportTable, through: through)
        var text = TrainCommand.describe(outcome.report, modelPath: outcome.modelPath, modelBytes: outcome.modelBytes)
        text += "\n" + TrainCommand.describe(healthScore: outcome.healthScore)
        text +=
            "\n  observation dates: \(outcome.observationDates.first!) ... \(outcome.observationDates.last!) (\(outcome.observationDates.count)), validation: \(outcome.validationDates.map(\.description).joined(separator: ", "))"
        text += "\n  report: \(outcome.reportPath)"
        text += "\n  report: \(outcome.reportHTMLPath)"
        if let exportTable { text += "\n  table: \(exportTable)" }
        Console.out(text)
    }

    static func describe(_ r: TrainingReport, modelPath: String, modelBytes: Int) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        var lines = [
            "customer-health: trained the churn ensemble in \(String(format: "%.1f", r.seconds)) s",
            "  rows: \(r.trainRows) training (\(r.trainPositives) churned), \(r.validationRows) validation (\(r.validationPositives) churned)",
            "  validation   ROC AUC  PR AUC   log loss  Brier",
            "  ensemble     \(f(r.ensembleAUC))   \(f(r.ensemblePRAUC))   \(f(r.logLoss))    \(f(r.brier))",
        ]
        for m in ChurnEnsemble.Member.allCases {
            lines.append("  \(m.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)) AUC \(f(r.memberAUC[m]))")
        }
        lines.append("  combination: \(r.combination.reason)")
        lines.append(
            "  top features: "
                + r.featureImportance.prefix(5).map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(
                    separator: ", "))
        lines.append("  model: \(modelPath) (\(modelBytes / 1024) KiB, \(r.boostingRounds) boosting rounds)")
        return lines.joined(separator: "\n")
    }

    /// The health score's lines: its validation AUC, its components', and the suggestion.
    static func describe(healthScore: JSONValue) -> String {
        func number(_ v: JSONValue?) -> String {
            if case .double(let d) = v { return String(format: "%.4f", d) }
            if case .int(let i) = v { return String(i) }
            return "n/a"
        }
        guard case .object(let members) = healthScore else { return "" }
        let m = Dictionary(members, uniquingKeysWith: { a, _ in a })
        var components: [String] = []
        if case .object(let c)? = m["components_roc_auc"] { components = c.map { "\($0.0) \(number($0.1))" } }
        var text =
            "  health score ROC AUC \(number(m["roc_auc"])) on the validation dates (\(components.joined(separator: ", ")))"
        if case .object(let s)? = m["suggested_weights"] {
            let sm = Dictionary(s, uniquingKeysWith: { a, _ in a })
            text +=
                "\n  suggested part weights (fitted on the training dates, not applied): validation ROC AUC \(number(sm["validation_roc_auc"])); see the report's health_score"
        }
        return text
    }
}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a labelled table with a model trained by `train --table`; print AUC, log loss, Brier.",
        discussion: """
            Example:
              customer-health evaluate --table holdout.csv.gz --model model.json
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The labelled CSV (.csv or .csv.gz), with the columns the model was trained on.", valueName: "file"))
    var table: String

    @Option(name: .long, help: ArgumentHelp("A model written by `train --table`.", valueName: "file"))
    var model: String

    @Option(name: .long, help: "Worker threads for scoring (default: all cores).")
    var threads: Int?

    func run() throws {
        let e = try TableTraining.evaluate(
            tablePath: table, modelPath: model, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        Console.out(
            """
            rows \(e.rows) (\(e.positives) positive)
            roc_auc \(f(e.auc))
            pr_auc \(f(e.prAUC))
            log_loss \(f(e.logLoss))
            brier \(f(e.brier))
            scoring \(String(format: "%.0f", e.rowsPerSecond)) rows/s
            """)
    }
}
