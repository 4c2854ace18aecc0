import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The model's page (`<model>.report.html`) and the backtest's page: made
/// from the JSON report alone, every charted figure in a table, strings
/// escaped, nothing loaded from the network.
final class ModelReportPageTests: XCTestCase, ModelReportPageReading {
    // MARK: Fixtures

    /// The report of `ChurnModelTests`' known-answer training, as `train`
    /// writes it (the model file's report and the curves), and its page.
    static func known() throws -> (json: Data, html: String) { try knownPage.get() }

    private static let knownPage: Result<(json: Data, html: String), Error> = Result {
        let (_, report, _, _) = ChurnModelTests.trained
        guard case .object(let members) = report.json() else {
            throw CocoaError(
                .coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "a training report is an object"])
        }
        let json = Data(JSONValue.object(members + report.curvesJSON()).serialized(pretty: true).utf8)
        return (json, try ModelReportPage.html(reportJSON: json, modelPath: "models/known.json"))
    }

    // MARK: The page from a known answer

    func testROCCurveRunsCornerToCornerAndItsAreaIsTheAUC() throws {
        let report = try object((try Self.known()).json)
        let roc = try curve(report["roc_curve"])
        XCTAssertLessThanOrEqual(roc.count, 200, "thinned")
        XCTAssertGreaterThan(roc.count, 50)
        XCTAssertEqual(roc.first!.x, 0)
        XCTAssertEqual(roc.first!.y, 0)
        XCTAssertEqual(roc.last!.x, 1)
        XCTAssertEqual(roc.last!.y, 1)
        for (a, b) in zip(roc, roc.dropFirst()) {
            XCTAssertLessThanOrEqual(a.x, b.x)
            XCTAssertLessThanOrEqual(a.y, b.y)
        }
        let auc = try XCTUnwrap(report["roc_auc"] as? Double)
        XCTAssertGreaterThan(auc, 0.7, "the known answer is learnable")
        XCTAssertEqual(trapezoid(roc), auc, accuracy: 0.01)

        let pr = try curve(report["pr_curve"])
        XCTAssertLessThanOrEqual(pr.count, 200)
        XCTAssertEqual(pr.first!.x, 0)
        XCTAssertEqual(pr.last!.x, 1, "every churner is caught at the lowest threshold")
        for (a, b) in zip(pr, pr.dropFirst()) { XCTAssertLessThanOrEqual(a.x, b.x, "recall only grows") }
        let positives = Double(try XCTUnwrap(report["validation_positives"] as? Int))
        XCTAssertEqual(
            pr.last!.y, positives / Double(try XCTUnwrap(report["validation_rows"] as? Int)), accuracy: 1e-6,
            "at the lowest threshold, precision is the churn rate")

        // The page draws the report's own points.
        let data = try object(Data(try dataBlock((try Self.known()).html).utf8))
        XCTAssertEqual(
            try curve((data["roc"] as? [String: Any])?["points"]).map { [$0.x, $0.y] }, roc.map { [$0.x, $0.y] })
        XCTAssertEqual(
            try curve((data["pr"] as? [String: Any])?["points"]).map { [$0.x, $0.y] }, pr.map { [$0.x, $0.y] })
    }

    /// Before thinning, the trapezoid area under the curve is the AUC by
    /// ranks exactly, ties included; thinning keeps it within a hair.
    func testCurveAreaEqualsRankAUC() throws {
        let (model, _, validation, _) = ChurnModelTests.trained
        let scores = (0..<validation.rowCount).map { model.probability(validation.row($0)) }
        // Rounded scores make many ties: each must be one diagonal step.
        for s in [scores, scores.map { ($0 * 20).rounded() / 20 }] {
            let auc = try XCTUnwrap(Metrics.rocAUC(scores: s, labels: validation.labels))
            let full = try XCTUnwrap(Metrics.rocCurve(scores: s, labels: validation.labels, maxPoints: .max))
            XCTAssertEqual(trapezoid(full), auc, accuracy: 1e-12)
            let thinned = try XCTUnwrap(Metrics.rocCurve(scores: s, labels: validation.labels))
            XCTAssertEqual(trapezoid(thinned), auc, accuracy: 0.005)
            XCTAssertEqual(
                thinned.map { [$0.x, $0.y] },
                try XCTUnwrap(Metrics.rocCurve(scores: s, labels: validation.labels)).map { [$0.x, $0.y] },
                "the same scores thin to the same points")
        }
        XCTAssertNil(Metrics.rocCurve(scores: [0.1, 0.2], labels: [0, 0]), "one class: no curve")
    }

    func testTablesHoldTheReportsFigures() throws {
        let report = try object((try Self.known()).json)
        let checked = try assertTablesMatch((try Self.known()).html, report: report)
        for member in ChurnEnsemble.Member.allCases {
            XCTAssertTrue(checked.contains("member_roc_auc.\(member.rawValue)"), member.rawValue)
        }
        for key in ["roc_auc", "pr_auc", "log_loss", "brier", "train_rows", "validation_rows"] {
            XCTAssertTrue(checked.contains(key), key)
        }
        let bins = try XCTUnwrap(report["calibration"] as? [[String: Any]])
        XCTAssertEqual(bins.count, 10)
        for (i, bin) in bins.enumerated() {
            XCTAssertTrue(checked.contains("calibration.\(i).rows"))
            // An empty bin shows no mean: the report's 0 there is not a figure.
            let filled = (bin["rows"] as? Int ?? 0) > 0
            XCTAssertEqual(checked.contains("calibration.\(i).mean_predicted"), filled, "bin \(i)")
            XCTAssertEqual(checked.contains("calibration.\(i).observed_rate"), filled, "bin \(i)")
        }
        // The calibration chart plots what the table holds.
        let plotted = try XCTUnwrap(
            (try object(Data(try dataBlock((try Self.known()).html).utf8))["calibration"] as? [String: Any])?["points"]
                as? [[Double]])
        XCTAssertEqual(
            plotted.map { [$0[0], $0[1]] },
            bins.filter { ($0["rows"] as? Int ?? 0) > 0 }.map {
                [($0["mean_predicted"] as? NSNumber)!.doubleValue, ($0["observed_rate"] as? NSNumber)!.doubleValue]
            })
        // The top 20 features, largest first, with the report's shares.
        let importance = try XCTUnwrap(report["feature_importance"] as? [String: Double])
        let rows = try tableRows((try Self.known()).html, id: "importance-table")
        XCTAssertEqual(rows.count, min(20, importance.count))
        for row in rows {
            XCTAssertEqual(try XCTUnwrap(row[1].value), importance[row[0].text]!, accuracy: 1e-9, row[0].text)
        }
        XCTAssertEqual(rows.compactMap { $0[1].value }, rows.compactMap { $0[1].value }.sorted(by: >))
    }

    func testStringsAreEscaped() throws {
        var report = try object((try Self.known()).json)
        var importance = try XCTUnwrap(report["feature_importance"] as? [String: Any])
        importance["<script>alert(1)</script>"] = 0.99
        report["feature_importance"] = importance
        var combination = try XCTUnwrap(report["combination"] as? [String: Any])
        combination["reason"] = "</script><script>alert(2)</script>"
        report["combination"] = combination
        report["warnings"] = ["<img src=x onerror=alert(3)>"]
        let html = try ModelReportPage.html(
            reportJSON: try JSONSerialization.data(withJSONObject: report), modelPath: "models/<b>.json")
        for raw in ["<script>alert", "<img src=x", "<b>.json"] { XCTAssertFalse(html.contains(raw), raw) }
        for escaped in [
            "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;/script&gt;&lt;script&gt;alert(2)",
            "&lt;img src=x onerror=alert(3)&gt;", "&lt;b&gt;.json",
        ] {
            XCTAssertTrue(html.contains(escaped), escaped)
        }
        XCTAssertTrue(try dataBlock(html).contains("\\u003cscript>alert(1)"), "the chart's label, in the data block")
        XCTAssertEqual(
            html.components(separatedBy: "<script").count - 1, 3, "the data block, Chart.js and the page's script")
    }

    func testThePageLoadsNothingFromTheNetwork() throws {
        try assertOffline((try Self.known()).html)
    }

    /// A backtest of scores without churn probabilities: the health score alone, no curves.
    func testBacktestPageWithoutAModel() throws {
        let result = BacktestResult(
            asOf: CalendarDay("2026-10-01")!, customers: 3, churned: 1, unknownCustomers: 0, notActive: 0,
            daysObserved: 12,
            horizonDays: 30, healthAUC: 0.75, observedRate: 1.0 / 3, model: nil,
            rows: [("<c1>", 20, nil, true), ("c2", 60, nil, false), ("c3", 90, nil, false)])
        let html = BacktestPage.html(result, predictions: "out/2026-10-01")
        XCTAssertTrue(html.contains("that run had no churn model"))
        XCTAssertTrue(html.contains("Only 12 of the 30 days"))
        XCTAssertFalse(html.contains("id=\"chart-roc\""))
        XCTAssertFalse(html.contains("calibration-table"))
        XCTAssertEqual(try tableRows(html, id: "health-table").first?[1].value, 0.75)
        try assertOffline(html)
    }

}
