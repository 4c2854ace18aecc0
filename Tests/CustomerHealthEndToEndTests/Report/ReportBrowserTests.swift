import Foundation
import XCTest

/// report.html as a reader's browser shows it: headless Chromium opens the
/// file written by `replay` (docs/report.md).
final class ReportBrowserTests: XCTestCase {
    nonisolated(unsafe) static var browser: HeadlessChromium?

    override class func tearDown() {
        browser = nil
        super.tearDown()
    }

    /// One browser for the class, opened on the report at desktop width.
    func openReport(width: Int = 1280, height: Int = 900, mobile: Bool = false) throws -> (
        HeadlessChromium, ReportFixture
    ) {
        let fixture = try ReportFixture.shared()
        if Self.browser == nil { Self.browser = try HeadlessChromium() }
        let browser = Self.browser!
        try browser.viewport(width: width, height: height, mobile: mobile)
        try browser.open(fixture.report.absoluteString)
        return (browser, fixture)
    }

    /// Pixels drawn on each canvas of the page, by canvas id.
    static let canvasInk = """
        Array.from(document.querySelectorAll('canvas')).map(function (c) {
          var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
          for (var i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          return [c.id, n, c.getBoundingClientRect().width];
        })
        """

    func testLoadsOfflineWithoutErrorsAndDrawsEveryChart() throws {
        let (browser, fixture) = try openReport()
        XCTAssertEqual(browser.log.consoleErrors, [], "console errors")
        XCTAssertEqual(
            browser.log.requests, [fixture.report.absoluteString], "the report must request nothing but itself")
        let canvases = try XCTUnwrap(browser.evaluate(Self.canvasInk) as? [[Any]])
        let ids = canvases.map { $0[0] as? String ?? "" }
        for expected in [
            "chart-status", "chart-histogram", "chart-history-customers", "chart-history-money", "chart-history-rates",
            "chart-history-scores", "chart-history-status", "chart-churn", "chart-reasons",
        ] {
            XCTAssertTrue(ids.contains(expected), "no \(expected) in \(ids)")
        }
        for canvas in canvases {
            XCTAssertGreaterThan((canvas[1] as? NSNumber)?.intValue ?? 0, 500, "\(canvas[0]) is blank")
        }
    }

    func testTablesHoldTheFiguresOfKpisJSONAndAtRiskJSON() throws {
        let (browser, fixture) = try openReport()
        let kpis = try fixture.json("kpis.json")
        let cells = try XCTUnwrap(
            browser.evaluate(
                """
                Array.from(document.querySelectorAll('#kpi-table td[data-key], #status-table td[data-key], #churn-table td[data-key]'))
                  .map(function (td) { return [td.getAttribute('data-key'), Number(td.getAttribute('data-value'))]; })
                """) as? [[Any]])
        XCTAssertGreaterThan(cells.count, 20)
        for cell in cells {
            let key = cell[0] as? String ?? ""
            let expected = try XCTUnwrap(ReportFixture.number(kpis, key), "kpis.json has no \(key)")
            XCTAssertEqual((cell[1] as? NSNumber)?.doubleValue ?? .nan, expected, accuracy: 1e-9, key)
        }
        let tiles = try XCTUnwrap(
            browser.evaluate(
                "Array.from(document.querySelectorAll('.tile')).map(function (t) { return t.getAttribute('data-key'); })"
            ) as? [String])
        XCTAssertTrue(
            tiles.contains("overview.at_risk_customers") && tiles.contains("financial_metrics.ltv_cac_ratio"),
            "\(tiles)")

        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        let rows = try XCTUnwrap(
            browser.evaluate(
                """
                Array.from(document.querySelectorAll('#at-risk-table tbody tr')).map(function (tr) {
                  return [tr.cells[1].textContent, Number(tr.cells[5].getAttribute('data-value')), tr.cells[4].textContent]; })
                """) as? [[Any]])
        XCTAssertEqual(rows.count, min(50, atRisk.count))
        for (row, customer) in zip(rows, atRisk) {
            XCTAssertEqual(row[0] as? String, customer["customer_id"] as? String)
            XCTAssertEqual((row[1] as? NSNumber)?.doubleValue, (customer["health_score"] as? NSNumber)?.doubleValue)
            XCTAssertEqual(row[2] as? String, customer["intervention_priority"] as? String)
        }
        let pager = try XCTUnwrap(browser.evaluate("document.getElementById('at-risk-pager').textContent") as? String)
        XCTAssertTrue(pager.contains("of \(atRisk.count)"), pager)
    }

    func testFiltersAndSortsTheAtRiskList() throws {
        let (browser, fixture) = try openReport()
        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        let plans = Set(atRisk.compactMap { $0["plan"] as? String }).sorted()
        let plan = try XCTUnwrap(plans.first)
        let filtered = try XCTUnwrap(
            browser.evaluate(
                """
                (function () {
                  var select = document.querySelector('#at-risk-filters select[name=plan]');
                  select.value = \(Self.jsString(plan));
                  select.dispatchEvent(new Event('input', {bubbles: true}));
                  return Array.from(document.querySelectorAll('#at-risk-table tbody tr')).map(function (tr) { return tr.cells[3].textContent; });
                })()
                """) as? [String])
        XCTAssertEqual(filtered.count, min(50, atRisk.filter { $0["plan"] as? String == plan }.count))
        XCTAssertTrue(filtered.allSatisfy { $0 == plan }, "\(filtered)")
        let sorted = try XCTUnwrap(
            browser.evaluate(
                """
                (function () {
                  var select = document.querySelector('#at-risk-filters select[name=plan]');
                  select.value = '';
                  select.dispatchEvent(new Event('input', {bubbles: true}));
                  document.querySelector('#at-risk-table th[data-sort=health]').click();
                  return Array.from(document.querySelectorAll('#at-risk-table tbody tr')).map(function (tr) { return Number(tr.cells[5].getAttribute('data-value')); });
                })()
                """) as? [Double])
        let expected = atRisk.compactMap { ($0["health_score"] as? NSNumber)?.doubleValue }.sorted().prefix(50)
        XCTAssertEqual(sorted, Array(expected))
    }

    func testHostileNamesShowAsTextAndNeverRun() throws {
        let (browser, fixture) = try openReport()
        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        XCTAssertTrue(
            atRisk.contains { $0["name"] as? String == ReportFixture.hostileName },
            "the fixture must put a hostile name on the at-risk list")
        XCTAssertEqual(try browser.evaluate("typeof window.pwned") as? String, "undefined")
        XCTAssertEqual(try browser.evaluate("document.querySelectorAll('img').length") as? Int, 0)
        let shown =
            try browser.evaluate(
                """
                Array.from(document.querySelectorAll('#at-risk-table td')).some(function (td) { return td.textContent === \(Self.jsString(ReportFixture.hostileName)); })
                """) as? Bool
        XCTAssertEqual(shown, true)
        XCTAssertEqual(browser.log.consoleErrors, [])
    }

    func testWorksAtPhoneWidth() throws {
        let (browser, _) = try openReport(width: 390, height: 844, mobile: true)
        let width = try XCTUnwrap(browser.evaluate("document.documentElement.scrollWidth") as? Int)
        XCTAssertLessThanOrEqual(width, 390, "the page scrolls sideways on a phone")
        let canvases = try XCTUnwrap(browser.evaluate(Self.canvasInk) as? [[Any]])
        for canvas in canvases {
            XCTAssertGreaterThan((canvas[1] as? NSNumber)?.intValue ?? 0, 200, "\(canvas[0]) is blank at phone width")
            XCTAssertLessThanOrEqual((canvas[2] as? NSNumber)?.doubleValue ?? 1e9, 390)
        }
        XCTAssertEqual(browser.log.consoleErrors, [])
    }

    static func jsString(_ s: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8), as: UTF8.self)
            .dropFirst().dropLast().description
    }
}
