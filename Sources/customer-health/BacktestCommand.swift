import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct BacktestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Check an earlier run's health scores and churn probabilities against what happened since.",
        discussion: """
            Reads OUTPUT/<date>/scores.jsonl, reads the current exports, and compares each \
            customer's health score and churn_probability with whether it churned within the \
            pipeline's horizon after that date, by the pipeline's churn definition \
            (churn_definition): the ROC AUC of the health score (lower health, more churn), and \
            with a churn model its AUC, log loss, Brier score and a calibration table. Only \
            customers active on that date by the churn definition count. When fewer days than \
            the horizon have passed, it says so: churn still to come counts as none yet.

            --labels FILE writes one CSV row per customer counted (customer_id, health_score, \
            churn_probability, churned), for audits and for tools of your own.

            --html FILE writes the results as a page that opens offline: the figures, the ROC, \
            precision-recall and calibration plots with their tables, and the health score's \
            AUCs (docs/model.md, "Model and backtest pages").

            Example:
              customer-health backtest pipelines/nightly.yaml --predictions output/2026-10-23
              customer-health backtest pipelines/nightly.yaml --predictions output/2026-10-23 --html backtest-2026-10-23.html
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(
        name: .long, help: ArgumentHelp("An output folder of an earlier run, e.g. output/2026-10-23.", valueName: "dir")
    )
    var predictions: String

    @Option(
        name: .long,
        help: ArgumentHelp("Write each customer's prediction and outcome to this CSV file.", valueName: "file"))
    var labels: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write the results as an HTML page (charts and tables, no network needed).", valueName: "file"))
    var html: String?

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config, options: RunOptions(threads: options.threads), logger: Logger(label: "customer-health"))
        let r = try runner.backtest(predictionsFolder: predictions)
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        var notes: [String] = []
        if r.unknownCustomers > 0 { notes.append("\(r.unknownCustomers) no longer in accounts") }
        if r.notActive > 0 { notes.append("\(r.notActive) not active then by the churn definition, left out") }
        var lines = [
            "backtest of \(r.asOf): \(r.customers) customers, \(r.churned) churned within \(r.horizonDays) days (\(r.daysObserved) days observed)\(notes.isEmpty ? "" : ", " + notes.joined(separator: ", "))",
            "health_score roc_auc \(f(r.healthAUC)), observed churn rate \(f(r.observedRate))",
            "  components: " + r.componentAUC.map { "\($0.0) \(f($0.1))" }.joined(separator: ", "),
        ]
        if !r.partAUC.isEmpty {
            lines.append(
                "  parts: " + r.partAUC.filter { $0.1 != nil }.map { "\($0.0) \(f($0.1))" }.joined(separator: ", "))
        }
        if let m = r.model {
            lines += [
                "roc_auc \(f(m.auc))  pr_auc \(f(m.prAUC))  log_loss \(f(m.logLoss))  brier \(f(m.brier))",
                "mean predicted \(f(m.meanPredicted)), observed churn rate \(f(r.observedRate))",
                "predicted       customers  mean_predicted  observed",
            ]
            for b in m.calibration where b.count > 0 {
                lines.append(
                    String(
                        format: "%.1f-%.1f   %10d  %14.4f  %8.4f", b.low, b.high, b.count, b.meanPredicted,
                        b.observedRate))
            }
        } else {
            lines.append("no churn_probability in these scores: that run had no churn model")
        }
        if let labels {
            try r.writeLabels(to: labels)
            lines.append("labels written to \(labels)")
        }
        if let html {
            try r.writeHTML(to: html, predictions: predictions)
            lines.append("page written to \(html)")
        }
        Console.out(lines.joined(separator: "\n"))
    }
}
