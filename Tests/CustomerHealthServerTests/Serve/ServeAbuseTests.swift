import CustomerHealthServer
import Foundation
import Synchronization
import XCTest

/// Clients that misbehave (issue 12): whatever a connection sends, the server
/// closes it within its deadline, and /health keeps answering meanwhile.
final class ServeAbuseTests: XCTestCase {
    /// Deadlines short enough for the test to take a few seconds. The idle
    /// timeout is the longest, so that a connection closed at once can be
    /// told apart from one closed for being idle.
    static let headSeconds = 1.0
    static let bodySeconds = 1.0
    static let idleSeconds = 2.0
    static let pingSeconds = 0.5
    static let closeSeconds = 0.5
    static let lingerSeconds = 0.25
    static let sendStallSeconds = 0.5
    /// How late a close may come: timers fire late on a loaded 2-core
    /// machine running a debug build.
    static let slack = 1.0
    /// How long a client waits beyond its bound before it gives up, so that
    /// a connection left open fails the test instead of hanging it.
    static let patience = 2.0

    static func shortDeadlines(_ settings: inout ServeSettings) {
        settings.requestHeadTimeoutSeconds = headSeconds
        settings.requestBodyTimeoutSeconds = bodySeconds
        settings.idleTimeoutSeconds = idleSeconds
        settings.webSocketPingSeconds = pingSeconds
        settings.webSocketCloseTimeoutSeconds = closeSeconds
        settings.lingerSeconds = lingerSeconds
        settings.sendStallTimeoutSeconds = sendStallSeconds
    }

    /// One way for a client to misbehave, played on a connection of its own.
    struct Misbehaviour: Sendable {
        let name: String
        /// Returns what went wrong, or nil when the server answered as it
        /// should and closed the connection in time.
        let play: @Sendable (_ port: Int) throws -> String?
    }

    /// nil when the connection was closed for good within `bound` seconds
    /// of `since`.
    static func lateness(_ ending: LoopbackSocket.Ending, since: Date, bound: Double) -> String? {
        func seconds(_ date: Date) -> String { String(format: "%.2f s", date.timeIntervalSince(since)) }
        guard let closedAt = ending.closedAt else {
            let shut = ending.endOfStreamAt.map { "shut its side after \(seconds($0)) but " } ?? ""
            return "\(shut)still open after \(seconds(Date())) (allowed: \(bound) s)"
        }
        return closedAt.timeIntervalSince(since) <= bound
            ? nil : "closed after \(seconds(closedAt)) (allowed: \(bound) s)"
    }

    /// Every problem found, or nil.
    static func problems(_ found: String?...) -> String? {
        let all = found.compactMap { $0 }
        return all.isEmpty ? nil : all.joined(separator: "; ")
    }

    static let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    static let misbehaviours: [Misbehaviour] = [
        Misbehaviour(name: "a request line without a version") { port in
            let socket = try LoopbackSocket(port: port)
            let sent = Date()
            try socket.send("GET /health\r\n\r\n")
            // Answered and closed at once.
            let ending = socket.waitForClose(until: sent + headSeconds + slack + patience)
            return problems(
                ending.text.hasPrefix("HTTP/1.1 400 ")
                    ? nil : "answered \(ending.text.prefix(30).debugDescription), not 400",
                lateness(ending, since: sent, bound: slack))
        },
        Misbehaviour(name: "a request line without a version after a request") { port in
            let socket = try LoopbackSocket(port: port)
            try socket.send(request)
            guard try HTTPClient.readAnswer(socket).status == 200 else { return "the first request failed" }
            let sent = Date()
            try socket.send("GET /health\r\n\r\n")
            // Answered at once; then the connection lingers for the client to
            // close its side.
            let ending = socket.waitForClose(until: sent + lingerSeconds + slack + patience)
            return problems(
                ending.text.hasPrefix("HTTP/1.1 400 ")
                    ? nil : "answered \(ending.text.prefix(30).debugDescription), not 400",
                lateness(ending, since: sent, bound: lingerSeconds + slack))
        },
        Misbehaviour(name: "a slow head") { port in
            let socket = try LoopbackSocket(port: port)
            let opened = Date()
            let head =
                Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8)
                + [UInt8](repeating: UInt8(ascii: "a"), count: 500)
            let ending = socket.trickle(head, every: 0.1, until: opened + headSeconds + slack + patience)
            return lateness(ending, since: opened, bound: headSeconds + slack)
        },
        Misbehaviour(name: "a slow body") { port in
            // A byte at a time, each well within the idle timeout.
            let socket = try LoopbackSocket(port: port)
            try socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
            let headSent = Date()
            let ending = socket.trickle(
                [UInt8](repeating: UInt8(ascii: "a"), count: 1000), every: 0.1,
                until: headSent + bodySeconds + slack + patience)
            return lateness(ending, since: headSent, bound: bodySeconds + slack)
        },
        Misbehaviour(name: "a half-close after a partial head") { port in
            let socket = try LoopbackSocket(port: port)
            try socket.send("GET /health HT")
            socket.shutdownWrite()
            let shut = Date()
            // Closed at once (the head can no longer come).
            return lateness(
                socket.waitForClose(until: shut + headSeconds + slack + patience), since: shut, bound: slack)
        },
        Misbehaviour(name: "an idle keep-alive connection") { port in
            let socket = try LoopbackSocket(port: port)
            try socket.send(request)
            guard try HTTPClient.readAnswer(socket).status == 200 else { return "the request failed" }
            let answered = Date()
            let ending = socket.waitForClose(until: answered + idleSeconds + slack + patience)
            if let closedAt = ending.closedAt, closedAt.timeIntervalSince(answered) < idleSeconds - 0.3 {
                return "closed after \(closedAt.timeIntervalSince(answered)) s, before the idle timeout"
            }
            return lateness(ending, since: answered, bound: idleSeconds + slack)
        },
        Misbehaviour(name: "an HTTP/1.0 request") { port in
            let socket = try LoopbackSocket(port: port)
            let sent = Date()
            try socket.send("GET /health HTTP/1.0\r\n\r\n")
            let ending = socket.waitForClose(until: sent + idleSeconds + slack + patience)
            // Ended after the answer, long before the idle timeout.
            return problems(
                ending.text.hasPrefix("HTTP/1.0 200 ")
                    ? nil : "answered \(ending.text.prefix(30).debugDescription), not HTTP/1.0 200",
                lateness(ending, since: sent, bound: lingerSeconds + slack))
        },
        Misbehaviour(name: "an HTTP/1.0 request asking for keep-alive") { port in
            let socket = try LoopbackSocket(port: port)
            for _ in 0..<2 {
                try socket.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                let answer = try HTTPClient.readAnswer(socket)
                guard answer.version == "HTTP/1.0", answer.status == 200,
                    answer.headers["connection"]?.lowercased() == "keep-alive"
                else {
                    return
                        "answered \(answer.version) \(answer.status), Connection: \(answer.headers["connection"] ?? "none")"
                }
            }
            let answered = Date()
            return lateness(
                socket.waitForClose(until: answered + idleSeconds + slack + patience), since: answered,
                bound: idleSeconds + slack)
        },
        Misbehaviour(name: "answers never read") { port in
            // Enough pipelined requests for their answers to fill every
            // buffer between the server and a client that reads nothing.
            let socket = try LoopbackSocket(port: port, receiveBuffer: 4096)
            let requests = 300
            try socket.send(
                String(
                    repeating: "GET /api/customer-success/at-risk?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    count: requests))
            // Reading would let the answers through: wait, without reading,
            // for the buffers to fill (allowed: 1 s) and the stall deadline to
            // pass, then take what was sent. A connection closed while
            // stalled ends before the last answer.
            usleep(UInt32((1 + 2 * sendStallSeconds + slack) * 1_000_000))
            let ending = socket.waitForClose(until: Date() + patience)
            let answers = ending.text.components(separatedBy: "HTTP/1.1 200 ").count - 1
            if ending.closedAt == nil { return "still open after its answers stalled (\(answers) of \(requests) sent)" }
            return answers < requests ? nil : "all \(requests) answers were sent: the stalled connection was kept"
        },
        Misbehaviour(name: "garbage after a WebSocket upgrade") { port in
            // A frame header announcing more bytes than ever come: only the
            // pings that go unanswered can end it.
            let client = try WebSocketTestClient(port: port, timeoutSeconds: 5)
            let sent = Date()
            try client.socket.send(request)
            let ending = client.socket.waitForClose(
                until: sent + 2 * pingSeconds + slack + patience, probe: WebSocketTestClient.incompleteFrame)
            return lateness(ending, since: sent, bound: 2 * pingSeconds + slack)
        },
        Misbehaviour(name: "an unmasked WebSocket frame") { port in
            let client = try WebSocketTestClient(port: port, timeoutSeconds: 5)
            let sent = Date()
            try client.socket.send(WebSocketTestClient.unmaskedTextFrame(#"{"subscribe": {}}"#))
            switch try client.next() {
            case .text(let text): return "answered an unmasked frame with \(text)"
            case .close(let code): if code != 1002 { return "closed with code \(code), not 1002" }
            }
            let ending = client.socket.waitForClose(
                until: sent + closeSeconds + slack + patience, probe: WebSocketTestClient.incompleteFrame)
            return lateness(ending, since: sent, bound: closeSeconds + slack)
        },
        Misbehaviour(name: "a WebSocket text frame of invalid UTF-8") { port in
            let client = try WebSocketTestClient(port: port, timeoutSeconds: 5)
            let sent = Date()
            try client.socket.send(WebSocketTestClient.maskedTextFrame([0x7B, 0xC3, 0x28, 0xFF, 0x7D]))
            switch try client.next() {
            case .text(let text): return "answered invalid UTF-8 with \(text)"
            case .close(let code): if code != 1007 { return "closed with code \(code), not 1007" }
            }
            let ending = client.socket.waitForClose(
                until: sent + closeSeconds + slack + patience, probe: WebSocketTestClient.incompleteFrame)
            return lateness(ending, since: sent, bound: closeSeconds + slack)
        },
    ]

    /// GET /health on a connection of its own, giving up after 2 s.
    static func health(port: Int) throws -> HTTPAnswer {
        let socket = try LoopbackSocket(port: port, timeoutSeconds: 2)
        try socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return try HTTPClient.readAnswer(socket)
    }

    /// Three connections of each misbehaviour at once, each on a thread of
    /// its own (they block); /health is asked over and over meanwhile.
    func testMisbehavingConnectionsAreClosedWithinTheirDeadlinesWhileHealthAnswers() throws {
        let runs = try SampleRuns.get()
        let server = try RunningServer(
            output: try SampleRuns.outputFolder(pointingAt: runs.newest), configure: Self.shortDeadlines)
        defer { server.stop() }
        let port = server.port
        let copies = 3
        let failures = Mutex<[String]>([])
        let playing = Atomic<Int>(Self.misbehaviours.count * copies)
        let done = DispatchSemaphore(value: 0)
        for misbehaviour in Self.misbehaviours {
            for copy in 1...copies {
                let thread = Thread {
                    defer {
                        playing.subtract(1, ordering: .relaxed)
                        done.signal()
                    }
                    do {
                        if let failure = try misbehaviour.play(port) {
                            failures.withLock { $0.append("\(misbehaviour.name) (\(copy)): \(failure)") }
                        }
                    } catch {
                        failures.withLock { $0.append("\(misbehaviour.name) (\(copy)): \(error)") }
                    }
                }
                thread.start()
            }
        }

        // No client plays longer than its bound (the idle timeout's is the
        // longest) plus its patience.
        let giveUp = Date() + Self.idleSeconds + Self.slack + Self.patience + 5
        var probes = 0
        var slowest = 0.0
        while playing.load(ordering: .relaxed) > 0 && Date() < giveUp {
            let asked = Date()
            let answer = try Self.health(port: port)
            slowest = max(slowest, Date().timeIntervalSince(asked))
            XCTAssertEqual(answer.status, 200)
            probes += 1
            usleep(20_000)
        }
        for _ in 0..<(Self.misbehaviours.count * copies) {
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "a misbehaving client did not finish")
        }
        XCTAssertGreaterThan(probes, 20)
        XCTAssertLessThan(slowest, 1.0, "/health took \(slowest) s while the misbehaving connections were open")
        for failure in failures.withLock({ $0 }).sorted() { XCTFail(failure) }
    }

    /// A WebSocket client that stops reading cannot hold its connection: the
    /// pings wait behind the lines it does not read, and go unanswered.
    func testAWebSocketClientThatStopsReadingIsClosed() throws {
        let server = try RunningServer(
            output: try SampleRuns.outputFolder(pointingAt: nil), configure: Self.shortDeadlines)
        defer { server.stop() }
        let client = try WebSocketTestClient(port: server.port, receiveBuffer: 4096)
        try server.waitUntil("the client is connected") { server.server.hub.clientCount == 1 }
        // More than every buffer between the server and the client holds;
        // fewer than the client buffer, so that the hub does not drop it.
        let lines = 20_000
        let padding = String(repeating: "x", count: 1000)
        server.server.hub.publish(
            (1...lines).map { #"{"type": "heartbeat", "seq": \#($0), "padding": "\#(padding)"}"# })
        // Reading would let the lines through: wait, without reading, for the
        // buffers to fill (allowed: 1 s) and the ping deadline to pass.
        usleep(UInt32((1 + 2 * Self.pingSeconds + Self.slack) * 1_000_000))
        let ending = client.socket.waitForClose(
            until: Date() + Self.patience, probe: WebSocketTestClient.incompleteFrame)
        let received = ending.text.components(separatedBy: #""type": "heartbeat""#).count - 1
        XCTAssertNotNil(ending.closedAt, "still open after its lines stalled (\(received) of \(lines) sent)")
        XCTAssertLessThan(received, lines, "every line was sent: the stalled connection was kept")
    }

    /// A request line without an HTTP version used to leave its connection
    /// open for ever: enough of them took every connection the server allows,
    /// and /health was never answered. Each now gets 400 at once.
    func testRequestLinesWithoutAVersionCannotTakeEveryConnection() throws {
        let runs = try SampleRuns.get()
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: runs.newest)) {
            $0.maxConnections = 4
        }
        defer { server.stop() }
        // More than the cap, and more than the server accepts in one go.
        let crowd = try (0..<16).map { _ in
            let socket = try LoopbackSocket(port: server.port, timeoutSeconds: 2)
            try socket.send("GET /health\r\n\r\n")
            return socket
        }
        let asked = Date()
        let answer = try Self.health(port: server.port)
        XCTAssertEqual(answer.status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(asked), 1.0)
        for (index, socket) in crowd.enumerated() {
            let ending = socket.waitForClose(until: Date() + 2)
            XCTAssertNotNil(ending.closedAt, "connection \(index) is still open")
            XCTAssertTrue(
                ending.text.hasPrefix("HTTP/1.1 400 "), "connection \(index) got \(ending.text.debugDescription)")
        }
    }
}
