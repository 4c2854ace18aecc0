import CustomerHealth
import CustomerHealthServer
import Foundation
import Logging
import XCTest

/// `serve` answers by the pipeline's churn definition, as `run` wrote it: on
/// data whose churn is 30 days without activity (customers who come back
/// included), the customers it serves are the active ones, each with the
/// run's line, and a customer gone quiet is not found.
final class ChurnDefinitionServeTests: XCTestCase {
    func testServedCustomersAreTheActiveOnesByInactivity() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-serve-churn-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try SyntheticExportGenerator.generate(
            options: SyntheticExportOptions(customers: 300, days: 150, seed: 5, threads: 2, profile: .inactivity),
            to: root.path)
        let config = try PipelineConfig.load(path: root.appendingPathComponent("pipeline.yaml").path)
        XCTAssertEqual(config.churnDefinition.source, .inactivity)
        var noModel = config
        noModel.churn = ChurnSettings()
        var logger = Logger(label: "customer-health-tests")
        logger.logLevel = .critical
        let summary = try PipelineRunner(config: noModel, options: RunOptions(threads: 2), logger: logger).run()
        let run = URL(fileURLWithPath: summary.outputPath).resolvingSymlinksInPath()

        var active: [String: Bool] = [:]
        for line in try String(contentsOf: run.appendingPathComponent("features.jsonl"), encoding: .utf8).split(
            separator: "\n")
        {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            active[o["customer_id"] as! String] = o["active"] as? Bool
        }
        let quiet = active.filter { !$0.value }.keys.sorted()
        XCTAssertGreaterThan(quiet.count, 5, "some customers have gone quiet for 30 days")
        let lines = try String(contentsOf: run.appendingPathComponent("scores.jsonl"), encoding: .utf8).split(
            separator: "\n"
        ).map(String.init)
        XCTAssertEqual(lines.count, active.values.filter { $0 }.count)

        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: run))
        defer { server.stop() }
        XCTAssertEqual(try server.get("/health").object()["customers"] as? Int, lines.count)
        for line in lines.prefix(30) {
            let id = try XCTUnwrap(
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["customer_id"] as? String)
            let answer = try server.get("/api/customer-success/health/\(id)")
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.text, line)
        }
        for id in quiet.prefix(10) {
            XCTAssertEqual(try server.get("/api/customer-success/health/\(id)").status, 404, id)
        }
        let kpis = try server.get("/api/customer-success/kpis").object()
        XCTAssertEqual((kpis["overview"] as? [String: Any])?["active_customers"] as? Int, lines.count)
    }
}
