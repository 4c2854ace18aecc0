import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct RescoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rescore",
        abstract: "Recompute scores from a run's features.jsonl with the pipeline's current weights.",
        discussion: """
            Reads no exports: the feature vectors of features.jsonl are enough to recompute \
            scores.jsonl, the at-risk list and the KPIs after changing `scoring:` in the \
            pipeline file. The result replaces OUTPUT/<as-of>/ atomically.

            Example:
              customer-health rescore pipelines/nightly.yaml --features output/latest/features.jsonl
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("A features.jsonl written by `run`.", valueName: "file"))
    var features: String

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config,
            options: RunOptions(
                outputDirectory: options.output, threads: options.threads, lockWaitSeconds: options.lockWait),
            logger: Logger(label: "customer-health"))
        let summary = try runner.rescore(featuresPath: features)
        Console.out(
            """
            customer-health: rescored \(summary.customersScored) customers as of \(summary.asOf)
              at risk:   \(summary.atRisk)
            \(summary.outputLines)
            """)
    }
}
