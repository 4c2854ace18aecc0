import CustomerHealth
import CustomerHealthServer
import Foundation
import Synchronization
import XCTest

/// WS /ws/customer-health, end to end over loopback.
final class StreamTests: XCTestCase {
    /// A customer_health_update line as the watch mode writes it.
    static func update(seq: Int, customer: String, priority: String) -> String {
        #"{"type": "customer_health_update", "seq": \#(seq), "data": {"customer_id": "\#(customer)", "health_score": 50, "health_status": "warning", "churn_probability": null, "churn_risk": null, "intervention_priority": "\#(priority)", "previous": null, "last_updated": "2026-11-24T10:30:00Z"}}"#
    }

    static func seq(_ object: [String: Any]) -> Int? { object["seq"] as? Int }

    func emptyServer(_ configure: (inout ServeSettings) -> Void = { _ in }) throws -> RunningServer {
        try RunningServer(output: try SampleRuns.outputFolder(pointingAt: nil), configure: configure)
    }

    func testSubscriptionsFilterCustomerUpdatesAndAreAcknowledged() throws {
        let server = try emptyServer()
        defer { server.stop() }
        let all = try WebSocketTestClient(port: server.port)
        let byID = try WebSocketTestClient(port: server.port)
        let urgent = try WebSocketTestClient(port: server.port, path: "/ws/customer-health?min_priority=medium")
        try server.waitUntil("three clients are connected") { server.server.hub.clientCount == 3 }

        try byID.send(#"{"subscribe": {"customer_ids": ["cust_000002", "cust_000001"]}}"#)
        let ack = try byID.nextObject()
        XCTAssertEqual(ack["type"] as? String, "subscribed")
        XCTAssertEqual(ack["customer_ids"] as? [String], ["cust_000001", "cust_000002"])
        try urgent.send(#"{"subscribe": {"min_priority": "high"}}"#)
        XCTAssertEqual(try urgent.nextObject()["min_priority"] as? String, "high")
        try urgent.send(#"{"subscribe": {"min_priority": "urgent"}}"#)
        let refused = try urgent.nextObject()
        XCTAssertEqual(refused["type"] as? String, "error")
        XCTAssertTrue((refused["message"] as? String)?.contains("min_priority must be one of") ?? false)
        try urgent.send("not json")
        XCTAssertEqual(
            try urgent.nextObject()["type"] as? String, "error", "a bad message is answered, the connection stays")

        server.server.hub.publish([
            Self.update(seq: 1, customer: "cust_000001", priority: "low"),
            Self.update(seq: 2, customer: "cust_000003", priority: "high"),
            Self.update(seq: 3, customer: "cust_000004", priority: "critical"),
            Self.update(seq: 4, customer: "cust_000005", priority: "medium"),
            #"{"type": "kpi_update", "seq": 5, "data": {"as_of": "2026-11-24"}}"#,
        ])
        XCTAssertEqual(try (0..<5).map { _ in Self.seq(try all.nextObject()) }, [1, 2, 3, 4, 5])
        XCTAssertEqual(try (0..<2).map { _ in Self.seq(try byID.nextObject()) }, [1, 5])
        XCTAssertEqual(try (0..<3).map { _ in Self.seq(try urgent.nextObject()) }, [2, 3, 5])
        // Nothing else was queued for the filtered clients.
        server.server.hub.publish([#"{"type": "heartbeat", "seq": 5, "files_seen": 3, "lag_seconds": 0.1}"#])
        XCTAssertEqual(try byID.nextObject()["type"] as? String, "heartbeat")
        XCTAssertEqual(try urgent.nextObject()["type"] as? String, "heartbeat")

        XCTAssertThrowsError(try WebSocketTestClient(port: server.port, path: "/ws/customer-health?since=x")) {
            XCTAssertEqual(($0 as? WebSocketTestClient.UpgradeRefused)?.status, 400)
        }
        XCTAssertTrue(try server.get("/metrics").text.contains("customer_health_websocket_clients 3"))
    }

    func testAReconnectingClientGetsWhatItMissedWhileBuffered() throws {
        let server = try emptyServer { $0.stream.replayBuffer = 20 }
        defer { server.stop() }
        server.server.hub.publish(
            (1...50).map { Self.update(seq: $0, customer: String(format: "cust_%06d", $0 % 3), priority: "low") })

        let recent = try WebSocketTestClient(port: server.port, path: "/ws/customer-health?since=45")
        XCTAssertEqual(try (0..<5).map { _ in Self.seq(try recent.nextObject()) }, [46, 47, 48, 49, 50])

        // Updates 11-30 are gone from the buffer: the client is told first.
        let late = try WebSocketTestClient(
            port: server.port, path: "/ws/customer-health?since=10&customer_ids=cust_000001")
        let gap = try late.nextObject()
        XCTAssertEqual(gap["type"] as? String, "replay_gap")
        XCTAssertEqual(gap["oldest_buffered_seq"] as? Int, 31)
        XCTAssertEqual(try (0..<7).map { _ in Self.seq(try late.nextObject()) }, [31, 34, 37, 40, 43, 46, 49])

        // Then the live stream goes on, with no repeat and no hole.
        server.server.hub.publish([Self.update(seq: 51, customer: "cust_000001", priority: "low")])
        XCTAssertEqual(Self.seq(try late.nextObject()), 51)
        XCTAssertEqual(Self.seq(try recent.nextObject()), 51)
    }

    /// The watch loop repeats its last batch after a restart from its
    /// checkpoint, and a restarted server starts from the checkpoint's seq:
    /// no client gets a seq twice, and a reconnect learns what it missed.
    func testRepeatedSeqsAreDroppedAndARestartedStreamSaysWhatIsLost() throws {
        let server = try emptyServer()
        defer { server.stop() }
        server.server.hub.resume(afterSeq: 100)
        let client = try WebSocketTestClient(port: server.port)
        try server.waitUntil("the client is connected") { server.server.hub.clientCount == 1 }
        server.server.hub.publish((99...102).map { Self.update(seq: $0, customer: "cust_000001", priority: "low") })
        server.server.hub.publish((101...103).map { Self.update(seq: $0, customer: "cust_000001", priority: "low") })
        XCTAssertEqual(try (0..<3).map { _ in Self.seq(try client.nextObject()) }, [101, 102, 103])

        let behind = try WebSocketTestClient(port: server.port, path: "/ws/customer-health?since=50")
        let gap = try behind.nextObject()
        XCTAssertEqual(gap["type"] as? String, "replay_gap")
        XCTAssertEqual(gap["oldest_buffered_seq"] as? Int, 101)
        XCTAssertEqual(try (0..<3).map { _ in Self.seq(try behind.nextObject()) }, [101, 102, 103])

        let ahead = try WebSocketTestClient(port: server.port, path: "/ws/customer-health?since=500")
        let reset = try ahead.nextObject()
        XCTAssertEqual(reset["type"] as? String, "replay_gap")
        XCTAssertEqual(reset["last_seq"] as? Int, 103)
    }

    /// One client stops reading: it is dropped once more than its buffer is
    /// queued, while a reading client receives every line in order.
    func testASlowClientIsDroppedWithoutHoldingTheOthersBack() throws {
        let server = try emptyServer { $0.stream.clientBuffer = 64 }
        defer { server.stop() }
        let fast = try WebSocketTestClient(port: server.port)
        let slow = try WebSocketTestClient(port: server.port, receiveBuffer: 4096)
        try server.waitUntil("both clients are connected") { server.server.hub.clientCount == 2 }

        let received = Mutex(0)
        let reader = Thread {
            while let object = try? fast.nextObject(), let seq = Self.seq(object) {
                received.withLock { $0 = seq }
            }
        }
        reader.start()
        // Batches of 40 lines, each sent once the reading client has the last
        // one, so that it never falls 64 behind; the other never reads.
        let padding = String(repeating: "x", count: 400)
        var seq = 0
        for _ in 0..<500 {
            server.server.hub.publish(
                (0..<40).map { _ in
                    seq += 1
                    return Self.update(seq: seq, customer: "cust_\(padding)", priority: "low")
                })
            let target = seq
            try server.waitUntil("the reading client has seq \(target)", timeout: 30) {
                received.withLock { $0 } == target
            }
        }
        XCTAssertEqual(received.withLock { $0 }, 20_000)
        XCTAssertEqual(server.server.hub.clientCount, 1, "the client that stopped reading was dropped")
        let metrics = try server.get("/metrics").text
        XCTAssertTrue(metrics.contains("customer_health_websocket_slow_clients_dropped_total 1"), metrics)
        XCTAssertTrue(metrics.contains("customer_health_websocket_clients 1"), metrics)

        // What reached the slow client ends in a close frame (1008) or the
        // connection's end, long before the 20,000th line.
        var lastSeq = 0
        var ending = "none"
        while true {
            guard let frame = try? slow.next() else {
                ending = "closed"
                break
            }
            if case .close(let code) = frame {
                ending = "close \(code)"
                break
            }
            if case .text(let text) = frame,
                let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            {
                lastSeq = Self.seq(object) ?? lastSeq
            }
        }
        XCTAssertTrue(ending == "close 1008" || ending == "closed", ending)
        XCTAssertLessThan(lastSeq, 20_000)
    }

    /// A new day can re-score every customer at once: a client that keeps up
    /// takes a batch far longer than its buffer whole.
    func testABatchLongerThanTheBufferReachesAClientThatKeepsUp() throws {
        let server = try emptyServer { $0.stream.clientBuffer = 64 }
        defer { server.stop() }
        let client = try WebSocketTestClient(port: server.port)
        try server.waitUntil("the client is connected") { server.server.hub.clientCount == 1 }
        server.server.hub.publish((1...5000).map { Self.update(seq: $0, customer: "cust_000001", priority: "low") })
        for expected in 1...5000 { XCTAssertEqual(Self.seq(try client.nextObject()), expected) }
        server.server.hub.publish([Self.update(seq: 5001, customer: "cust_000001", priority: "low")])
        XCTAssertEqual(Self.seq(try client.nextObject()), 5001)
        XCTAssertEqual(server.server.hub.clientCount, 1)
    }

    func testClientsAboveTheLimitAreRefused() throws {
        let server = try emptyServer { $0.stream.maxClients = 2 }
        defer { server.stop() }
        let a = try WebSocketTestClient(port: server.port)
        let b = try WebSocketTestClient(port: server.port)
        try server.waitUntil("two clients are connected") { server.server.hub.clientCount == 2 }
        // Refused upgrades are answered 400 by the WebSocket layer.
        XCTAssertThrowsError(try WebSocketTestClient(port: server.port)) {
            XCTAssertEqual(($0 as? WebSocketTestClient.UpgradeRefused)?.status, 400)
        }
        // A place frees up when a client leaves.
        withExtendedLifetime(a) {}
        try b.socket.send([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2])
        try server.waitUntil("the leaving client is gone") { server.server.hub.clientCount == 1 }
        XCTAssertNoThrow(try WebSocketTestClient(port: server.port))
    }

    /// Generated exports ending on 2026-11-20, settled, and a pipeline that
    /// watches them with no settle time.
    func watchedExports() throws -> (root: URL, config: PipelineConfig) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-serve-watch-\(UUID().uuidString)")
        var options = SyntheticExportOptions()
        options.customers = 40
        options.days = 40
        options.seed = 5
        options.endDate = "2026-11-20"
        _ = try SyntheticExportGenerator.generate(options: options, to: root.path)
        let exports = root.appendingPathComponent("exports")
        for name in try FileManager.default.contentsOfDirectory(atPath: exports.path) {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -3600)],
                ofItemAtPath: exports.appendingPathComponent(name).path)
        }
        let pipeline = root.appendingPathComponent("pipeline.yaml")
        try
            "input: exports\noutput: output\nmax_reject_ratio: 1\nwatch:\n  settle_seconds: 0\n  poll_seconds: 0.05\n  min_score_delta: 0\n"
            .write(to: pipeline, atomically: true, encoding: .utf8)
        return (root, try PipelineConfig.load(path: pipeline.path))
    }

    func watchingServer(_ root: URL, _ config: PipelineConfig) throws -> RunningServer {
        let server = try RunningServer(output: try SampleRuns.outputFolder(pointingAt: try SampleRuns.get().newest)) {
            $0.watch = ServeWatch(
                config: config, settings: config.watch,
                options: WatchOptions(pipeline: config, state: root.appendingPathComponent("state").path))
        }
        try server.waitUntil("the baseline checkpoint is saved") {
            FileManager.default.fileExists(atPath: root.appendingPathComponent("state/checkpoint.json").path)
        }
        return server
    }

    /// A day of activity for every customer, renamed into place.
    func dropDay(_ day: Int, into root: URL) throws {
        let date = String(format: "2026-11-%02d", day)
        var csv = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for i in 1...40 {
            let id = String(format: "cust_%06d", i)
            csv +=
                "\(id),\(id)-u01,\(date)T09:00:00Z,login,,\n\(id),\(id)-u01,\(date)T10:00:00Z,work_order_completed,,900\n"
        }
        let staged = root.appendingPathComponent("activity-\(date).csv")
        try csv.write(to: staged, atomically: true, encoding: .utf8)
        XCTAssertEqual(rename(staged.path, root.appendingPathComponent("exports/activity-\(date).csv").path), 0)
    }

    /// Reads until a kpi_update: the types and customers of the lines before.
    func readBatch(_ client: WebSocketTestClient) throws -> (types: [String], customers: Set<String>) {
        var types: [String] = []
        var customers: Set<String> = []
        while !types.contains("kpi_update") {
            let object = try client.nextObject()
            let type = object["type"] as? String ?? "?"
            if type == "heartbeat" { continue }
            types.append(type)
            if let id = (object["data"] as? [String: Any])?["customer_id"] as? String { customers.insert(id) }
            XCTAssertNotNil(Self.seq(object))
        }
        return (types, customers)
    }

    /// `serve --watch`: a file landing in the input folder reaches the
    /// subscribed client as the watch mode's own lines.
    func testTheWatchModeRunsInProcessAndItsLinesReachClients() throws {
        let (root, config) = try watchedExports()
        defer { try? FileManager.default.removeItem(at: root) }
        let server = try watchingServer(root, config)
        defer { server.stop() }
        let client = try WebSocketTestClient(port: server.port)
        try client.send(#"{"subscribe": {"customer_ids": ["cust_000002"]}}"#)
        XCTAssertEqual(try client.nextObject()["type"] as? String, "subscribed")

        try dropDay(21, into: root)
        let batch = try readBatch(client)
        XCTAssertEqual(batch.customers, ["cust_000002"], "only the subscribed customer's update, then the KPIs")
        XCTAssertEqual(batch.types, ["customer_health_update", "kpi_update"])
    }

    /// The input folder vanishes for a while: the API stays up, /health says
    /// why the stream stopped, and the stream resumes once it is back.
    func testAFailingWatchLoopRestartsFromItsCheckpointWhileTheAPIStaysUp() throws {
        let (root, config) = try watchedExports()
        defer { try? FileManager.default.removeItem(at: root) }
        let server = try watchingServer(root, config)
        defer { server.stop() }
        let client = try WebSocketTestClient(port: server.port, path: "/ws/customer-health?customer_ids=cust_000003")

        let exports = root.appendingPathComponent("exports")
        let away = root.appendingPathComponent("away")
        XCTAssertEqual(rename(exports.path, away.path), 0)
        try server.waitUntil("/health reports the watch error") {
            (try server.get("/health").object()["watch_error"] as? String)?.contains("exports") ?? false
        }
        XCTAssertEqual(try server.get("/api/customer-success/kpis").status, 200, "the API stays up")
        XCTAssertEqual(rename(away.path, exports.path), 0)
        try server.waitUntil("the loop runs again", timeout: 30) {
            try server.get("/health").object()["watch_error"] is NSNull
        }
        try dropDay(21, into: root)
        XCTAssertEqual(try readBatch(client).customers, ["cust_000003"])
        XCTAssertTrue(try server.get("/metrics").text.contains("customer_health_watch_restarts_total "))
        XCTAssertFalse(try server.get("/metrics").text.contains("customer_health_watch_restarts_total 0"))
    }
}
