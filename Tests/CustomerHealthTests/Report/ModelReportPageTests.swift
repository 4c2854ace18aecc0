import Foundation
import XCTest

@testable import CustomerHealth

/// The model's page (`<model>.report.html`) and the backtest's page: made
/// from the JSON report alone, every charted figure in a table, strings
/// escaped, nothing loaded from the network.
final class ModelReportPageTests: XCTestCase {
    // MARK: Fixtures

    /// The report of `ChurnModelTests`' known-answer training, as `train`
    /// writes it (the model file's report and the curves), and its page.
    static let known: (json: Data, html: String) = {
        let (_, report, _, _) = ChurnModelTests.trained
        guard case .object(let members) = report.json() else { preconditionFailure("a training report is an object") }
        let json = Data(JSONValue.object(members + report.curvesJSON()).serialized(pretty: true).utf8)
        return (json, try! ModelReportPage.html(reportJSON: json, modelPath: "models/known.json"))
    }()

    /// Generated exports with a pipeline, trained once through the real
    /// executable, as `ChurnPipelineTests` does.
    static let pipeline: (folder: URL, path: String, train: CLIResult) = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("model-page-\(UUID().uuidString)")
        var options = SyntheticExportOptions()
        options.customers = 500
        options.days = 200
        options.seed = 5
        _ = try! SyntheticExportGenerator.generate(options: options, to: root.appendingPathComponent("data").path)
        let path = root.appendingPathComponent("pipeline.yaml").path
        try! """
        input: data/exports
        output: out
        max_reject_ratio: 0.01
        churn:
          model: models/churn.json
          if_missing: stop
          min_positives: 10
          on_insufficient_data: warn
          validation_dates: 1
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return (root, path, try! CLI.run(["train", path, "--quiet"]))
    }()

    /// Set once a test has made `pipeline`: reading `pipeline` in tearDown would make it only to remove it.
    nonisolated(unsafe) static var pipelineFolder: URL?

    override class func tearDown() {
        if let folder = pipelineFolder { try? FileManager.default.removeItem(at: folder) }
    }

    func trainedPipeline() -> (folder: URL, path: String, train: CLIResult) {
        let p = Self.pipeline
        Self.pipelineFolder = p.folder
        return p
    }

    // MARK: The page from a known answer

    func testROCCurveRunsCornerToCornerAndItsAreaIsTheAUC() throws {
        let report = try object(Self.known.json)
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
        let data = try object(Data(try dataBlock(Self.known.html).utf8))
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
        let report = try object(Self.known.json)
        let checked = try assertTablesMatch(Self.known.html, report: report)
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
            (try object(Data(try dataBlock(Self.known.html).utf8))["calibration"] as? [String: Any])?["points"]
                as? [[Double]])
        XCTAssertEqual(
            plotted.map { [$0[0], $0[1]] },
            bins.filter { ($0["rows"] as? Int ?? 0) > 0 }.map {
                [($0["mean_predicted"] as? NSNumber)!.doubleValue, ($0["observed_rate"] as? NSNumber)!.doubleValue]
            })
        // The top 20 features, largest first, with the report's shares.
        let importance = try XCTUnwrap(report["feature_importance"] as? [String: Double])
        let rows = try tableRows(Self.known.html, id: "importance-table")
        XCTAssertEqual(rows.count, min(20, importance.count))
        for row in rows {
            XCTAssertEqual(try XCTUnwrap(row[1].value), importance[row[0].text]!, accuracy: 1e-9, row[0].text)
        }
        XCTAssertEqual(rows.compactMap { $0[1].value }, rows.compactMap { $0[1].value }.sorted(by: >))
    }

    func testStringsAreEscaped() throws {
        var report = try object(Self.known.json)
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
        try assertOffline(Self.known.html)
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

    // MARK: Through the executable

    func testTrainWritesThePageBesideTheModelAndPrintsIt() throws {
        let p = trainedPipeline()
        XCTAssertEqual(p.train.status, 0, p.train.transcript)
        let models = p.folder.appendingPathComponent("models")
        let page = models.appendingPathComponent("churn.report.html").path
        XCTAssertTrue(p.train.stdout.contains("\n  report: \(page)\n"), p.train.stdout)
        XCTAssertTrue(
            p.train.stdout.contains("\n  report: \(models.appendingPathComponent("churn.report.json").path)\n"),
            p.train.stdout)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let json = try Data(contentsOf: models.appendingPathComponent("churn.report.json"))
        XCTAssertEqual(
            html,
            try ModelReportPage.html(reportJSON: json, modelPath: models.appendingPathComponent("churn.json").path),
            "the page is the JSON report's")
        let report = try object(json)
        XCTAssertEqual(try curve(report["roc_curve"]).first?.x, 0)
        XCTAssertFalse(
            try String(contentsOf: models.appendingPathComponent("churn.json"), encoding: .utf8).contains("roc_curve"),
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
        let p = trainedPipeline()
        XCTAssertEqual(p.train.status, 0, p.train.transcript)
        let output = p.folder.appendingPathComponent("single").path
        let run = try CLI.run(["run", p.path, "--as-of", "2026-10-08", "--output", output, "--quiet"])
        XCTAssertEqual(run.status, 0, run.transcript)
        let page = p.folder.appendingPathComponent("backtest.html").path
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

    // MARK: Reading pages

    func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func curve(_ value: Any?) throws -> [(x: Double, y: Double)] {
        let pairs = try XCTUnwrap(value as? [[Double]], "a curve is an array of [x, y]")
        return pairs.map { ($0[0], $0[1]) }
    }

    func trapezoid(_ points: [(x: Double, y: Double)]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.x - $1.0.x) * ($1.0.y + $1.1.y) / 2 }
    }

    /// The text of the page's `report-data` block.
    func dataBlock(_ html: String) throws -> String {
        let start = try XCTUnwrap(html.range(of: "<script type=\"application/json\" id=\"report-data\">"))
        let end = try XCTUnwrap(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        return String(html[start.upperBound..<end.lowerBound])
    }

    /// The body rows of table `id`: each cell's text and its data-value.
    func tableRows(_ html: String, id: String) throws -> [[(text: String, value: Double?)]] {
        let start = try XCTUnwrap(html.range(of: "<table id=\"\(id)\">"), "table \(id)")
        let end = try XCTUnwrap(html.range(of: "</table>", range: start.upperBound..<html.endIndex))
        let body = try XCTUnwrap(html.range(of: "<tbody>", range: start.upperBound..<end.lowerBound))
        let cell = try NSRegularExpression(pattern: #"<td[^>]*?(?: data-value="([^"]*)")?>(.*?)</td>"#)
        return html[body.upperBound..<end.lowerBound].components(separatedBy: "<tr>").dropFirst().map { row in
            cell.matches(in: row, range: NSRange(row.startIndex..., in: row)).map { m in
                let value = Range(m.range(at: 1), in: row).flatMap { Double(row[$0]) }
                return (Self.unescape(String(row[Range(m.range(at: 2), in: row)!])), value)
            }
        }
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Every cell with a data-key holds, as data-value, the figure at that
    /// path of the report (`calibration.3.observed_rate`); returns the keys.
    @discardableResult
    func assertTablesMatch(_ html: String, report: [String: Any], file: StaticString = #filePath, line: UInt = #line)
        throws -> Set<String>
    {
        let keyed = try NSRegularExpression(pattern: #"<td[^>]* data-key="([^"]+)" data-value="([^"]+)""#)
        var checked = Set<String>()
        for m in keyed.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let key = String(html[Range(m.range(at: 1), in: html)!])
            let value = try XCTUnwrap(Double(html[Range(m.range(at: 2), in: html)!]))
            var node: Any? = report
            for part in key.split(separator: ".") {
                if let index = Int(part), let array = node as? [Any] {
                    node = index < array.count ? array[index] : nil
                } else {
                    node = (node as? [String: Any])?[String(part)]
                }
            }
            let expected = try XCTUnwrap(node as? NSNumber, "\(key) is a number of the report", file: file, line: line)
            XCTAssertEqual(value, expected.doubleValue, accuracy: 1e-9, key, file: file, line: line)
            checked.insert(key)
        }
        return checked
    }

    /// No element of the page would fetch anything: no src, href, action or
    /// CSS url() pointing off the page, and the Content-Security-Policy says none.
    func assertOffline(_ html: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fetching = try NSRegularExpression(
            pattern:
                #"(?i)(?:\b(?:src|href|action|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))|url\(\s*["']?\s*(?:[a-z]+:|//)|@import"#
        )
        let matches = fetching.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range, in: html)!])
        }
        XCTAssertEqual(matches, [], file: file, line: line)
        XCTAssertTrue(
            html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"), file: file,
            line: line)
    }
}
