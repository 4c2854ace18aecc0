import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Publish a sharded run: merge the results of `run --shard K/N` into OUTPUT/<as-of>/.",
        discussion: """
            Checks that the results of all N shards are in the folder, complete (each file \
            matches its _SUCCESS listing) and agree (same pipeline file, customer-health \
            version, as-of day, history, input files and checksums, churn model), then \
            scores the union of their customers and publishes OUTPUT/<as-of>/ through the \
            same lock and atomic publisher as `run`: the same bytes one run would publish \
            (docs/scale-out.md). It waits for nothing: a missing or disagreeing shard is an \
            error naming it (exit 3), and nothing is published. Too many rejected rows over \
            all shards together stop it as they stop `run` (exit 4).

            Examples:
              customer-health merge pipelines/nightly.yaml --shards /shared/shards/2026-10-31
              customer-health merge pipelines/nightly.yaml --shards /shared/shards/2026-10-31 --output /shared/output
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("The folder the shards wrote to (their --shard-output).", valueName: "dir"))
    var shards: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How many shards to expect (default: the count in the folder's shard-K-of-N names).", valueName: "N"))
    var shardCount: Int?

    @Option(
        name: .long, help: ArgumentHelp("Refuse shard results of any other as-of day (yyyy-MM-dd).", valueName: "date"))
    var asOf: String?

    func validate() throws {
        if let shardCount, !(1...ShardSpec.bucketCount).contains(shardCount) {
            throw ValidationError("--shard-count must be within 1-\(ShardSpec.bucketCount)")
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let asOfDay = try asOf.map { try CommandSupport.parseDate($0, option: "--as-of") }
        let runner = PipelineRunner(
            config: config,
            options: RunOptions(
                asOf: asOfDay, outputDirectory: options.output, threads: options.threads,
                lockWaitSeconds: options.lockWait),
            logger: Logger(label: "customer-health"))
        let summary = try runner.merge(shardsDirectory: shards, shardCount: shardCount)
        Console.out(
            """
            customer-health: merged \(summary.customersScored) customers as of \(summary.asOf) in \(String(format: "%.2f", summary.seconds)) s
              at risk:   \(summary.atRisk)
              rows read: \(summary.rowsRead) from \(summary.files) files; rejected \(summary.rowsRejected), unknown customer \(summary.rowsUnknownCustomer)
            \(summary.outputLines)
            """)
    }
}
