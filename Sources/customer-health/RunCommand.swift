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

            Sharded (docs/scale-out.md): with --shard K/N and --shard-output DIR the run \
            scores only the customers of shard K of N (by a hash of customer_id) and writes \
            DIR/shard-K-of-N/ instead of publishing; `customer-health merge` then publishes \
            the day from all N results, byte for byte what one run would. --shard auto takes \
            K and N from the array job's environment (Kubernetes Indexed Jobs with \
            CH_SHARD_COUNT, Slurm, AWS Batch, Cloud Run). Give every shard the same --as-of.

            Examples:
              customer-health run pipelines/nightly.yaml
              customer-health run pipelines/nightly.yaml --as-of 2026-10-31 --output /tmp/october
              customer-health run pipelines/nightly.yaml --as-of 2026-10-31 --shard 2/8 --shard-output /shared/shards/2026-10-31
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Score as of this day (yyyy-MM-dd): only data up to and including it counts.", valueName: "date"))
    var asOf: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Score only shard K of N (0-based K), or `auto` to read them from the job's environment; needs --shard-output.",
            valueName: "K/N|auto"))
    var shard: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where a sharded run writes its result (shard-K-of-N/), for `merge --shards`.", valueName: "dir"))
    var shardOutput: String?

    func validate() throws {
        if shard != nil && shardOutput == nil {
            throw ValidationError(
                "--shard needs --shard-output DIR: a shard writes a result for `merge`, not the outputs")
        }
        if shard == nil && shardOutput != nil {
            throw ValidationError("--shard-output is for sharded runs: add --shard K/N (or --shard auto)")
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let logger = Logger(label: "customer-health")
        let config = try PipelineConfig.load(path: options.pipeline)
        let asOfDay = try asOf.map { try CommandSupport.parseDate($0, option: "--as-of") }
        if let shard, let shardOutput {
            let spec = try CommandSupport.shardSpec(shard)
            let runner = PipelineRunner(
                config: config,
                options: RunOptions(asOf: asOfDay, threads: options.threads, keepDataUntilExit: true),
                logger: logger)
            let summary = try runner.runShard(spec, resultsDirectory: shardOutput)
            Console.out(
                """
                customer-health: shard \(summary.shard) scored \(summary.customers) customers as of \(summary.asOf) in \(String(format: "%.2f", summary.seconds)) s
                  rows read: \(summary.rowsRead) of its customers; rejected \(summary.rowsRejected)
                  result:    \(summary.resultPath)/  (publish with: customer-health merge \(options.pipeline) --shards \(shardOutput))
                """)
            return
        }
        var runner = PipelineRunner(
            config: config,
            options: RunOptions(
                asOf: asOfDay, outputDirectory: options.output, threads: options.threads,
                lockWaitSeconds: options.lockWait, keepDataUntilExit: true),
            logger: logger)
        let progress = Console.stderrIsTerminal ? ProgressLine() : nil
        if let progress { runner.progress = { rows, bytes in progress.update(rows: rows, bytes: bytes) } }
        let summary = try runner.run()
        progress?.finish()
        Console.out(
            """
            customer-health: scored \(summary.customersScored) customers as of \(summary.asOf) in \(String(format: "%.2f", summary.seconds)) s
              at risk:   \(summary.atRisk)
              rows read: \(summary.rowsRead) from \(summary.files) files; rejected \(summary.rowsRejected), unknown customer \(summary.rowsUnknownCustomer)
            \(summary.outputLines)
            """)
    }
}
