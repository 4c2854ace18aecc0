import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Watch mode's steps, without the loop: a baseline first, then only what
/// changed, numbered; a restart from a checkpoint sends the same lines with
/// the same numbers; the state after the stream is the batch run's.
final class WatchSessionTests: XCTestCase {
    var root: URL!
    var exports: URL { root.appendingPathComponent("exports") }

    /// The generated exports, made once for the class; each test works on a copy.
    static let template = WatchFixture.Template(customers: 120, days: 60, seed: 4)

    override class func tearDown() {
        template.remove()
        super.tearDown()
    }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try Self.template.copy(to: root)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func config() throws -> PipelineConfig {
        try PipelineConfig.parse(
            text: "input: \(exports.path)\nmax_reject_ratio: 1\n", file: "watch.yaml", baseDirectory: "/")
    }

    private func session(_ checkpoint: WatchCheckpoint?) throws -> WatchSession {
        PipelineRunner(config: try config(), options: RunOptions(), logger: .init(label: "test"))
            .watchSession(settings: WatchSettings(), checkpoint: checkpoint)
    }

    /// A day of activity for every 3rd customer: two logins, a work order.
    private func dropActivity(day: String, name: String) throws {
        var csv = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for i in stride(from: 1, through: 120, by: 3) {
            let id = String(format: "cust_%06d", i)
            csv += "\(id),\(id)-u01,\(day)T09:00:00Z,login,,\n\(id),\(id)-u02,\(day)T10:00:00Z,login,,\n"
            csv += "\(id),\(id)-u01,\(day)T11:00:00Z,work_order_completed,,600\n"
        }
        try csv.write(to: exports.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    private func roundTrip(_ c: WatchCheckpoint) throws -> WatchCheckpoint {
        try JSONDecoder().decode(WatchCheckpoint.self, from: JSONEncoder().encode(c))
    }

    func testBaselineThenChangesThenTheSameLinesAfterARestart() throws {
        let first = try session(nil)
        XCTAssertEqual(try first.step(lastUpdated: "t0"), [], "the first look is the baseline: nothing is sent")
        XCTAssertEqual(first.checkpoint.asOf, CalendarDay("2026-11-20"))
        XCTAssertFalse(first.checkpoint.customers.isEmpty)
        let saved = try roundTrip(first.checkpoint)

        // A new day lands: the as-of day moves, every customer is looked at again.
        try dropActivity(day: "2026-11-21", name: "activity-2026-11-21.csv")
        let later = Date(timeIntervalSinceNow: 3600)  // the new file has settled
        let lines = try first.step(now: later, lastUpdated: "t1")
        XCTAssertFalse(lines.isEmpty)
        let parsed = try lines.map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(parsed.map { $0["seq"] as? Int }, Array(1...lines.count).map { Optional($0) })
        for (line, object) in zip(lines, parsed) {
            XCTAssertFalse(line.contains("\n") || line.contains("\u{2028}") || line.contains("\u{2029}"))
            let type = object["type"] as? String
            XCTAssertTrue(type == "customer_health_update" || type == "kpi_update", line)
            if type == "customer_health_update" {
                let data = try XCTUnwrap(object["data"] as? [String: Any])
                let previous = try XCTUnwrap(data["previous"] as? [String: Any])
                let moved = abs((data["health_score"] as! Double) - (previous["health_score"] as! Double)) >= 1
                let changed =
                    data["health_status"] as? String != previous["health_status"] as? String
                    || data["intervention_priority"] as? String != previous["intervention_priority"] as? String
                XCTAssertTrue(moved || changed, "sent without a change: \(line)")
            }
        }
        XCTAssertEqual(parsed.filter { $0["type"] as? String == "kpi_update" }.count, 1)

        // A crash before the checkpoint was saved: the restart sends the same lines, same numbers.
        let restarted = try session(saved)
        XCTAssertEqual(try restarted.step(now: later, lastUpdated: "t1"), lines)
        XCTAssertEqual(restarted.checkpoint, first.checkpoint)

        // A restart from the new checkpoint sends nothing more.
        let again = try session(try roundTrip(first.checkpoint))
        XCTAssertEqual(try again.step(lastUpdated: "t2"), [])

        // A file growing by whole lines: only its customers are looked at, and the last state is the batch run's.
        let grow = exports.appendingPathComponent("activity-2026-11-21.csv")
        var more = ""
        for _ in 0..<40 { more += "cust_000002,cust_000002-u05,2026-11-21T15:00:00Z,feature_use,reports,30\n" }
        try appendText(more + "cust_000002,half", to: grow)
        let grown = try again.step(lastUpdated: "t3")
        for line in grown where line.contains("customer_health_update") {
            XCTAssertTrue(line.contains("\"cust_000002\""), line)
        }

        let batchConfig = try config()
        let runner = PipelineRunner(config: batchConfig, options: RunOptions(threads: 2), logger: .init(label: "test"))
        // The half-written last line is not in the watch state yet: leave it out of the batch run too.
        let text = try String(contentsOf: grow, encoding: .utf8)
        try String(text.dropLast("cust_000002,half".count)).write(to: grow, atomically: true, encoding: .utf8)
        let data = try runner.ingest()
        let asOf = try runner.asOfDay(for: data)
        let snaps = runner.snapshots(data, asOf: asOf)
        let batch = PortfolioScorer.score(
            snaps, asOf: asOf, settings: batchConfig.scoring.resolvingTargets(from: snaps), threads: 2,
            applicability: runner.applicability(data, asOf: asOf))
        XCTAssertEqual(Set(again.checkpoint.customers.keys), Set(batch.map(\.customerID)))
        for s in batch {
            let sent = try XCTUnwrap(again.checkpoint.customers[s.customerID])
            XCTAssertLessThan(abs(sent.healthScore - s.healthScore), 1.0 + 1e-9, s.customerID)
            XCTAssertEqual(sent.healthStatus, s.status.rawValue, s.customerID)
            XCTAssertEqual(sent.interventionPriority, s.priority.rawValue, s.customerID)
        }
    }

    /// A tickets file landing out of name order is read with every other
    /// file again, so equal-time ticket updates are decided as in `run`.
    func testATicketsFileOutOfNameOrderRebuilds() throws {
        let s = try session(nil)
        XCTAssertEqual(try s.step(lastUpdated: "t0"), [])
        let url = exports.appendingPathComponent("tickets-0000.jsonl")
        try "{\"ticket_id\": \"LATE-1\", \"customer_id\": \"cust_000005\", \"opened_at\": \"2026-11-19T10:00:00Z\"}\n"
            .write(to: url, atomically: true, encoding: .utf8)
        _ = try s.step(now: Date(timeIntervalSinceNow: 3600), lastUpdated: "t1")
        XCTAssertTrue(
            s.notices.contains { $0.contains("tickets-0000.jsonl: a tickets file that sorts before") }, "\(s.notices)")
        XCTAssertTrue(s.checkpoint.files.contains { $0.tracked.name == "tickets-0000.jsonl" })
    }
}
