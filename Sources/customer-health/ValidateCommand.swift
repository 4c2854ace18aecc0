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

            With --memory it also prints what ingest holds in memory, store by store \
            (bytes, entries, bytes per customer), and the process's peak resident memory: \
            the figures to size a machine by (docs/performance.md#memory).

            Example:
              customer-health validate pipelines/nightly.yaml && customer-health run pipelines/nightly.yaml
            """
    )

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Also print the memory ingest holds, store by store, and the peak resident memory.")
    var memory = false

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
            lines.append(
                "\(f.name)\t\(f.export.rawValue)\t\(f.rowsRead)\t\(f.rowsRejected)\t\(f.rowsUnknownCustomer)\(f.skipped.map { "\tskipped: \($0)" } ?? "")"
            )
        }
        Console.out(lines.joined(separator: "\n"))
        Console.out(
            String(
                format: "rejected %.4f%% of rows (limit %.4f%%); report: %@", summary.ratio * 100, summary.limit * 100,
                summary.rejectsPath))
        if memory { Console.out(Self.memoryTable(summary.memory, customers: summary.customers)) }
        if !summary.passed { throw ExitCode(4) }
    }

    /// store, MB, entries, bytes per customer; then the total and the peak resident memory.
    static func memoryTable(_ shares: [MemoryShare], customers: Int) -> String {
        func mb(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e6) }
        func perCustomer(_ bytes: Int) -> String { customers > 0 ? String(bytes / customers) : "-" }
        var lines = ["store\tMB\tentries\tbytes_per_customer"]
        for s in shares { lines.append("\(s.store)\t\(mb(s.bytes))\t\(s.entries)\t\(perCustomer(s.bytes))") }
        let total = shares.reduce(0) { $0 + $1.bytes }
        lines.append("total held after ingest\t\(mb(total))\t-\t\(perCustomer(total))")
        if let peak = ProcessMemory.peakResidentBytes {
            lines.append("peak resident memory of this process\t\(mb(peak))\t-\t-")
        }
        return lines.joined(separator: "\n")
    }
}
