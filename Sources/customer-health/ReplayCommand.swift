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

            A year of daily folders is large: --outputs writes only the data files named \
            (scores, features, at-risk, kpis, rejects; manifest.json and metrics.prom always), \
            and --gzip compresses them (scores.jsonl.gz ...; gzip level 1, one member per chunk \
            of lines). Such folders are marked partial, the manifest says what they hold, and \
            they never become OUTPUT/latest (serve reads complete, plain folders). Each date's line ends with the seconds of its stages \
            (features, scoring, render); the last line gives their mean.

            Examples:
              customer-health replay pipelines/nightly.yaml --from 2026-06-01 --to 2026-11-23
              customer-health replay pipelines/nightly.yaml --from 2025-01-31 --to 2026-10-31 --every 1m
              customer-health replay pipelines/nightly.yaml --from 2025-12-01 --to 2026-11-30 --outputs scores,kpis --gzip
            """
    )

    @OptionGroup var options: PipelineOptions

    @Option(name: .long, help: ArgumentHelp("The first as-of date (yyyy-MM-dd).", valueName: "date"))
    var from: String

    @Option(
        name: .long,
        help: ArgumentHelp("The last as-of date (yyyy-MM-dd), included when the steps land on it.", valueName: "date"))
    var to: String

    @Option(
        name: .long, help: ArgumentHelp("The step between dates: 1d, 7d, 1m (calendar months) ...", valueName: "step"))
    var every: String = "1d"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write only these data files of each date: some of scores, features, at-risk, kpis, rejects (default: all).",
            valueName: "list"))
    var outputs: String?

    @Flag(name: .long, help: "Write each date's data files gzip-compressed, as scores.jsonl.gz and so on.")
    var gzip = false

    func validate() throws {
        if let outputs {
            do { _ = try PublishedOutput.parseList(outputs) } catch {
                throw ValidationError("--outputs: \(error.message)")
            }
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let fromDay = try CommandSupport.parseDate(from, option: "--from")
        let toDay = try CommandSupport.parseDate(to, option: "--to")
        guard fromDay <= toDay else { throw ValidationError("--from \(from) is after --to \(to)") }
        guard let step = ReplayStep(every) else {
            throw ValidationError("--every expects a step such as 1d, 7d or 1m, got \"\(every)\"")
        }
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config,
            options: RunOptions(
                outputDirectory: options.output, threads: options.threads, lockWaitSeconds: options.lockWait,
                keepDataUntilExit: true,
                outputs: try outputs.map { try PublishedOutput.parseList($0) }, gzipOutputs: gzip),
            logger: Logger(label: "customer-health"))
        let summaries = try runner.replay(from: fromDay, to: toDay, every: step)
        let perDate = ["features", "scoring", "render"]
        func stages(_ s: RunSummary) -> String {
            perDate.map { stage in
                "\(stage) \(String(format: "%.2f", s.stageSeconds.first { $0.stage == stage }?.seconds ?? 0)) s"
            }.joined(separator: ", ")
        }
        for s in summaries {
            Console.out(
                "\(s.asOf)\t\(s.customersScored) customers\t\(s.atRisk) at risk\t\(s.outputPath)/\t\(stages(s))")
        }
        let mean = perDate.map { stage in
            let total = summaries.reduce(0.0) { $0 + ($1.stageSeconds.first { $0.stage == stage }?.seconds ?? 0) }
            return "\(stage) \(String(format: "%.2f", summaries.isEmpty ? 0 : total / Double(summaries.count))) s"
        }.joined(separator: ", ")
        Console.out("customer-health: replayed \(summaries.count) dates; per date: \(mean)")
    }
}
