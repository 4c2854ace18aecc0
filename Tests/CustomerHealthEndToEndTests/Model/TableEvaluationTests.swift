import Foundation
import XCTest

@testable import CustomerHealth

/// `evaluate --table` streams the table through fixed blocks and gives the
/// figures of scoring the whole table at once.
final class TableEvaluationTests: XCTestCase {
    func testStreamedEvaluationEqualsScoringTheWholeTable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evaluate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // More rows than one block (65,536), numbers with blanks, malformed
        // cells and spaces, a text column, yes/no labels.
        var rng = SeededGenerator(seed: 9)
        var csv = "id,churned,usage,tickets,plan\n"
        for i in 0..<70_000 {
            let usage = rng.uniform() * 10
            let tickets = Int(rng.uniform() * 5)
            let plan = ["basic", "pro", "enterprise"][i % 3]
            let risk = 1 / (1 + exp(usage - 3 - Double(tickets) * 0.5 + (plan == "basic" ? -1 : 0)))
            let label = rng.uniform() < risk ? "yes" : "no"
            let usageCell = i % 97 == 0 ? "" : i % 89 == 0 ? "n/a" : i % 83 == 0 ? " \(usage) " : String(usage)
            csv += "\(i),\(label),\(usageCell),\(tickets),\(plan)\n"
        }
        let table = dir.appendingPathComponent("table.csv").path
        try csv.write(toFile: table, atomically: true, encoding: .utf8)
        let model = dir.appendingPathComponent("model.json").path
        let trained = try CLI.run([
            "train", "--table", table, "--label", "churned", "--id", "id", "--model", model, "--quiet",
        ])
        XCTAssertEqual(trained.status, 0, trained.transcript)
        let evaluated = try CLI.run(["evaluate", "--table", table, "--model", model])
        XCTAssertEqual(evaluated.status, 0, evaluated.transcript)

        // The same figures from the whole table in memory.
        let file = try ChurnModelFile.load(path: model)
        let (header, rows) = try LabelledTableReader.readCSV(path: table)
        let schema = try LabelledTableReader.schema(header: header, rows: rows, label: "churned", id: "id")
        let whole = try LabelledTableReader.table(header: header, rows: rows, schema: schema, file: "table.csv")
        var matrix = [Double](repeating: 0, count: whole.rowCount * whole.featureCount)
        for j in 0..<whole.featureCount {
            for i in 0..<whole.rowCount { matrix[i * whole.featureCount + j] = whole.columns[j][i] }
        }
        let p = file.ensemble.probabilities(rows: matrix, featureCount: whole.featureCount, threads: 2)
        let expected = [
            "rows 70000 (\(whole.positives) positive)",
            String(format: "roc_auc %.4f", Metrics.rocAUC(scores: p, labels: whole.labels)!),
            String(format: "log_loss %.4f", Metrics.logLoss(probabilities: p, labels: whole.labels)),
            String(format: "brier %.4f", Metrics.brier(probabilities: p, labels: whole.labels)),
        ]
        for line in expected { XCTAssertTrue(evaluated.stdout.contains(line), "\(line) not in\n\(evaluated.stdout)") }

        // A row whose label cannot be read is named by its line.
        try (csv + "70000,maybe,1,1,pro\n").write(toFile: table, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["evaluate", "--table", table, "--model", model])
        XCTAssertEqual(bad.status, 3, bad.transcript)
        XCTAssertTrue(bad.stderr.contains("line 70002, column churned: \"maybe\" is not a label"), bad.stderr)
    }
}
