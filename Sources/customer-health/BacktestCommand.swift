import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct BacktestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Check an earlier run's churn probabilities against what happened since.",
        discussion: """
            Reads OUTPUT/<date>/scores.jsonl, reads the current exports, and compares each \
            customer's churn_probability with whether it churned within the pipeline's horizon \
            after that date (AUC, log loss, Brier, and a calibration table), so a team can see \
            whether last month's scores held. When fewer days than the horizon have passed, it \
            says so: churn still to come counts as none yet.

            Example:
              customer-health backtest pipelines/nightly.yaml --predictions output/2026-10-23
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("An output folder of an earlier run, e.g. output/2026-10-23.", valueName: "dir"))
    var predictions: String

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(config: config, options: RunOptions(threads: options.threads), logger: Logger(label: "customer-health"))
        let r = try runner.backtest(predictionsFolder: predictions)
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        var lines = [
            "backtest of \(r.asOf): \(r.customers) customers, \(r.churned) churned within \(r.horizonDays) days (\(r.daysObserved) days observed)\(r.unknownCustomers > 0 ? ", \(r.unknownCustomers) no longer in accounts" : "")",
            "roc_auc \(f(r.auc))  pr_auc \(f(r.prAUC))  log_loss \(f(r.logLoss))  brier \(f(r.brier))",
            "mean predicted \(f(r.meanPredicted)), observed churn rate \(f(r.observedRate))",
            "predicted       customers  mean_predicted  observed",
        ]
        for b in r.calibration where b.count > 0 {
            lines.append(String(format: "%.1f-%.1f   %10d  %14.4f  %8.4f", b.low, b.high, b.count, b.meanPredicted, b.observedRate))
        }
        Console.out(lines.joined(separator: "\n"))
    }
}
