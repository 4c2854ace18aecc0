import ArgumentParser
import CustomerHealth
import Foundation
import Logging

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Read and check every input of a pipeline; write only the rejects report.",
        discussion: """
            Use it on a new export before the first nightly run, or after an upstream change: \
            it reads every file as `run` would, prints the rows read and rejected per file, \
            and writes each rejected row, with file, line, column and reason, to \
            OUTPUT/validate-rejects.jsonl. Exits 4 when the rejected share is above the \
            pipeline's max_reject_ratio, 3 when a file cannot be read.

            Example:
              customer-health validate pipelines/nightly.yaml && customer-health run pipelines/nightly.yaml
            """
    )

    @OptionGroup var options: PipelineOptions

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: options.quiet)
        let config = try PipelineConfig.load(path: options.pipeline)
        let runner = PipelineRunner(
            config: config,
            options: RunOptions(outputDirectory: options.output, threads: options.threads, keepDataUntilExit: true),
            logger: Logger(label: "customer-health"))
        let summary = try runner.validate()
        var lines = ["file\texport\trows\trejected\tunknown_customer"]
        for f in summary.files {
            lines.append("\(f.name)\t\(f.export.rawValue)\t\(f.rowsRead)\t\(f.rowsRejected)\t\(f.rowsUnknownCustomer)\(f.skipped.map { "\tskipped: \($0)" } ?? "")")
        }
        Console.out(lines.joined(separator: "\n"))
        Console.out(String(format: "rejected %.4f%% of rows (limit %.4f%%); report: %@", summary.ratio * 100, summary.limit * 100, summary.rejectsPath))
        if !summary.passed { throw ExitCode(4) }
    }
}
