import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline: read the exports, score every customer, publish the outputs.",
        discussion: """
            Writes OUTPUT/<as-of>/ with scores.jsonl, at-risk.json, at-risk.csv, kpis.json, \
            features.jsonl, rejects.jsonl, manifest.json and metrics.prom, then points \
            OUTPUT/latest at the newest complete run. The folder appears all at once: a run \
            that fails or is killed leaves the previous outputs as they were.

            The as-of date defaults to the newest day in the activity export, so running the \
            same exports again gives the same outputs, byte for byte, on any day and with any \
            --threads.

            Examples:
              customer-health run pipelines/nightly.yaml
              customer-health run pipelines/nightly.yaml --as-of 2026-10-31 --output /tmp/october
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("Score as of this day (yyyy-MM-dd): only data up to and including it counts.", valueName: "date"))
    var asOf: String?

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let logger = Logger(label: "customer-health")
        let config = try PipelineConfig.load(path: options.pipeline)
        let asOfDay = try asOf.map { try CommandSupport.parseDate($0, option: "--as-of") }
        var runner = PipelineRunner(
            config: config,
            options: RunOptions(asOf: asOfDay, outputDirectory: options.output, threads: options.threads, lockWaitSeconds: options.lockWait, keepDataUntilExit: true),
            logger: logger)
        let progress = Console.stderrIsTerminal ? ProgressLine() : nil
        if let progress { runner.progress = { rows, bytes in progress.update(rows: rows, bytes: bytes) } }
        let summary = try runner.run()
        progress?.finish()
        Console.out("""
            customer-health: scored \(summary.customersScored) customers as of \(summary.asOf) in \(String(format: "%.2f", summary.seconds)) s
              at risk:   \(summary.atRisk)
              rows read: \(summary.rowsRead) from \(summary.files) files; rejected \(summary.rowsRejected), unknown customer \(summary.rowsUnknownCustomer)
              outputs:   \(summary.outputPath)/
            """)
    }
}
