import ArgumentParser
import CustomerHealth
import Foundation

@main
struct CustomerHealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer-health",
        abstract: "Score customer health from gzipped CSV/JSONL exports.",
        discussion: """
            customer-health reads the exports named in a pipeline file (accounts, product \
            activity, support tickets, uptime, cost savings), joins them per customer as of a \
            date, and writes health scores, an at-risk list and a KPI summary to OUTPUT/<date>/, \
            with OUTPUT/latest pointing at the newest complete run.

            Start with:
              customer-health generate --output demo          # synthetic exports
              customer-health run pipelines/nightly.yaml      # score them

            Exit codes: 0 success; 2 usage or pipeline-file error; 3 inputs missing or \
            unreadable; 4 rejected rows above max_reject_ratio; 1 anything else.
            """,
        version: ToolVersion.current,
        subcommands: [
            RunCommand.self, MergeCommand.self, PartitionCommand.self, RescoreCommand.self, ValidateCommand.self,
            ReplayCommand.self, TrainCommand.self, EvaluateCommand.self, BacktestCommand.self, ReportCommand.self,
            WatchCommand.self, ServeCommand.self, GenerateCommand.self,
        ]
    )

    static func main() {
        CommandSupport.main(root: self)
    }
}
