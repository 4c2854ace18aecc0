import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow the input folder and stream what changed as newline-delimited JSON.",
        discussion: """
            Starts from its checkpoint (STATE/checkpoint.json), or, the first time, from the \
            exports as they are: that first look is the baseline and sends nothing. Then it \
            looks at the input folder every --poll seconds. A new file is read once it has not \
            been modified for --settle seconds (a file renamed into place is ready at once); a \
            name ending in .tmp or .part is never read; a plain .csv or .jsonl file that grows \
            is read on from where it was left, whole lines only. Customers touched by new rows \
            are scored again, and every customer when the as-of day moves on.

            Each customer whose health score moved by at least --min-score-delta, or whose \
            status, churn risk or intervention priority changed, gets one \
            customer_health_update line; changed KPIs a kpi_update line; a quiet stream a \
            heartbeat line every --heartbeat seconds. Lines carry a sequence number. After \
            each batch the checkpoint is saved; a restart after a crash may send the last \
            batch again with the same sequence numbers (at-least-once: drop repeated seq). \
            Message types: docs/stream.md.

            Examples:
              customer-health watch pipelines/nightly.yaml | websocat -s 8080
              customer-health watch pipelines/nightly.yaml --emit /var/lib/health/stream.ndjson
              customer-health watch pipelines/nightly.yaml --once     # one look, e.g. from cron
            """
    )

    @Argument(help: "The pipeline file (YAML), e.g. pipelines/nightly.yaml.")
    var pipeline: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Folder for the checkpoint and rejects (default: the pipeline's watch.state, or OUTPUT/.watch).",
            valueName: "dir"))
    var state: String?

    @Option(name: .long, help: ArgumentHelp("Append lines to this file, or - for standard output.", valueName: "file"))
    var emit = "-"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds between looks at the input folder (default: watch.poll_seconds, 1).", valueName: "seconds"))
    var poll: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds of quiet before a heartbeat line (default: watch.heartbeat_seconds, 30).", valueName: "seconds"))
    var heartbeat: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds a new file must stay unmodified before it is read (default: watch.settle_seconds, 5).",
            valueName: "seconds"))
    var settle: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Smallest health-score move that is sent on its own (default: watch.min_score_delta, 1).",
            valueName: "points"))
    var minScoreDelta: Double?

    @Flag(name: .long, help: "Look once, send what changed, save the checkpoint and exit.")
    var once = false

    @Flag(name: .long, help: "Log warnings and errors only.")
    var quiet = false

    func validate() throws {
        if (poll ?? 1) <= 0 || (heartbeat ?? 1) <= 0 || (settle ?? 0) < 0 || (minScoreDelta ?? 0) < 0 {
            throw ValidationError("--poll and --heartbeat must be above 0; --settle and --min-score-delta at least 0")
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: quiet)
        let config = try PipelineConfig.load(path: pipeline)
        var settings = config.watch
        if let minScoreDelta { settings.minScoreDelta = minScoreDelta }
        if let settle { settings.settleSeconds = settle }
        var options = WatchOptions(pipeline: config, state: state)
        options.emitPath = emit
        if let poll { options.pollSeconds = poll }
        if let heartbeat { options.heartbeatSeconds = heartbeat }
        options.once = once
        WatchStop.install()
        let loop = try PipelineRunner(config: config, options: RunOptions(), logger: Logger(label: "customer-health"))
            .watchLoop(settings: settings, options: options)
        try loop.run()
    }
}
