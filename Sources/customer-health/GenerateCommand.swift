import ArgumentParser
import CustomerHealth
import Foundation

/// `customer-health generate`: writes deterministic synthetic exports.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write synthetic customer exports, and the hidden truth behind them, from a seeded simulation.",
        discussion: """
            Writes under --output DIR: exports/accounts.csv.gz, one exports/activity-YYYY-MM-DD.csv.gz \
            per simulated day (two gzip members each), exports/tickets-YYYY-MM.jsonl.gz and \
            exports/uptime-YYYY-MM.csv.gz per month, exports/savings.csv.gz, and DIR/truth.csv.gz, \
            which lies outside exports/ so that no export glob reads it.

            Each customer has a hidden health h in [0, 1] that drifts day by day back toward its own \
            baseline, with noise, occasional shocks and dips on low-uptime days. Activity, distinct \
            users, feature breadth, tickets and savings all follow h, and each day the customer churns \
            with a probability that rises steeply as h falls. truth.csv.gz holds h and the exact \
            probability of churning within 30 days at every month end (docs/generator.md).

            --profile shapes the exports like another product's, over the same hidden process \
            (docs/generator.md#profiles):
            \(SyntheticProfile.allCases.map { "  \($0.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \($0.summary)" }.joined(separator: "\n"))
            Each writes DIR/pipeline.yaml, a pipeline that reads its exports:
              customer-health run DIR/pipeline.yaml

            The same options give byte-identical files whatever --threads is.

            Examples:
              customer-health generate --output data/sample
              customer-health generate --customers 100000 --seed 7 --output /tmp/big
              customer-health generate --profile inactivity --customers 5000 --days 365 --output /tmp/lapsing
            """
    )

    @Option(help: ArgumentHelp("Number of customers to simulate.", valueName: "n"))
    var customers: Int = 300

    @Option(help: ArgumentHelp("Number of simulated days, ending on --end.", valueName: "n"))
    var days: Int = 180

    @Option(help: ArgumentHelp("Seed of every random draw.", valueName: "n"))
    var seed: UInt64 = 42

    @Option(
        help: ArgumentHelp("Directory to write exports/ and truth.csv.gz into (created if missing).", valueName: "dir"))
    var output: String

    @Option(help: ArgumentHelp("Last simulated day, yyyy-MM-dd (UTC).", valueName: "date"))
    var end: String = "2026-11-23"

    @Option(
        help: ArgumentHelp(
            "Mean activity rows per customer per day: about rate x customers x days rows in all.", valueName: "rate"))
    var activityRate: Double = 1.1

    @Option(
        help: ArgumentHelp("Worker threads (default: all cores). The output does not depend on it.", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("gzip level, 0 (store) to 9 (smallest); 1 is fastest.", valueName: "level"))
    var gzipLevel: Int = 1

    @Option(
        help: ArgumentHelp(
            "Shape of the exports: \(SyntheticProfile.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "name"))
    var profile: String = SyntheticProfile.standard.rawValue

    func validate() throws {
        guard SyntheticProfile(rawValue: profile) != nil else {
            throw ValidationError(
                "--profile must be one of \(SyntheticProfile.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(profile)\""
            )
        }
        do {
            try makeOptions().validate()
        } catch let error as SyntheticExportError {
            throw ValidationError(error.description)
        }
    }

    private func makeOptions() -> SyntheticExportOptions {
        SyntheticExportOptions(
            customers: customers,
            days: days,
            seed: seed,
            endDate: end,
            activityRate: activityRate,
            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
            gzipLevel: gzipLevel,
            profile: SyntheticProfile(rawValue: profile) ?? .standard)
    }

    func run() throws {
        let started = Date()
        let summary = try SyntheticExportGenerator.generate(options: makeOptions(), to: output)
        let seconds = Date().timeIntervalSince(started)
        let rows = summary.rowsPerExport
        func count(_ kind: String) -> Int { summary.files.filter { $0.export == kind }.count }
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
        print(
            "Wrote \(summary.files.count) files (\(megabytes(summary.totalBytes))) to \(output) in \(String(format: "%.1f", seconds)) s"
        )
        print("  window    \(summary.windowStart) to \(summary.windowEnd) (\(days) day\(days == 1 ? "" : "s"))")
        if SyntheticProfile(rawValue: profile)?.lapses == true {
            print(
                "  customers \(summary.customers), \(summary.churnedCustomers) went quiet during the window, \(summary.returnedCustomers) of them came back"
            )
        } else {
            print("  customers \(summary.customers), \(summary.churnedCustomers) churned during the window")
        }
        for kind in ["accounts", "activity", "tickets", "uptime", "savings", "truth"] {
            let files = count(kind)
            let label = kind.padding(toLength: 9, withPad: " ", startingAt: 0)
            print("  \(label) \(rows[kind] ?? 0) rows in \(files) file\(files == 1 ? "" : "s")")
        }
        print("  pipeline  \((output as NSString).appendingPathComponent("pipeline.yaml")) reads them")
    }
}
