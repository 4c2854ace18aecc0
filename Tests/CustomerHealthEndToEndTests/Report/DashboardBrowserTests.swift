import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `serve`'s pages in headless Chromium: `/` (the served run's report) and
/// `/customers/{id}`, behind the server's token.
final class DashboardBrowserTests: XCTestCase {
    static let token = "report-browser-test-token-0123456789"
    nonisolated(unsafe) static var server: (process: ServeProcess, folder: URL)?
    nonisolated(unsafe) static var browser: HeadlessChromium?

    override class func tearDown() {
        browser = nil
        if let server { try? FileManager.default.removeItem(at: server.folder) }
        server = nil
        super.tearDown()
    }

    /// `serve` on the report fixture's output folder, once for the class.
    func serve() throws -> (base: String, fixture: ReportFixture) {
        let fixture = try ReportFixture.shared()
        if let server = Self.server { return (server.process.base, fixture) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ch-dashboard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tokenFile = folder.appendingPathComponent("token")
        try Data((Self.token + "\n").utf8).write(to: tokenFile)
        let server = try ServeProcess(["--output", fixture.output.path, "--token-file", tokenFile.path])
        Self.server = (server, folder)
        return (server.base, fixture)
    }

    func browser() throws -> HeadlessChromium {
        if Self.browser == nil { Self.browser = try HeadlessChromium() }
        return Self.browser!
    }

    func testTheDashboardIsTheServedRunsReport() throws {
        let (base, fixture) = try serve()
        let browser = try browser()
        try browser.viewport(width: 1280, height: 900)
        // The token once in the address: it becomes a cookie and leaves the address.
        try browser.open(base + "/?token=" + Self.token)
        XCTAssertEqual(try browser.evaluate("location.pathname + location.search") as? String, "/")
        XCTAssertEqual(browser.log.consoleErrors, [])
        XCTAssertTrue(browser.log.requests.allSatisfy { $0.hasPrefix(base + "/") }, "\(browser.log.requests)")
        let canvases = try XCTUnwrap(browser.evaluate(ReportBrowserTests.canvasInk) as? [[Any]])
        XCTAssertGreaterThanOrEqual(canvases.count, 9)
        for canvas in canvases {
            XCTAssertGreaterThan((canvas[1] as? NSNumber)?.intValue ?? 0, 500, "\(canvas[0]) is blank")
        }
        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        let first = try XCTUnwrap(
            browser.evaluate("document.querySelector('#at-risk-table tbody tr a').getAttribute('href')") as? String)
        XCTAssertEqual(first, "/customers/" + (atRisk.first?["customer_id"] as? String ?? "?"))
    }

    func testACustomersPageShowsTheirScoresReasonsAndHistory() throws {
        let (base, fixture) = try serve()
        let browser = try browser()
        try browser.headers(["Authorization": "Bearer " + Self.token])
        defer { try? browser.headers([:]) }
        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        let hostile = try XCTUnwrap(atRisk.first { $0["name"] as? String == ReportFixture.hostileName })
        let id = try XCTUnwrap(hostile["customer_id"] as? String)
        try browser.viewport(width: 390, height: 844, mobile: true)
        try browser.open(base + "/customers/" + id)
        XCTAssertEqual(browser.log.consoleErrors, [])
        XCTAssertEqual(try browser.evaluate("typeof window.pwned") as? String, "undefined")
        XCTAssertEqual(
            try browser.evaluate("document.querySelector('h1 .asof').textContent") as? String, ReportFixture.hostileName
        )
        XCTAssertLessThanOrEqual(try XCTUnwrap(browser.evaluate("document.documentElement.scrollWidth") as? Int), 390)
        let scores = try String(contentsOf: fixture.latest.appendingPathComponent("scores.jsonl"), encoding: .utf8)
        let line = try XCTUnwrap(scores.split(separator: "\n").first { $0.hasPrefix("{\"customer_id\": \"\(id)\"") })
        let score = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let components = try XCTUnwrap(score["component_scores"] as? [String: Any])
        let cells = try XCTUnwrap(
            browser.evaluate(
                """
                Object.fromEntries(Array.from(document.querySelectorAll('#component-table td[data-key]'))
                  .map(function (td) { return [td.getAttribute('data-key'), Number(td.getAttribute('data-value'))]; }))
                """) as? [String: Any])
        for (key, value) in components {
            XCTAssertEqual((cells[key] as? NSNumber)?.doubleValue, (value as? NSNumber)?.doubleValue, key)
        }
        // One history row per run of the output folder, the served one last.
        let dates = try XCTUnwrap(
            browser.evaluate(
                """
                Array.from(document.querySelectorAll('#customer-history-table tbody tr')).map(function (tr) { return tr.cells[0].textContent; })
                """) as? [String])
        XCTAssertEqual(dates, ReportFixture.dates)
        let canvases = try XCTUnwrap(browser.evaluate(ReportBrowserTests.canvasInk) as? [[Any]])
        XCTAssertEqual(canvases.count, 2)
        for canvas in canvases {
            XCTAssertGreaterThan((canvas[1] as? NSNumber)?.intValue ?? 0, 200, "\(canvas[0]) is blank")
        }
    }

    /// `serve --watch`: the dashboard lists what the stream sends after it opened.
    func testWithWatchTheDashboardListsTheStreamsChanges() throws {
        let fixture = try ReportFixture.shared()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ch-dashboard-live-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let exports = folder.appendingPathComponent("exports")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture.root.appendingPathComponent("exports"), to: exports)
        try FileManager.default.copyItem(at: fixture.output, to: folder.appendingPathComponent("output"))
        var text = try String(contentsOf: fixture.pipeline, encoding: .utf8)
        text =
            text.replacingOccurrences(of: "model: models/", with: "model: \(fixture.root.path)/models/")
            + "\nwatch:\n  settle_seconds: 0\n  poll_seconds: 0.1\n"
        let pipeline = folder.appendingPathComponent("pipeline.yaml")
        try Data(text.utf8).write(to: pipeline)
        let server = try ServeProcess(["--watch", pipeline.path])
        // Kept until the end of the scope: ARC may release an object after its last use.
        defer { withExtendedLifetime(server) {} }
        let base = server.base
        let browser = try browser()
        try browser.viewport(width: 1280, height: 900)
        try browser.open(base + "/")
        func poll(_ expression: String, _ what: String) throws -> Any? {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let value = try browser.evaluate(expression), (value as? Bool) != false { return value }
                usleep(100_000)
            }
            XCTFail("\(what) within 60 s")
            return nil
        }
        _ = try poll(
            "document.getElementById('live-state').textContent === 'connected'", "the dashboard connects to the stream")
        // Logins today for the at-risk customers: their recency, and so their health, jumps.
        let atRisk = try XCTUnwrap(fixture.json("at-risk.json")["customers"] as? [[String: Any]])
        let ids = atRisk.prefix(10).compactMap { $0["customer_id"] as? String }
        var csv = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for id in ids { csv += "\(id),\(id)-u01,2026-11-23T23:00:00Z,login,,60\n" }
        // Compressed beside the exports, then renamed in: the watch never sees half a file.
        let late = folder.appendingPathComponent("activity-2026-11-23-late.csv")
        try Data(csv.utf8).write(to: late)
        try ReportFixture.gzip(["-n", late.path])
        try FileManager.default.moveItem(
            at: folder.appendingPathComponent("activity-2026-11-23-late.csv.gz"),
            to: exports.appendingPathComponent("activity-2026-11-23-late.csv.gz"))
        let shown =
            try poll(
                """
                (function () { var rows = document.querySelectorAll('#live-table tbody tr');
                  return rows.length ? Array.from(rows).map(function (tr) { return tr.cells[1].textContent; }) : false; })()
                """, "a change shows in the live table") as? [String]
        XCTAssertTrue(Set(shown ?? []).isSubset(of: Set(ids)) && !(shown ?? []).isEmpty, "\(shown ?? [])")
        XCTAssertEqual(browser.log.consoleErrors, [])
    }

    func testPagesNeedTheTokenAndTheCookieOpensNoAPI() throws {
        let (base, _) = try serve()
        func status(_ path: String, headers: [String: String] = [:]) throws -> Int {
            var request = URLRequest(url: URL(string: base + path)!)
            for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var code = 0
            URLSession.shared.dataTask(with: request) { _, response, _ in
                code = (response as? HTTPURLResponse)?.statusCode ?? 0
                done.signal()
            }.resume()
            _ = done.wait(timeout: .now() + 30)
            return code
        }
        XCTAssertEqual(try status("/"), 401)
        XCTAssertEqual(try status("/?token=wrong-token-wrong-token"), 401)
        XCTAssertEqual(try status("/customers/cust_000001"), 401)
        let cookie = ["Cookie": "customer_health_token=\(Self.token)"]
        XCTAssertEqual(try status("/customers/cust_000001", headers: cookie), 200)
        XCTAssertEqual(try status("/customers/no-such-customer", headers: cookie), 404)
        XCTAssertEqual(try status("/api/customer-success/kpis", headers: cookie), 401)
    }
}
