import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// `watch` through the real executable: the stream, restarts after kill -9,
/// stopping on SIGTERM, a closed pipe.
final class WatchCommandTests: XCTestCase {
    var root: URL!

    /// The generated exports, made once for the class; each test works on a copy.
    static let template = WatchFixture.Template(customers: 90, days: 50, seed: 8)

    override class func tearDown() {
        template.remove()
        super.tearDown()
    }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("watch-cli-\(UUID().uuidString)")
        try Self.template.copy(to: root.appendingPathComponent("a"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func pipeline(_ name: String, _ extra: String = "") throws -> String {
        let path = root.appendingPathComponent("\(name).yaml").path
        try ("input: \(name)/exports\noutput: \(name)/output\nmax_reject_ratio: 1\n" + extra).write(
            toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Fixed per-seat targets: a customer's score then moves only with its own rows.
    static let fixedTargets = """
        scoring:
          engagement: {api_calls_per_seat_target: 20, mobile_sessions_per_seat_target: 4}
          value_realization: {work_orders_per_seat_target: 2}

        """

    /// Day `k` of new activity (the 21st onwards) for every other customer, plus one bad row.
    private func drop(_ k: Int, into folder: URL, settled: Bool = true) throws {
        let day = String(format: "2026-11-%02d", 20 + k)
        var csv = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for i in stride(from: k, through: 90, by: 2) {
            let id = String(format: "cust_%06d", i)
            csv +=
                "\(id),\(id)-u01,\(day)T09:00:00Z,login,,\n\(id),\(id)-u01,\(day)T10:00:00Z,work_order_completed,,900\n"
        }
        csv += "cust_000001,u,\(day)T25:00:00Z,login,,\n"
        let url = folder.appendingPathComponent("exports/activity-\(day).csv")
        try csv.write(to: url, atomically: true, encoding: .utf8)
        if settled {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: url.path)
        }
    }

    /// A baseline look, then day 1 landed and streamed: the pipeline and state folder.
    private func streamedFirstDay() throws -> (String, String) {
        let p = try pipeline("a", Self.fixedTargets)
        let state = root.appendingPathComponent("a/state").path
        XCTAssertEqual(try CLI.run(["watch", p, "--once", "--quiet", "--state", state]).status, 0)
        try drop(1, into: root.appendingPathComponent("a"))
        XCTAssertEqual(try CLI.run(["watch", p, "--once", "--quiet", "--state", state]).status, 0)
        return (p, state)
    }

    /// The lines of a stream file by seq, without `last_updated` (a wall-clock time).
    private func bySeq(_ url: URL) throws -> [Int: String] {
        var out: [Int: String] = [:]
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let object = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            let seq = try XCTUnwrap(object["seq"] as? Int)
            guard object["type"] as? String != "heartbeat" else { continue }
            let stable = line.replacingOccurrences(
                of: #", "last_updated": "[^"]*""#, with: "", options: .regularExpression)
            if let earlier = out[seq] {
                XCTAssertEqual(earlier, stable, "seq \(seq) was sent twice with other content")
            }
            out[seq] = stable
        }
        return out
    }

    func testStreamOfNewFilesWithRejectsAndNothingTwice() throws {
        let p = try pipeline("a")
        let state = root.appendingPathComponent("a/state").path
        let base = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(base.status, 0, base.transcript)
        XCTAssertEqual(base.stdout, "", "the first look is the baseline")
        try drop(1, into: root.appendingPathComponent("a"))
        // A half-written file under a .part name is never read.
        try
            "customer_id,user_id,occurred_at,event_type,feature,duration_s\ncust_000003,x,2026-11-21T09:00:00Z,login,,\n"
            .write(
                to: root.appendingPathComponent("a/exports/activity-2026-11-22.csv.part"), atomically: true,
                encoding: .utf8)
        let next = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(next.status, 0, next.transcript)
        let lines = next.stdout.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 1)
        XCTAssertTrue(
            lines.first!.hasPrefix("{\"type\": \"customer_health_update\", \"seq\": 1,"), String(lines.first!))
        XCTAssertTrue(lines.last!.hasPrefix("{\"type\": \"kpi_update\", \"seq\": \(lines.count),"), String(lines.last!))
        let saved = try JSONDecoder().decode(
            WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json")))
        XCTAssertTrue(saved.files.contains { $0.tracked.name == "activity-2026-11-21.csv" })
        XCTAssertFalse(saved.files.contains { $0.tracked.name.hasSuffix(".part") }, "a .part file is never read")
        let rejects = try String(contentsOfFile: state + "/rejects.jsonl", encoding: .utf8)
        XCTAssertEqual(rejects.split(separator: "\n").count, 1)
        XCTAssertTrue(
            rejects.contains("\"file\": \"activity-2026-11-21.csv\"") && rejects.contains("occurred_at"), rejects)
        let again = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(again.stdout, "", "nothing changed since the checkpoint")
    }

    /// kill -9 at random points while batches are processed: after restarts,
    /// the stream holds exactly the updates of a run that never crashed, a
    /// repeated line always with its first seq and content.
    func testKillNineAtRandomPointsLosesAndInventsNothing() throws {
        try FileManager.default.copyItem(at: root.appendingPathComponent("a"), to: root.appendingPathComponent("b"))
        try WatchFixture.settle(root.appendingPathComponent("b/exports"))
        let binary = try CLI.binary()
        func watchOnce(_ name: String, killAfter: Double?) throws {
            let process = Process()
            process.executableURL = binary
            process.arguments = [
                "watch", try pipeline(name), "--once", "--quiet", "--state",
                root.appendingPathComponent("\(name)/state").path,
                "--emit", root.appendingPathComponent("\(name)/stream.ndjson").path,
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if let killAfter {
                usleep(useconds_t(killAfter * 1_000_000))
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
        var rng = SeededGenerator(seed: 77)
        try watchOnce("a", killAfter: nil)
        try watchOnce("b", killAfter: nil)
        for k in 1...3 {
            try drop(k, into: root.appendingPathComponent("a"))
            try drop(k, into: root.appendingPathComponent("b"))
            try watchOnce("a", killAfter: nil)
            for _ in 0..<6 { try watchOnce("b", killAfter: 0.05 + rng.uniform() * 0.6) }
            try watchOnce("b", killAfter: nil)
        }
        let clean = try bySeq(root.appendingPathComponent("a/stream.ndjson"))
        let crashed = try bySeq(root.appendingPathComponent("b/stream.ndjson"))
        XCTAssertFalse(clean.isEmpty)
        XCTAssertEqual(crashed.count, clean.count)
        for (seq, line) in clean {
            let other = crashed[seq]?.replacingOccurrences(of: "/b/", with: "/a/")
            XCTAssertEqual(other, line, "seq \(seq)")
        }
    }

    func testSigtermStopsAfterTheBatchAndAClosedPipeExitsQuietly() throws {
        let p = try pipeline("a")
        let state = root.appendingPathComponent("a/state").path
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = [
            "watch", p, "--quiet", "--state", state, "--poll", "0.1", "--heartbeat", "0.3",
            "--emit", root.appendingPathComponent("a/stream.ndjson").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = state + "/checkpoint.json"
        waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: checkpoint) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint))
        try drop(1, into: root.appendingPathComponent("a"))
        let stream = root.appendingPathComponent("a/stream.ndjson")
        func streamed() -> String { (try? String(contentsOf: stream, encoding: .utf8)) ?? "" }
        waitUntil(timeout: 30) { streamed().contains("kpi_update") }
        // --heartbeat 0.3: a heartbeat follows within a second of a quiet stream.
        waitUntil(timeout: 30) { streamed().contains("\"type\": \"heartbeat\"") }
        let text = try String(contentsOf: stream, encoding: .utf8)
        XCTAssertTrue(text.contains("\"type\": \"heartbeat\""), "a quiet stream sends heartbeats")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(process.terminationReason, .exit)
        let saved = try JSONDecoder().decode(
            WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: checkpoint)))
        XCTAssertEqual(saved.asOf, CalendarDay("2026-11-21"))

        try drop(2, into: root.appendingPathComponent("a"))
        let closed = try CLI.runWithClosedStdout(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(closed.status, 0, closed.transcript)
        XCTAssertEqual(closed.stderr, "")
    }

    /// scores.jsonl of a batch run on folder `name` as it is now.
    private func batchScores(_ name: String, _ extra: String = "") throws -> [String: [String: Any]] {
        let out = root.appendingPathComponent("\(name)/batch-\(UUID().uuidString)")
        let r = try CLI.run(["run", try pipeline(name, extra), "--quiet", "--output", out.path])
        XCTAssertEqual(r.status, 0, r.transcript)
        var scores: [String: [String: Any]] = [:]
        for line in try String(contentsOf: out.appendingPathComponent("latest/scores.jsonl"), encoding: .utf8).split(
            separator: "\n")
        {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            scores[o["customer_id"] as! String] = o
        }
        return scores
    }

    private func priority(_ score: [String: Any]) -> String? {
        (score["recommendations"] as? [String: Any])?["intervention_priority"] as? String
    }

    /// The stream of a batch is the difference of the batch runs before and after it.
    func testTheStreamIsTheDifferenceOfTwoBatchRuns() throws {
        let p = try pipeline("a")
        let state = root.appendingPathComponent("a/state").path
        let before = try batchScores("a")
        XCTAssertEqual(try CLI.run(["watch", p, "--once", "--quiet", "--state", state]).status, 0)
        try drop(1, into: root.appendingPathComponent("a"))
        let r = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(r.status, 0, r.transcript)
        let after = try batchScores("a")
        var sent: [String: [String: Any]] = [:]
        for line in r.stdout.split(separator: "\n") {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard o["type"] as? String == "customer_health_update", let data = o["data"] as? [String: Any] else {
                continue
            }
            sent[data["customer_id"] as! String] = data
        }
        var expected: Set<String> = []
        for (id, now) in after {
            guard let then = before[id] else {
                expected.insert(id)
                continue
            }
            let moved = abs((now["health_score"] as! Double) - (then["health_score"] as! Double)) >= 1 - 1e-9
            if moved || now["health_status"] as? String != then["health_status"] as? String
                || priority(now) != priority(then)
            {
                expected.insert(id)
            }
        }
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(Set(sent.keys), expected)
        // The day moved on: customers without a new row were scored again too.
        XCTAssertTrue(sent.keys.contains { Int($0.dropFirst(5))! % 2 == 0 }, "no customer without new rows was sent")
        for (id, data) in sent {
            XCTAssertEqual(data["health_score"] as? Double, after[id]?["health_score"] as? Double, id)
            XCTAssertEqual(data["health_status"] as? String, after[id]?["health_status"] as? String, id)
            XCTAssertEqual(data["intervention_priority"] as? String, priority(after[id]!), id)
            let previous = data["previous"] as? [String: Any]
            XCTAssertEqual(previous?["health_score"] as? Double, before[id]?["health_score"] as? Double, id)
        }
    }

    /// A file cut short, then one rotated away: each is a warning and a
    /// rebuild, after which the state is a batch run's on the files as they are.
    func testTruncatedAndVanishedFilesRebuildTheStateWithAWarning() throws {
        let (p, state) = try streamedFirstDay()

        func assertStateIsBatch(_ what: String) throws {
            let batch = try batchScores("a", Self.fixedTargets)
            let saved = try JSONDecoder().decode(
                WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json")))
            XCTAssertEqual(Set(saved.customers.keys), Set(batch.keys), what)
            for (id, score) in batch {
                XCTAssertEqual(saved.customers[id]?.healthStatus, score["health_status"] as? String, "\(what): \(id)")
                XCTAssertLessThan(
                    abs((saved.customers[id]?.healthScore ?? -99) - (score["health_score"] as! Double)), 1,
                    "\(what): \(id)")
            }
        }
        let file = root.appendingPathComponent("a/exports/activity-2026-11-21.csv")
        let text = try String(contentsOf: file, encoding: .utf8)
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(
            atOffset: UInt64(text.split(separator: "\n").prefix(11).joined(separator: "\n").utf8.count + 1))
        try handle.close()
        let cut = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(cut.status, 0, cut.transcript)
        XCTAssertTrue(cut.stderr.contains("activity-2026-11-21.csv: cut to"), cut.stderr)
        try assertStateIsBatch("after truncation")

        try FileManager.default.moveItem(at: file, to: root.appendingPathComponent("a/rotated.csv"))
        let gone = try CLI.run(["watch", p, "--once", "--quiet", "--state", state])
        XCTAssertEqual(gone.status, 0, gone.transcript)
        XCTAssertTrue(gone.stderr.contains("activity-2026-11-21.csv: gone from the input folder"), gone.stderr)
        XCTAssertTrue(gone.stdout.contains("\"as_of\": \"2026-11-20\""), "the as-of day went back with the rotated day")
        try assertStateIsBatch("after rotation")
    }

    private func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    /// A consumer that stops reading holds the stream back: watch waits on
    /// the full pipe with flat memory, and when the consumer reads again
    /// every line arrives, numbered without a gap.
    func testAStoppedConsumerHoldsTheStreamBackAndLosesNothing() throws {
        let p = try pipeline("a")
        let state = root.appendingPathComponent("a/state").path
        XCTAssertEqual(try CLI.run(["watch", p, "--once", "--quiet", "--state", state]).status, 0)
        let pipe = Pipe()
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = [
            "watch", p, "--quiet", "--state", state, "--poll", "0.1", "--heartbeat", "3600", "--min-score-delta", "0",
        ]
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Nobody reads the pipe while four days land: about 90 lines of 400 bytes each, past the pipe's 64 KiB.
        for k in 1...4 {
            try drop(k, into: root.appendingPathComponent("a"))
            usleep(700_000)
        }
        // Wait until watch is blocked writing to the full pipe, then watch its memory.
        let wchan = "/proc/\(process.processIdentifier)/wchan"
        waitUntil(timeout: 15) {
            ((try? String(contentsOfFile: wchan, encoding: .utf8)) ?? "").contains("pipe_write")
        }
        XCTAssertTrue(
            ((try? String(contentsOfFile: wchan, encoding: .utf8)) ?? "").contains("pipe_write"),
            "watch never blocked on the pipe")
        let early = residentKiB(process.processIdentifier)
        usleep(1_500_000)
        let late = residentKiB(process.processIdentifier)
        XCTAssertGreaterThan(early, 0)
        XCTAssertLessThanOrEqual(
            late, early + early / 10, "memory grew while the consumer was stopped: \(early) -> \(late) KiB")
        XCTAssertTrue(process.isRunning)
        kill(process.processIdentifier, SIGTERM)
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let seqs = try text.split(separator: "\n").map { line in
            try XCTUnwrap((JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["seq"] as? Int)
        }
        XCTAssertGreaterThan(text.utf8.count, 65_536, "the pipe was full")
        XCTAssertEqual(seqs, Array(1...seqs.count))
        let saved = try JSONDecoder().decode(
            WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json")))
        XCTAssertEqual(saved.nextSeq, seqs.count + 1)
    }

    /// A plain file that grows is read on in whole lines; a line still being
    /// written waits; a corrupt gzip file is reported and skipped, and the
    /// stream goes on.
    func testGrowingHalfWrittenAndCorruptFiles() throws {
        let (p, state) = try streamedFirstDay()
        let file = root.appendingPathComponent("a/exports/activity-2026-11-21.csv")
        func append(_ text: String) throws { try appendText(text, to: file) }
        var burst = ""
        for _ in 0..<30 { burst += "cust_000004,cust_000004-u03,2026-11-21T15:00:00Z,feature_use,reports,300\n" }
        try append(burst + "cust_000006,cust_000006-u01,2026-11-21T16:00:00Z,wor")
        // --min-score-delta 0: every customer scored again is sent, so the lines show who was read.
        let grown = try CLI.run(["watch", p, "--once", "--quiet", "--state", state, "--min-score-delta", "0"])
        XCTAssertEqual(grown.status, 0, grown.transcript)
        XCTAssertTrue(grown.stdout.contains("\"customer_id\": \"cust_000004\""), grown.stdout)
        XCTAssertFalse(grown.stdout.contains("\"cust_000006\""), "the half-written line is not read yet")
        let saved = try JSONDecoder().decode(
            WatchCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json")))
        let tracked = try XCTUnwrap(saved.files.first { $0.tracked.name == "activity-2026-11-21.csv" })
        let whole = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(
            tracked.tracked.offset, whole.utf8.count - "cust_000006,cust_000006-u01,2026-11-21T16:00:00Z,wor".utf8.count
        )

        // A gzip file cut short lands: reported, skipped, nothing of it kept; the stream goes on.
        let good = try Data(contentsOf: root.appendingPathComponent("a/exports/activity-2026-11-20.csv.gz"))
        let corrupt = root.appendingPathComponent("a/exports/activity-2026-11-22.csv.gz")
        try good.prefix(good.count / 2).write(to: corrupt)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: corrupt.path)
        try append("k_order_completed,,600\n")
        let next = try CLI.run(["watch", p, "--once", "--state", state, "--min-score-delta", "0"])
        XCTAssertEqual(next.status, 0, next.transcript)
        XCTAssertTrue(
            next.stderr.contains("activity-2026-11-22.csv.gz") && next.stderr.contains("skipped"), next.stderr)
        XCTAssertTrue(next.stdout.contains("\"customer_id\": \"cust_000006\""), "the completed line is read")
        XCTAssertFalse(
            next.stdout.contains("\"customer_id\": \"cust_000004\""), "only the customers of new rows are scored again")
    }
}
