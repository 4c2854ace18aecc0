import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The model's and the backtest's pages as the executable writes them:
/// `train` writes the page beside the model, `backtest --html` the
/// backtest's calibration.
final class ModelReportCommandTests: XCTestCase, ModelReportPageReading {
    /// Generated exports with a pipeline whose model `train` wrote through
    /// the real executable: the fixture `ChurnPipelineTests` uses, made once.
    func trainedPipeline() throws -> (folder: URL, path: String, train: CLIResult) {
        let fixture = try ChurnPipelineFixture.shared()
        return (fixture.folder, fixture.pipeline, fixture.train)
    }

    func testTrainWritesThePageBesideTheModelAndPrintsIt() throws {
        let p = try trainedPipeline()
        XCTAssertEqual(p.train.status, 0, p.train.transcript)
        let models = p.folder.appendingPathComponent("models")
        let page = models.appendingPathComponent("main.report.html").path
        XCTAssertTrue(p.train.stdout.contains("\n  report: \(page)\n"), p.train.stdout)
        XCTAssertTrue(
            p.train.stdout.contains("\n  report: \(models.appendingPathComponent("main.report.json").path)\n"),
            p.train.stdout)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let json = try Data(contentsOf: models.appendingPathComponent("main.report.json"))
        XCTAssertEqual(
            html,
            try ModelReportPage.html(reportJSON: json, modelPath: models.appendingPathComponent("main.json").path),
            "the page is the JSON report's")
        let report = try object(json)
        XCTAssertEqual(try curve(report["roc_curve"]).first?.x, 0)
        XCTAssertFalse(
            try String(contentsOf: models.appendingPathComponent("main.json"), encoding: .utf8).contains("roc_curve"),
            "the curves stay out of the model file")
        let checked = try assertTablesMatch(html, report: report)
        XCTAssertTrue(checked.contains("member_roc_auc.random_forest"))
        let dates = try tableRows(html, id: "dates-table")
        XCTAssertEqual(dates.map { $0[0].text }, report["observation_dates"] as? [String])
        XCTAssertEqual(
            dates.filter { $0[1].text == "validation" }.map { $0[0].text }, report["validation_dates"] as? [String])
        try assertOffline(html)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: models.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [], "written through a temporary and renamed")
    }

    func testBacktestHTMLHoldsTheBacktestsCalibration() throws {
        let p = try trainedPipeline()
        XCTAssertEqual(p.train.status, 0, p.train.transcript)
        let output = p.folder.appendingPathComponent("model-page-single").path
        let run = try CLI.run(["run", p.path, "--as-of", "2026-10-08", "--output", output, "--quiet"])
        XCTAssertEqual(run.status, 0, run.transcript)
        let page = p.folder.appendingPathComponent("model-page-backtest.html").path
        let backtest = try CLI.run([
            "backtest", p.path, "--predictions", output + "/2026-10-08", "--html", page, "--quiet",
        ])
        XCTAssertEqual(backtest.status, 0, backtest.transcript)
        XCTAssertTrue(backtest.stdout.contains("page written to \(page)"), backtest.stdout)
        let html = try String(contentsOfFile: page, encoding: .utf8)

        // Each printed calibration line ("0.0-0.1   414   0.0153   0.0242") is the page's row of that bin.
        let printed = backtest.stdout.split(separator: "\n").map { $0.split(separator: " ") }
            .filter { $0.count == 4 && $0[0].contains("-") && Double($0[2]) != nil }
        XCTAssertFalse(printed.isEmpty, backtest.stdout)
        let rows = try tableRows(html, id: "calibration-table")
        XCTAssertEqual(rows.count, 10)
        XCTAssertEqual(rows.filter { $0[1].value != 0 }.count, printed.count, "the same bins hold customers")
        for line in printed {
            let bin = Int((Double(line[0].split(separator: "-")[0])! * 10).rounded())
            XCTAssertEqual(rows[bin][1].value, Double(line[1]), "rows of \(line[0])")
            XCTAssertEqual(
                try XCTUnwrap(rows[bin][2].value), Double(line[2])!, accuracy: 5e-5, "mean predicted of \(line[0])")
            XCTAssertEqual(
                try XCTUnwrap(rows[bin][3].value), Double(line[3])!, accuracy: 5e-5, "observed of \(line[0])")
        }
        // The headline figures too.
        let skill = Dictionary(
            try tableRows(html, id: "skill-table").map { ($0[0].text, $0[1].value) }, uniquingKeysWith: { a, _ in a })
        let figures = backtest.stdout.split(separator: "\n").first { $0.hasPrefix("roc_auc ") }!.split(separator: " ")
        for (label, name) in [
            ("Churn model ROC AUC", "roc_auc"), ("Churn model PR AUC", "pr_auc"), ("Log loss", "log_loss"),
            ("Brier score", "brier"),
        ] {
            let printedValue = Double(figures[figures.firstIndex(of: Substring(name))! + 1])!
            XCTAssertEqual(try XCTUnwrap(skill[label] ?? nil), printedValue, accuracy: 5e-5, label)
        }
        XCTAssertTrue(html.contains("id=\"chart-calibration\""))
        XCTAssertTrue(html.contains("id=\"chart-roc\""))
        try assertOffline(html)
    }
}
