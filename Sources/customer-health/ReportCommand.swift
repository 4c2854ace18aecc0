import ArgumentParser
import CustomerHealth
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the HTML report of a run folder (report.html), from its files and the earlier runs beside it.",
        discussion: """
            `run`, `replay` and `rescore` write report.html into each run folder already (unless \
            the pipeline says `report: false`); this command makes it again for a folder written \
            without one, or by an older version. It reads kpis.json, at-risk.json and scores.jsonl \
            (plain or .gz) of the folder, and the kpis.json and scores.jsonl of the earlier dated \
            runs in the same output folder for the history and the movers. The page is \
            self-contained: it opens offline, from disk or as an email attachment (docs/report.md).

            Examples:
              customer-health report output/2026-11-23
              customer-health report output/latest --out /tmp/health.html
            """
    )

    @Argument(help: ArgumentHelp("A run folder, e.g. output/2026-11-23.", valueName: "folder"))
    var folder: String

    @Option(name: .long, help: ArgumentHelp("Write the page here instead of FOLDER/report.html.", valueName: "file"))
    var out: String?

    func run() throws {
        let written = try RunReport.write(folder: folder, to: out)
        Console.out(
            "customer-health: wrote \(written.path) (\(written.bytes) bytes) in \(String(format: "%.2f", written.seconds)) s"
        )
    }
}
