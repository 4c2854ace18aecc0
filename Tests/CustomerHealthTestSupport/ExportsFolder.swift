import CustomerHealth
import Foundation
import XCTest

/// A throw-away folder laid out like a real deployment:
///
///     <root>/pipeline.yaml
///     <root>/exports/   the input files
///     <root>/out/       OUTPUT
///
/// Files are written plain, gzipped (through the library's own
/// `GzipFileWriter`) or as raw bytes, so a test states its input exactly.
package final class ExportsFolder {
    package let root: URL

    package init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("customer-health-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("exports"), withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    package var exports: URL { root.appendingPathComponent("exports", isDirectory: true) }
    package var output: URL { root.appendingPathComponent("out", isDirectory: true) }
    package var pipelinePath: String { root.appendingPathComponent("pipeline.yaml").path }

    package func path(_ name: String) -> String { exports.appendingPathComponent(name).path }

    /// OUTPUT/<date>/<file>
    package func outputFile(_ date: String, _ file: String) -> String {
        output.appendingPathComponent(date).appendingPathComponent(file).path
    }

    // MARK: Inputs

    package func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: exports.appendingPathComponent(name))
    }

    package func write(_ name: String, bytes: [UInt8]) throws {
        try Data(bytes).write(to: exports.appendingPathComponent(name))
    }

    /// A gzip file with one member per string.
    package func writeGzip(_ name: String, members: [String]) throws {
        let writer = try GzipFileWriter(path: path(name), level: 6)
        for (i, m) in members.enumerated() {
            if i > 0 { try writer.startNewMember() }
            try writer.write(m)
        }
        try writer.close()
    }

    package func writeGzip(_ name: String, _ text: String) throws { try writeGzip(name, members: [text]) }

    package func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: exports.appendingPathComponent(name)))
    }

    package func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: path(name)) }

    /// Writes the standard small data set (see `Sample`), with per-export overrides.
    package func writeSample(
        accounts: String = Sample.accountsCSV, activity: String = Sample.activityCSV,
        tickets: String = Sample.ticketsJSONL, uptime: String = Sample.uptimeCSV,
        savings: String = Sample.savingsCSV
    ) throws {
        try write("accounts.csv", accounts)
        try write("activity-2026-03.csv", activity)
        try write("tickets-2026-03.jsonl", tickets)
        try write("uptime-2026-03.csv", uptime)
        try write("savings.csv", savings)
    }

    // MARK: Pipeline file

    /// A pipeline file with `input: exports`, `output: out`, a permissive
    /// reject limit unless told otherwise, and `body` appended verbatim.
    package func writePipeline(maxRejectRatio: Double = 1, _ body: String = "") throws {
        let text = """
            version: 1
            input: exports
            output: out
            max_reject_ratio: \(maxRejectRatio)

            """ + body
        try Data(text.utf8).write(to: URL(fileURLWithPath: pipelinePath))
    }

    package func writePipelineText(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: pipelinePath))
    }

    package func config() throws -> PipelineConfig { try PipelineConfig.load(path: pipelinePath) }

    // MARK: Outputs

    /// OUTPUT/<date>/ as read by a user: each file's parsed content.
    package func outputs(_ date: String) throws -> RunOutputs {
        try RunOutputs(folder: output.appendingPathComponent(date), owner: self)
    }
}

/// A small, valid export set with known answers, scored as of 2026-03-31.
///
/// Line numbers matter to the bad-input tests: every CSV has a header on line 1
/// and data from line 2; appended rows start at `lineCount + 1`.
package enum Sample {
    package static let asOf = "2026-03-31"

    package static let accountsHeader =
        "customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules,acquisition_cost,nps"
    package static let accountsRows = [
        "c1,Acme Corp,pro,1000,2025-01-01,,10,10,4,5000,9",
        "c2,Beta Ltd,basic,500,2025-06-01,,5,8,2,2000,5",
        "c3,Gamma Inc,enterprise,2000,2025-03-01,,20,10,4,,",
        "c4,Delta GmbH,basic,300,2024-06-01,2026-03-15,3,8,2,1500,7",
    ]
    package static var accountsCSV: String { csv(accountsHeader, accountsRows) }

    package static let activityHeader = "customer_id,user_id,occurred_at,event_type,feature,duration_s"
    package static let activityRows = [
        "c1,u1,2026-03-31T09:00:00Z,login,,",
        "c1,u2,2026-03-30T10:00:00Z,feature_use,reports,30",
        "c1,u1,2026-03-29T11:00:00Z,api_call,,",
        "c2,v1,2026-03-20T08:00:00Z,login,,",
        "c2,v1,2026-03-20T08:05:00Z,work_order_completed,,",
        "c3,w1,2026-02-01T08:00:00Z,login,,",
        "c3,w2,2026-03-31T23:59:59Z,dashboard_view,,",
        "c4,x1,2026-03-01T12:00:00Z,login,,",
    ]
    package static var activityCSV: String { csv(activityHeader, activityRows) }
    /// Line of the first row appended after `activityRows`.
    package static var nextActivityLine: Int { activityRows.count + 2 }

    package static let ticketsJSONL = """
        {"ticket_id": "t1", "customer_id": "c1", "opened_at": "2026-03-10T10:00:00Z", "first_response_at": "2026-03-10T14:00:00Z", "resolved_at": null, "priority": "high", "status": "open"}
        {"ticket_id": "t2", "customer_id": "c2", "opened_at": "2026-03-12T10:00:00Z", "first_response_at": "2026-03-13T10:00:00Z", "resolved_at": "2026-03-14T10:00:00Z", "priority": "low", "status": "closed"}

        """

    package static let uptimeHeader = "customer_id,date,uptime_pct"
    package static let uptimeRows = [
        "c1,2026-03-30,99.95",
        "c1,2026-03-31,99.85",
        "c2,2026-03-31,97.5",
        "c3,2026-03-31,100",
    ]
    package static var uptimeCSV: String { csv(uptimeHeader, uptimeRows) }

    package static let savingsHeader = "customer_id,recorded_at,amount,category"
    package static let savingsRows = [
        "c1,2025-06-01,12000.50,energy",
        "c1,2026-03-01,3000,labour",
        "c3,2026-02-01,500.25,energy",
    ]
    package static var savingsCSV: String { csv(savingsHeader, savingsRows) }

    package static func csv(_ header: String, _ rows: [String], newline: String = "\n") -> String {
        ([header] + rows).map { $0 + newline }.joined()
    }
}
