import CustomerHealthServer
import Foundation
import Synchronization
import XCTest

/// The HTTP routes, end to end over loopback, against the sample outputs.
final class APITests: XCTestCase {
    func lines(_ run: URL) throws -> [String] {
        try String(contentsOf: run.appendingPathComponent("scores.jsonl"), encoding: .utf8).split(separator: "\n").map(
            String.init)
    }

    func testEachRouteAnswersWhatTheRunWrote() throws {
        let runs = try SampleRuns.get()
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest))
        defer { server.stop() }

        // Every customer's line, byte for byte.
        let scoreLines = try lines(runs.newest)
        XCTAssertGreaterThan(scoreLines.count, 100)
        for line in scoreLines.prefix(40) + scoreLines.suffix(10) {
            let id = try XCTUnwrap(
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["customer_id"] as? String)
            let answer = try server.get("/api/customer-success/health/\(id)")
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.text, line)
            XCTAssertEqual(answer.headers["content-type"], "application/json")
            XCTAssertEqual(answer.headers["x-customer-health-as-of"], "2026-11-23")
        }

        let kpis = try server.get("/api/customer-success/kpis")
        XCTAssertEqual(kpis.status, 200)
        XCTAssertEqual(kpis.body, Array(try Data(contentsOf: runs.newest.appendingPathComponent("kpis.json"))))

        // The at-risk list: filtered and paged, entries in the run's order.
        let file =
            try JSONSerialization.jsonObject(with: Data(contentsOf: runs.newest.appendingPathComponent("at-risk.json")))
            as! [String: Any]
        let all = file["customers"] as! [[String: Any]]
        XCTAssertGreaterThan(all.count, 10)
        let firstPage = try server.get("/api/customer-success/at-risk").object()
        XCTAssertEqual(firstPage["total"] as? Int, all.count)
        XCTAssertEqual(
            (firstPage["customers"] as! [[String: Any]]).map { $0["customer_id"] as! String },
            all.prefix(100).map { $0["customer_id"] as! String })
        XCTAssertEqual(
            NSDictionary(dictionary: (firstPage["customers"] as! [[String: Any]])[0]), NSDictionary(dictionary: all[0]))
        for priority in ["critical", "high", "high,critical"] {
            let wanted = all.filter {
                priority.split(separator: ",").contains(Substring($0["intervention_priority"] as! String))
            }
            let page = try server.get("/api/customer-success/at-risk?priority=\(priority)&limit=5&offset=3").object()
            XCTAssertEqual(page["total"] as? Int, wanted.count, priority)
            XCTAssertEqual(page["offset"] as? Int, 3)
            XCTAssertEqual(page["limit"] as? Int, 5)
            XCTAssertEqual(
                (page["customers"] as! [[String: Any]]).map { $0["rank"] as! Int },
                wanted.dropFirst(3).prefix(5).map { $0["rank"] as! Int }, priority)
            XCTAssertEqual(page["count"] as? Int, min(5, max(0, wanted.count - 3)))
        }
        let beyond = try server.get("/api/customer-success/at-risk?offset=100000").object()
        XCTAssertEqual(beyond["count"] as? Int, 0)

        let health = try server.get("/health")
        XCTAssertEqual(health.status, 200)
        let h = try health.object()
        XCTAssertEqual(h["status"] as? String, "ok")
        XCTAssertEqual(h["as_of"] as? String, "2026-11-23")
        XCTAssertEqual(h["customers"] as? Int, scoreLines.count)
        XCTAssertEqual(h["at_risk"] as? Int, all.count)
        XCTAssertGreaterThanOrEqual((h["data_age_seconds"] as? NSNumber)?.doubleValue ?? -1, 0)

        let metrics = try server.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertTrue(
            metrics.text.contains(
                #"customer_health_http_requests_total{route="/api/customer-success/health/{customer_id}",method="GET",status="200"} 50"#
            ), metrics.text)
        XCTAssertTrue(
            metrics.text.contains(
                #"customer_health_http_request_duration_seconds_count{route="/api/customer-success/kpis",method="GET",status="200"} 1"#
            ))
        XCTAssertTrue(metrics.text.contains("customer_health_websocket_clients 0"))
        XCTAssertTrue(metrics.text.contains("customer_health_served_customers \(scoreLines.count)"))
        // 2026-11-23 is day 20,780 since 1970-01-01.
        XCTAssertTrue(metrics.text.contains("customer_health_served_as_of_timestamp_seconds 1795392000"), metrics.text)
        XCTAssertTrue(metrics.text.contains("customer_health_served_run_age_seconds "))
    }

    func testUnknownIdsAndBadParametersGetJSONErrors() throws {
        let runs = try SampleRuns.get()
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest)) {
            $0.requestHeadTimeoutSeconds = 1
        }
        defer { server.stop() }
        let cases: [(String, Int, String)] = [
            ("/ws/customer-health", 426, "is a WebSocket"),
            ("/api/customer-success/health/cust_999999", 404, #"no customer "cust_999999""#),
            // Ids are looked up, never used as paths.
            ("/api/customer-success/health/..%2Fkpis.json", 404, #"no customer "../kpis.json""#),
            ("/api/customer-success/health/%2E%2E", 404, #"no customer "..""#),
            ("/api/customer-success/health/CUST_000001", 404, "no customer"),
            ("/api/customer-success/health/%ZZ", 400, "percent-encoding"),
            ("/api/customer-success/at-risk?limit=0", 400, "limit must be a whole number from 1 to 1000"),
            ("/api/customer-success/at-risk?limit=abc", 400, "limit must be"),
            ("/api/customer-success/at-risk?offset=-1", 400, "offset must be a whole number 0 or more"),
            ("/api/customer-success/at-risk?priority=urgent", 400, "not urgent"),
            ("/api/customer-success/nothing", 404, "no route GET /api/customer-success/nothing"),
        ]
        for (path, status, message) in cases {
            let answer = try server.get(path)
            XCTAssertEqual(answer.status, status, path)
            let error = try answer.object()["error"] as? [String: Any]
            XCTAssertEqual(error?["status"] as? Int, status, path)
            XCTAssertTrue((error?["message"] as? String)?.contains(message) ?? false, "\(path): \(answer.text)")
        }
        // A known path with another method: 405 and what is allowed.
        let post = try HTTPClient.request(port: server.port, "/api/customer-success/kpis", method: "POST")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers["allow"], "GET, HEAD")
        XCTAssertEqual(try HTTPClient.request(port: server.port, "/nothing", method: "DELETE").status, 404)
        // A body is refused: no route takes one.
        let big = try HTTPClient.request(
            port: server.port, "/api/customer-success/kpis", method: "GET", body: Array(repeating: 0x41, count: 5000))
        XCTAssertEqual(big.status, 413)
        XCTAssertEqual((try big.object()["error"] as? [String: Any])?["status"] as? Int, 413)
        let chunked = try LoopbackSocket(port: server.port)
        try chunked.send(
            "GET /api/customer-success/kpis HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n\(String(repeating: "b", count: 5000))\r\n0\r\n\r\n"
        )
        XCTAssertEqual(try HTTPClient.readAnswer(chunked).status, 413, "a chunked body is measured too")
        // A request head above 16 KiB gets 431 and its connection is closed;
        // one below is served. A client that sends nothing is closed once
        // the first-request deadline passes.
        for (size, status) in [(8_000, 200), (40_000, 431)] {
            let socket = try LoopbackSocket(port: server.port, timeoutSeconds: 5)
            try? socket.send(
                "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: \(String(repeating: "a", count: size))\r\n\r\n"
            )
            XCTAssertEqual(try HTTPClient.readAnswer(socket).status, status, "\(size)-byte head")
        }
        let silent = try LoopbackSocket(port: server.port, timeoutSeconds: 5)
        let opened = Date()
        XCTAssertEqual(try silent.readToEnd(), [], "a silent client is closed")
        XCTAssertLessThan(Date().timeIntervalSince(opened), 4.5)

        // HEAD works wherever GET does (load-balancer checks).
        XCTAssertEqual(try HTTPClient.request(port: server.port, "/health", method: "HEAD").status, 200)
    }

    /// Connections that have sent nothing are closed at shutdown, including
    /// those the kernel queued just before it and the server set up after it
    /// began: none holds the shutdown for its 10 s first-request deadline.
    func testAShutdownDoesNotWaitForConnectionsThatSentNothing() throws {
        let runs = try SampleRuns.get()
        for round in 0..<5 {
            let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest))
            let idle = try (0..<16).map { _ in try LoopbackSocket(port: server.port, timeoutSeconds: 8) }
            let started = Date()
            server.stop()
            XCTAssertLessThan(
                Date().timeIntervalSince(started), 5, "round \(round): the shutdown waited for idle connections")
            // Closed, or reset if still in the listen queue when the
            // listening socket closed; never left open.
            for socket in idle {
                do {
                    let unread = try socket.readToEnd()
                    XCTAssertEqual(unread, [], "round \(round): an idle connection is closed")
                } catch let failure as LoopbackSocket.Failure where failure.description == "recv: errno \(ECONNRESET)" {
                }
            }
        }
    }

    func testEveryAnswerFitsTheOpenAPIDocument() throws {
        let runs = try SampleRuns.get()
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest))
        defer { server.stop() }
        let documentAnswer = try server.get("/openapi.json")
        XCTAssertEqual(documentAnswer.status, 200)
        let validator = SchemaValidator(document: try documentAnswer.object())
        XCTAssertEqual(validator.document["openapi"] as? String, "3.1.0")

        var checked = 0
        func check(_ path: String, template: String, status: Int) throws {
            let answer = try server.get(path)
            XCTAssertEqual(answer.status, status, path)
            let schema = try XCTUnwrap(
                validator.responseSchema(path: template, status: status), "\(template) \(status) has no schema")
            XCTAssertEqual(validator.errors(try answer.json(), schema), [], path)
            checked += 1
        }
        for line in try lines(runs.newest) {
            let id =
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["customer_id"] as! String
            try check(
                "/api/customer-success/health/\(id)", template: "/api/customer-success/health/{customer_id}",
                status: 200)
        }
        try check(
            "/api/customer-success/health/nobody", template: "/api/customer-success/health/{customer_id}", status: 404)
        try check("/api/customer-success/kpis", template: "/api/customer-success/kpis", status: 200)
        try check("/api/customer-success/at-risk?limit=1000", template: "/api/customer-success/at-risk", status: 200)
        try check("/api/customer-success/at-risk?limit=x", template: "/api/customer-success/at-risk", status: 400)
        try check("/health", template: "/health", status: 200)

        // The validator itself notices a wrong answer.
        let schema = try XCTUnwrap(validator.responseSchema(path: "/api/customer-success/kpis", status: 200))
        XCTAssertFalse(validator.errors(["as_of": 3], schema).isEmpty)

        let empty = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: nil))
        defer { empty.stop() }
        let unavailable = try empty.get("/health")
        XCTAssertEqual(unavailable.status, 503)
        XCTAssertEqual(
            validator.errors(
                try unavailable.json(), try XCTUnwrap(validator.responseSchema(path: "/health", status: 503))), [])
        let noRun = try empty.get("/api/customer-success/kpis")
        XCTAssertEqual(noRun.status, 503)
        XCTAssertEqual(
            validator.errors(
                try noRun.json(),
                try XCTUnwrap(validator.responseSchema(path: "/api/customer-success/kpis", status: 503))), [])
        XCTAssertGreaterThan(checked, 100)
    }

    func testABearerTokenGuardsEveryRouteButHealth() throws {
        let runs = try SampleRuns.get()
        let token = "s3cret-token-0123456789abcdef"
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest)) {
            $0.token = token
        }
        defer { server.stop() }
        for path in [
            "/api/customer-success/kpis", "/api/customer-success/health/cust_000001", "/api/customer-success/at-risk",
            "/metrics", "/openapi.json",
        ] {
            let none = try server.get(path)
            XCTAssertEqual(none.status, 401, path)
            XCTAssertEqual(none.headers["www-authenticate"], #"Bearer realm="customer-health""#)
            XCTAssertEqual(try server.get(path, token: token + "x").status, 401, path)
            XCTAssertEqual(try server.get(path, token: String(token.dropLast())).status, 401, path)
            XCTAssertEqual(try server.get(path, token: token).status, 200, path)
        }
        XCTAssertEqual(try server.get("/health").status, 200)
        XCTAssertEqual(
            try HTTPClient.request(
                port: server.port, "/api/customer-success/kpis", headers: ["Authorization": "bearer \(token)"]
            ).status, 200,
            "the scheme is case-insensitive")
        // Refusals count under their route, not as unmatched.
        XCTAssertTrue(
            try server.get("/metrics", token: token).text.contains(
                #"customer_health_http_requests_total{route="/api/customer-success/kpis",method="GET",status="401"} 3"#)
        )
        // The WebSocket layer answers every refused upgrade 400 (it cannot
        // carry another status); no stream without the token.
        XCTAssertThrowsError(try WebSocketTestClient(port: server.port)) { error in
            XCTAssertEqual((error as? WebSocketTestClient.UpgradeRefused)?.status, 400)
        }
        XCTAssertNoThrow(try WebSocketTestClient(port: server.port, headers: ["Authorization": "Bearer \(token)"]))

        // Anything but loopback needs a token.
        var open = ServeSettings(outputDirectory: "/nonexistent")
        for host in ["0.0.0.0", "::", "10.1.2.3", "127.example.com", "localhost.example.com", "::2"] {
            open.host = host
            XCTAssertThrowsError(try open.validate(), host) { XCTAssertTrue("\($0)".contains("--token-file")) }
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "localhost"] {
            open.host = host
            XCTAssertNoThrow(try open.validate(), host)
        }
        open.host = "0.0.0.0"
        open.token = token
        XCTAssertNoThrow(try open.validate())
        open.reloadSeconds = .nan
        XCTAssertThrowsError(try open.validate()) { XCTAssertTrue("\($0)".contains("--reload")) }

        let dir = Scratch.path("ch-token")
        try "short\n".write(to: dir, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ServeSettings.readToken(path: dir.path)) {
            XCTAssertTrue("\($0)".contains("at least 16"))
        }
        try "\(token)  \nsecond line\n".write(to: dir, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ServeSettings.readToken(path: dir.path), token)
        try "\(token)\r\n".write(to: dir, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ServeSettings.readToken(path: dir.path), token, "a CRLF file")
    }

    /// Requests keep running while OUTPUT/latest flips between two runs:
    /// every answer comes whole from one of them.
    func testAReloadNeverMixesTwoRuns() throws {
        let runs = try SampleRuns.get()
        let output = try SampleRuns.outputFolder(pointingAt: nil)
        let server = try RunningServer(output: output)
        defer { server.stop() }
        XCTAssertEqual(try server.get("/health").status, 503)

        let newest = Dictionary(
            uniqueKeysWithValues: try lines(runs.newest).map { (String($0.dropFirst(17).prefix(11)), $0) })
        let older = Dictionary(
            uniqueKeysWithValues: try lines(runs.older).map { (String($0.dropFirst(17).prefix(11)), $0) })
        let kpis = [
            "2026-11-23": try String(contentsOf: runs.newest.appendingPathComponent("kpis.json"), encoding: .utf8),
            "2026-10-31": try String(contentsOf: runs.older.appendingPathComponent("kpis.json"), encoding: .utf8),
        ]
        let shared = Set(newest.keys).intersection(older.keys).sorted()
        XCTAssertGreaterThan(shared.count, 100)

        try SampleRuns.point(output, at: runs.older)
        try server.waitUntil("the first run is served") { try server.get("/health").status == 200 }

        let stop = DispatchSemaphore(value: 0)
        let flipper = Thread {
            var flips = 0
            while stop.wait(timeout: .now() + 0.03) == .timedOut {
                try? SampleRuns.point(output, at: flips % 2 == 0 ? runs.newest : runs.older)
                flips += 1
            }
        }
        flipper.start()
        let problems = Mutex<[String]>([])
        let seen = Mutex<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for i in 0..<150 {
                do {
                    let id = shared[(worker * 150 + i) % shared.count]
                    let answer =
                        try (i % 3 == 0)
                        ? server.get("/api/customer-success/kpis") : server.get("/api/customer-success/health/\(id)")
                    let asOf = answer.headers["x-customer-health-as-of"] ?? "?"
                    seen.withLock { _ = $0.insert(asOf) }
                    let expected = i % 3 == 0 ? kpis[asOf] : (asOf == "2026-11-23" ? newest[id] : older[id])
                    if answer.status != 200 || answer.text != expected {
                        problems.withLock {
                            $0.append("status \(answer.status), as of \(asOf): \(answer.text.prefix(120))")
                        }
                    }
                } catch {
                    problems.withLock { $0.append("\(error)") }
                }
            }
        }
        stop.signal()
        XCTAssertEqual(problems.withLock { $0 }, [String]())
        XCTAssertEqual(seen.withLock { $0 }, Set(["2026-11-23", "2026-10-31"]), "the answers came from both runs")
        let metrics = try server.get("/metrics").text
        XCTAssertFalse(
            metrics.contains("customer_health_serve_runs_loaded_total 1\n"), "the server reloaded more than once")
    }

    func testABrokenNewRunKeepsThePreviousOneServed() throws {
        let runs = try SampleRuns.get()
        let output = try SampleRuns.outputFolder(pointingAt: runs.newest)
        let server = try RunningServer(output: output)
        defer { server.stop() }
        XCTAssertEqual(try server.get("/health").status, 200)

        // A run folder whose scores.jsonl is cut in the middle of a line.
        let broken = output.appendingPathComponent(".runs/broken")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        for name in ["kpis.json", "at-risk.json"] {
            try FileManager.default.copyItem(
                at: runs.older.appendingPathComponent(name), to: broken.appendingPathComponent(name))
        }
        let scores = try Data(contentsOf: runs.older.appendingPathComponent("scores.jsonl"))
        try scores.prefix(scores.count / 2).write(to: broken.appendingPathComponent("scores.jsonl"))
        try SampleRuns.point(output, at: broken)

        try server.waitUntil("the reload error is reported") {
            (try server.get("/health").object()["reload_error"] as? String)?.contains("scores.jsonl: line") ?? false
        }
        let health = try server.get("/health").object()
        XCTAssertEqual(health["as_of"] as? String, "2026-11-23", "the previous run is still served")
        XCTAssertEqual(try server.get("/api/customer-success/health/cust_000001").status, 200)

        // latest goes back to the run served: the error is over.
        try SampleRuns.point(output, at: runs.newest)
        try server.waitUntil("the reload error clears") { try server.get("/health").object()["reload_error"] is NSNull }
    }
}
