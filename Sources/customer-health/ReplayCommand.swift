import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay history: write one complete output folder per as-of date.",
        discussion: """
            Reads every input once, then writes OUTPUT/<date>/ for each date from --from to \
            --to, stepping by --every. Each folder is byte-identical to what `run --as-of DATE` \
            writes for that date (manifest.json's started_at and timings aside): only data up \
            to a date counts for it. OUTPUT/latest keeps pointing at the newest date present.

            Examples:
              customer-health replay pipelines/nightly.yaml --from 2026-06-01 --to 2026-11-23
              customer-health replay pipelines/nightly.yaml --from 2025-01-31 --to 2026-10-31 --every 1m
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("The first as-of date (yyyy-MM-dd).", valueName: "date"))
    var from: String

    @Option(name: .long, help: ArgumentHelp("The last as-of date (yyyy-MM-dd), included when the steps land on it.", valueName: "date"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("The step between dates: 1d, 7d, 1m (calendar months) ...", valueName: "step"))
    var every: String = "1d"

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let fromDay = try CommandSupport.parseDate(from, option: "--from")
        let toDay = try CommandSupport.parseDate(to, option: "--to")
        guard fromDay <= toDay else { throw ValidationError("--from \(from) is after --to \(to)") }
        guard let step = ReplayStep(every) else { throw ValidationError("--every expects a step such as 1d, 7d or 1m, got \"\(every)\"") }
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config,
            options: RunOptions(outputDirectory: options.output, threads: options.threads, lockWaitSeconds: options.lockWait, keepDataUntilExit: true),
            logger: Logger(label: "customer-health"))
        let summaries = try runner.replay(from: fromDay, to: toDay, every: step)
        for s in summaries {
            Console.out("\(s.asOf)\t\(s.customersScored) customers\t\(s.atRisk) at risk\t\(s.outputPath)/")
        }
        Console.out("customer-health: replayed \(summaries.count) dates")
    }
}
