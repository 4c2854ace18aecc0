import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct PartitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract: "Split the exports into bucket=NNN/ folders, so that each shard reads only its own customers' rows.",
        discussion: """
            For large sharded runs (docs/scale-out.md#partitioned-input). Splits every activity, \
            uptime and savings file into 256 buckets by a hash of customer_id (the hash shards \
            use; shard = bucket mod N, so any shard count reads the same split). Each row is \
            copied as written, with its original line and byte offset, so that rejects stay \
            byte for byte what a plain run writes. Accounts and tickets stay whole.

            Incremental: a file already split (same name, size and modification time) is not \
            split again, so a daily drop is split once. When the accounts or the pipeline's \
            export, event or churn settings change, every split file is read again for the \
            values that span all customers (not split again). Files that cannot be read are \
            left whole: a run reads them and reports them as it would.

            Without --output the buckets go into the pipeline's input folder, and sharded runs \
            of the same pipeline use them; plain runs there still read the exports whole. With \
            --output DIR, DIR becomes a complete input folder (the files not split are linked \
            or copied there): point a pipeline's `input` at it. Run partition before the \
            shards, every time new exports arrive.

            Examples:
              customer-health partition pipelines/nightly.yaml
              customer-health partition pipelines/nightly.yaml --output /shared/partitioned
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(
        name: .long,
        help: ArgumentHelp("How many hash buckets (256: the only count, kept explicit for scripts).", valueName: "n"))
    var buckets: Int = ShardSpec.bucketCount

    func validate() throws {
        if buckets != ShardSpec.bucketCount {
            throw ValidationError(
                "--buckets must be \(ShardSpec.bucketCount): shards map buckets to shards by bucket mod N, and exporters reproduce that hash"
            )
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config, options: RunOptions(threads: options.threads, lockWaitSeconds: options.lockWait),
            logger: Logger(label: "customer-health"))
        let s = try runner.partition(outputDirectory: options.output)
        let rate = s.seconds > 0 ? Double(s.rowsRead) / s.seconds : 0
        var text = """
            customer-health: partitioned \(s.directory) in \(String(format: "%.2f", s.seconds)) s
              split:     \(s.filesSplit) files, \(s.rowsSplit) rows
              kept:      \(s.filesKept) files already split
              summaries: \(s.filesResummarised) files read again (accounts or settings changed)
              read:      \(s.rowsRead) rows, \(String(format: "%.0f", rate)) rows/s
            """
        if !s.filesLeftWhole.isEmpty {
            text += "\n  left whole: \(s.filesLeftWhole.count) files (runs read them whole):"
            for (_, reason) in s.filesLeftWhole { text += "\n    \(reason)" }
        }
        Console.out(text)
    }
}
