import CustomerHealthTestSupport
import Foundation
import Logging
import Synchronization
import XCTest

@testable import CustomerHealth

#if canImport(Glibc)
    import Glibc
#endif

/// N shards plus a merge publish exactly the bytes one `run` publishes
/// (docs/scale-out.md), on exports that hold rejected rows, unknown
/// customers, a ticket whose versions name customers of different shards,
/// a corrupt file skipped under `on_corrupt_file: skip`, and a churn model.
final class ShardedRunTests: XCTestCase {
    /// Outputs that must be byte-identical.
    static let dataFiles = [
        "scores.jsonl", "features.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "rejects.jsonl",
    ]

    nonisolated(unsafe) static var root: URL!
    nonisolated(unsafe) static var asOf = ""
    /// Customers on both sides of the ticket that moves between shards.
    nonisolated(unsafe) static var ticketCustomers: (String, String) = ("", "")

    static var pipeline: String { root.appendingPathComponent("pipeline.yaml").path }
    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    override class func setUp() {
        super.setUp()
        do { try makeFixture() } catch { fixtureError = error }
    }

    /// Why the class fixture could not be made: each test fails with it.
    nonisolated(unsafe) static var fixtureError: Error?

    override func setUpWithError() throws {
        if let error = Self.fixtureError { throw error }
    }

    override class func tearDown() {
        if let root { try? FileManager.default.removeItem(at: root) }
        super.tearDown()
    }

    /// The fixture as made, once per test process: `makeFixture` gives each
    /// class (this one and `PartitionTests`) its own copy of it.
    private static let made = Mutex<Result<URL, any Error>?>(nil)
    nonisolated(unsafe) private static var madeFolder: String?

    /// Sets `root` to a fresh copy (`cp -a`: the exports' times kept) of the
    /// fixture, made on first use.
    static func makeFixture() throws {
        let source = try made.withLock { made -> URL in
            if made == nil { made = Result { try buildFixture() } }
            return try made!.get()
        }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-shards-\(UUID().uuidString)")
        let copied = try SyntheticGenTestSupport.run(["cp", "-a", source.path, root.path])
        guard copied.status == 0 else { throw NSError(domain: "cp -a \(source.path) failed", code: 1) }
    }

    private static func buildFixture() throws -> URL {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-shards-fixture-\(UUID().uuidString)")
        madeFolder = root.path
        atexit { if let folder = ShardedRunTests.madeFolder { try? FileManager.default.removeItem(atPath: folder) } }
        let g = try CLI.run(["generate", "--customers", "300", "--days", "100", "--seed", "5", "--output", root.path])
        guard g.status == 0 else { throw NSError(domain: g.transcript, code: 1) }
        let exports = root.appendingPathComponent("exports")
        let ids = try accountIDs(exports)
        // Two customers in different shards for every count tested.
        func shard(_ id: String, _ n: Int) -> Int { ShardSpec.bucket(of: id) % n }
        var pair: (String, String)? = nil
        search: for a in ids {
            for b in ids where [2, 3, 7].allSatisfy({ shard(a, $0) != shard(b, $0) }) {
                pair = (a, b)
                break search
            }
        }
        guard let pair else { throw NSError(domain: "no two customers in different shards", code: 1) }
        ticketCustomers = pair
        let (a, b) = ticketCustomers
        // Rejected rows of several shards' customers, unknown customers, a
        // row without customer_id, a record with too few fields, an id with
        // spaces around it (trimmed: a known customer).
        var activity = ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
        for (i, id) in ids.prefix(40).enumerated() {
            activity.append("\(id),\(id)-u01,2026-11-1\(i % 10)T08:00:00Z,login,,")
            if i % 4 == 0 { activity.append("\(id),\(id)-u01,2026-13-01T08:00:00Z,login,,") }
            if i % 5 == 0 { activity.append("\(id),\(id)-u01,2026-11-10T08:00:00Z,teleport,,") }
        }
        activity += [
            "ghost_001,g-u1,2026-11-10T08:00:00Z,login,,", "ghost_002,g-u1,2026-11-11T08:00:00Z,login,,",
            ",nobody,2026-11-10T08:00:00Z,login,,", "\(ids[3]),too,few",
            "  \(ids[7])  ,\(ids[7])-u09,2026-11-12T09:00:00Z,feature_use,checklists,30",
        ]
        try gzip(
            activity.joined(separator: "\n") + "\n", to: exports.appendingPathComponent("activity-zz-extra.csv.gz"))
        // A ticket opened by one customer and reassigned to another, in a later version.
        let tickets = [
            #"{"ticket_id": "t_cross", "customer_id": "\#(a)", "opened_at": "2026-10-20T08:00:00Z", "first_response_at": null, "resolved_at": null, "priority": "high", "status": "open"}"#,
            #"{"ticket_id": "t_cross", "customer_id": "\#(b)", "opened_at": "2026-10-20T08:00:00Z", "first_response_at": "2026-10-21T08:00:00Z", "resolved_at": null, "priority": "high", "status": "open"}"#,
            #"{"ticket_id": "t_ghost", "customer_id": "ghost_003", "opened_at": "2026-10-20T08:00:00Z", "first_response_at": null, "resolved_at": null, "priority": "low", "status": "open"}"#,
        ]
        try gzip(
            tickets.joined(separator: "\n") + "\n", to: exports.appendingPathComponent("tickets-zz-extra.jsonl.gz"))
        // Not gzip at all: skipped under on_corrupt_file: skip.
        try Data("this is not a gzip file\n".utf8).write(to: exports.appendingPathComponent("uptime-zz-corrupt.csv.gz"))
        var text = try String(contentsOfFile: pipeline, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "max_reject_ratio: 0.001", with: "max_reject_ratio: 0.01\non_corrupt_file: skip")
        try text.write(toFile: pipeline, atomically: true, encoding: .utf8)
        // The newest day: the churn model the run trains serves it.
        asOf = "2026-11-23"
        // The plain run trains the churn model (if_missing: train); shards and merges then score with it.
        let run = try CLI.run(["run", pipeline, "--as-of", asOf, "--output", path("run"), "--quiet"])
        guard run.status == 0 else { throw NSError(domain: run.transcript, code: 1) }
        return root
    }

    static func accountIDs(_ exports: URL) throws -> [String] {
        let text = String(
            decoding: try SyntheticGenTestSupport.run(["sh", "-c", "gzip -dc '\(exports.path)/accounts.csv.gz'"])
                .output, as: UTF8.self)
        return text.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != "," }) }
    }

    static func gzip(_ text: String, to url: URL) throws {
        let plain = url.deletingPathExtension()
        try Data(text.utf8).write(to: plain)
        _ = try SyntheticGenTestSupport.run(["gzip", "-n", "-f", plain.path])
    }

    static func runner(output: String? = nil, asOf: String? = ShardedRunTests.asOf, threads: Int = 1) throws
        -> PipelineRunner
    {
        let config = try PipelineConfig.load(path: pipeline)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return PipelineRunner(
            config: config,
            options: RunOptions(asOf: asOf.flatMap(CalendarDay.init), outputDirectory: output, threads: threads),
            logger: logger)
    }

    /// Runs the N shards in this process (two at a time) into `dir`.
    static func runShards(_ n: Int, into dir: String, asOf: String? = ShardedRunTests.asOf) throws {
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: n) { k in
            do {
                _ = try runner(asOf: asOf).runShard(try ShardSpec(index: k, count: n), resultsDirectory: dir)
            } catch {
                errors.withLock { $0.append("shard \(k)/\(n): \(error)") }
            }
        }
        let all = errors.withLock { $0 }
        if !all.isEmpty { throw NSError(domain: all.joined(separator: "; "), code: 1) }
    }

    static func text(_ folder: String, _ file: String) throws -> String {
        try String(contentsOfFile: (folder as NSString).appendingPathComponent(file), encoding: .utf8)
    }

    /// manifest.json without what may differ: started_at, timings and `shards`.
    static func comparableManifest(_ folder: String) throws -> NSDictionary {
        let data = try Data(
            contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("manifest.json")))
        var m = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["started_at", "timings_seconds", "shards"] { m[key] = nil }
        return m as NSDictionary
    }

    static func comparableMetrics(_ folder: String) throws -> [String] {
        try Self.text(folder, "metrics.prom").split(separator: "\n").map(String.init).filter {
            !$0.hasPrefix("customer_health_run_duration_seconds ")
                && !$0.hasPrefix("customer_health_last_success_timestamp_seconds ")
        }
    }

    static func assertSameAsRun(_ folder: String, _ label: String, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let run = Self.path("run/\(Self.asOf)")
        for name in Self.dataFiles {
            XCTAssertEqual(
                try Self.text(folder, name), try Self.text(run, name), "\(label): \(name)", file: file, line: line)
        }
        XCTAssertEqual(
            try Self.comparableManifest(folder), try Self.comparableManifest(run), "\(label): manifest.json",
            file: file, line: line)
        XCTAssertEqual(
            try Self.comparableMetrics(folder), try Self.comparableMetrics(run), "\(label): metrics.prom", file: file,
            line: line)
    }

    // MARK: The contract

    func testTheFixtureHoldsWhatTheContractIsAbout() throws {
        let run = Self.path("run/\(Self.asOf)")
        let rejects = try JSON.lines(try Data(contentsOf: URL(fileURLWithPath: run + "/rejects.jsonl")))
        for code in ["bad_value", "unknown_customer", "missing_value", "field_count"] {
            XCTAssertTrue(rejects.contains { $0["code"] as? String == code }, "the fixture rejects a row for \(code)")
        }
        let manifest = try Self.text(run, "manifest.json")
        XCTAssertTrue(manifest.contains("uptime-zz-corrupt.csv.gz"), "the corrupt file is listed")
        XCTAssertTrue(manifest.contains("skipped under on_corrupt_file: skip"), "and skipped")
        XCTAssertTrue(manifest.contains("\"churn_model\""), "scored with a churn model")
        XCTAssertTrue(try Self.text(run, "scores.jsonl").contains("churn_probability"))
    }

    func testShardsPlusMergeEqualOneRunForEveryShardCount() throws {
        for n in [1, 2, 3, 7] {
            let dir = Self.path("shards-\(n)")
            try Self.runShards(n, into: dir)
            let summary = try Self.runner(output: Self.path("merged-\(n)"), asOf: nil).merge(shardsDirectory: dir)
            XCTAssertEqual(summary.asOf.description, Self.asOf)
            try Self.assertSameAsRun(Self.path("merged-\(n)/\(Self.asOf)"), "\(n) shards")
            let manifest =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: Self.path("merged-\(n)/\(Self.asOf)/manifest.json"))))
                as? [String: Any]
            XCTAssertEqual((manifest?["shards"] as? [String: Any])?["count"] as? Int, n)
        }
    }

    /// Each row is counted by exactly one shard: the per-file counts add up
    /// to one run's, and the cross-shard ticket's customers are in different shards.
    func testEveryRowIsCountedByExactlyOneShard() throws {
        let dir = Self.path("shards-count")
        try Self.runShards(3, into: dir)
        let shards = try ShardResult.loadAll(directory: dir, count: nil)
        let merged = try PipelineRunner.mergedFacts(shards, inputs: shards[0].agreed["inputs"])
        let run =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: Self.path("run/\(Self.asOf)/manifest.json"))))
            as! [String: Any]
        let inputs = run["inputs"] as! [[String: Any]]
        XCTAssertEqual(merged.files.map(\.name), inputs.map { $0["file"] as! String })
        for (f, i) in zip(merged.files, inputs) {
            XCTAssertEqual(f.rowsRead, i["rows_read"] as? Int, f.name)
            XCTAssertEqual(f.rowsRejected, i["rows_rejected"] as? Int, f.name)
            XCTAssertEqual(f.rowsUnknownCustomer, i["rows_unknown_customer"] as? Int, f.name)
        }
        // Rows without a customer are shard 0's.
        let withoutCustomer = shards.map {
            $0.rejects.filter { $0.code == "field_count" || ($0.code == "missing_value" && $0.column == "customer_id") }
                .count
        }
        XCTAssertGreaterThan(withoutCustomer[0], 0)
        XCTAssertEqual(withoutCustomer[1] + withoutCustomer[2], 0)
        let (a, b) = Self.ticketCustomers
        XCTAssertNotEqual(ShardSpec.bucket(of: a) % 3, ShardSpec.bucket(of: b) % 3)
    }

    /// 64 shards of the committed sample data: most hold a handful of customers, some none.
    func testSixtyFourShardsOfTheSampleData() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try PipelineConfig.load(path: repo.appendingPathComponent("pipelines/nightly.yaml").path)
        var quiet = Logger(label: "test")
        quiet.logLevel = .error
        let logger = quiet
        @Sendable func make(_ output: String?) -> PipelineRunner {
            PipelineRunner(config: config, options: RunOptions(outputDirectory: output, threads: 1), logger: logger)
        }
        let base = Self.path("sample64")
        _ = try make(base + "/run").run()
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 64) { k in
            do {
                _ = try make(nil).runShard(try ShardSpec(index: k, count: 64), resultsDirectory: base + "/shards")
            } catch {
                errors.withLock { $0.append("\(k): \(error)") }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])
        let shards = try ShardResult.loadAll(directory: base + "/shards", count: nil)
        XCTAssertTrue(shards.contains { $0.snapshotCount <= 2 }, "some shards are (nearly) empty")
        let summary = try make(base + "/merged").merge(shardsDirectory: base + "/shards")
        let day = summary.asOf.description
        for name in Self.dataFiles {
            XCTAssertEqual(
                try Self.text(base + "/merged/\(day)", name), try Self.text(base + "/run/\(day)", name),
                "64 shards: \(name)")
        }
    }

    /// Other products' exports: named events, no churned_at (inactivity:
    /// who is active depends on the first and newest activity day of all
    /// customers), nested JSONL activity, two exports only.
    func testOtherProfilesShardAlike() throws {
        for profile in ["own-events", "inactivity", "nested-jsonl", "two-exports"] {
            let dir = Self.root.appendingPathComponent("profile-\(profile)")
            let g = try CLI.run([
                "generate", "--profile", profile, "--customers", "150", "--days", "90", "--seed", "3", "--output",
                dir.path,
            ])
            XCTAssertEqual(g.status, 0, g.transcript)
            let pipeline = dir.appendingPathComponent("pipeline.yaml").path
            // Without a churn model: the profile's pipeline would train one in the run, and shards never train.
            let yaml = try String(contentsOfFile: pipeline, encoding: .utf8)
            if let churn = yaml.range(of: "\nchurn:") {
                try String(yaml[..<churn.lowerBound] + "\n").write(toFile: pipeline, atomically: true, encoding: .utf8)
            }
            let run = try CLI.run(["run", pipeline, "--output", dir.appendingPathComponent("run").path, "--quiet"])
            XCTAssertEqual(run.status, 0, run.transcript)
            for k in 0..<3 {
                let r = try CLI.run([
                    "run", pipeline, "--shard", "\(k)/3", "--shard-output", dir.appendingPathComponent("shards").path,
                    "--quiet",
                ])
                XCTAssertEqual(r.status, 0, "\(profile): \(r.transcript)")
            }
            let merge = try CLI.run([
                "merge", pipeline, "--shards", dir.appendingPathComponent("shards").path,
                "--output", dir.appendingPathComponent("merged").path, "--quiet",
            ])
            XCTAssertEqual(merge.status, 0, "\(profile): \(merge.transcript)")
            for name in Self.dataFiles {
                XCTAssertEqual(
                    try Self.text(dir.appendingPathComponent("merged/latest").path, name),
                    try Self.text(dir.appendingPathComponent("run/latest").path, name), "\(profile): \(name)")
            }
        }
    }

    // MARK: What the merge refuses

    func testMergeRefusesMissingIncompleteAndDisagreeingShards() throws {
        let dir = Self.path("shards-refuse")
        try Self.runShards(3, into: dir)
        let out = Self.path("refused")
        func merge() throws -> CLIResult { try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", out]) }
        func published() -> Bool { FileManager.default.fileExists(atPath: out + "/latest") }

        // Missing: named, nothing published.
        let aside = dir + "/aside"
        try FileManager.default.moveItem(atPath: dir + "/shard-1-of-3", toPath: aside)
        var r = try merge()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("1 of 3 shard results are missing (shard 1)"), r.stderr)
        XCTAssertFalse(published())
        try FileManager.default.moveItem(atPath: aside, toPath: dir + "/shard-1-of-3")

        // Altered or cut short: the listing in _SUCCESS does not match.
        let features = dir + "/shard-2-of-3/snapshots.bin"
        let original = try Data(contentsOf: URL(fileURLWithPath: features))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: features))
        r = try merge()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(
            r.stderr.contains("shard-2-of-3") && r.stderr.contains("snapshots.bin differs from what _SUCCESS lists"),
            r.stderr)
        XCTAssertFalse(published())
        try original.write(to: URL(fileURLWithPath: features))

        // Whole again, the same folder merges.
        r = try merge()
        XCTAssertEqual(r.status, 0, r.transcript)
        try Self.assertSameAsRun(out + "/\(Self.asOf)", "after the fix")
    }

    /// Shards must score one day. (Without a churn model here: a shard of
    /// a past day would need a point-in-time model, and shards never train.)
    func testMergeRefusesShardsOfDifferentDays() throws {
        let pipeline = Self.path("pipeline-no-model.yaml")
        let text = try String(contentsOfFile: Self.pipeline, encoding: .utf8)
        try String(text[..<text.range(of: "churn:")!.lowerBound]).write(
            toFile: pipeline, atomically: true, encoding: .utf8)
        let dir = Self.path("shards-days")
        for (k, day) in [(0, Self.asOf), (1, "2026-11-19")] {
            let r = try CLI.run([
                "run", pipeline, "--as-of", day, "--shard", "\(k)/2", "--shard-output", dir, "--quiet",
            ])
            XCTAssertEqual(r.status, 0, r.transcript)
        }
        let r = try CLI.run(["merge", pipeline, "--shards", dir, "--output", Self.path("refused-days")])
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(
            r.stderr.contains("shard-1-of-2") && r.stderr.contains("disagrees with shard 0/2 on as_of"), r.stderr)
        XCTAssertTrue(r.stderr.contains("pass the same --as-of to every shard"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.path("refused-days/latest")))
        // A shard of a past day with the model: refused at once, it would have to train.
        let past = try CLI.run([
            "run", Self.pipeline, "--as-of", "2026-11-19", "--shard", "0/2", "--shard-output", Self.path("shards-past"),
        ])
        XCTAssertEqual(past.status, 3, past.transcript)
        XCTAssertTrue(past.stderr.contains("no point-in-time churn model for 2026-11-19"), past.stderr)
    }

    func testMergeRefusesShardsOfChangedInputs() throws {
        let dir = Self.path("shards-inputs")
        try Self.runShards(2, into: dir)
        // Shard 1 again after a new export file arrived.
        let extra = Self.root.appendingPathComponent("exports/savings-zz-late.csv.gz")
        try Self.gzip(
            "customer_id,recorded_at,amount,category\n\(Self.ticketCustomers.0),2026-11-01,10.00,energy\n", to: extra)
        defer { try? FileManager.default.removeItem(at: extra) }
        _ = try Self.runner().runShard(try ShardSpec(index: 1, count: 2), resultsDirectory: dir)
        let r = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("refused-inputs")])
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("disagrees with shard 0/2 on inputs"), r.stderr)
        XCTAssertTrue(r.stderr.contains("run every shard again on the same files"), r.stderr)
    }

    /// max_reject_ratio is over all rows of all shards: one shard above the
    /// limit alone publishes as `run` does; all together above it stops the
    /// merge with exit 4 and the same rejects report `run` writes.
    func testRejectRatioIsCheckedOverAllShardsTogether() throws {
        let dir = Self.path("shards-ratio")
        try Self.runShards(3, into: dir)
        let shards = try ShardResult.loadAll(directory: dir, count: nil)
        let facts = try PipelineRunner.mergedFacts(shards, inputs: shards[0].agreed["inputs"])
        let overall = Double(facts.rowsRejected) / Double(facts.rowsRead)
        let perShard = try shards.map { s -> Double in
            let f = try PipelineRunner.mergedFacts([s], inputs: s.agreed["inputs"])
            return Double(f.rowsRejected) / Double(max(1, f.rowsRead))
        }
        let worst = perShard.max()!
        XCTAssertGreaterThan(worst, overall, "one shard holds more than its share of rejects")

        func withLimit(_ limit: Double, _ body: () throws -> Void) throws {
            let original = try String(contentsOfFile: Self.pipeline, encoding: .utf8)
            defer { try? original.write(toFile: Self.pipeline, atomically: true, encoding: .utf8) }
            try original.replacingOccurrences(of: "max_reject_ratio: 0.01", with: "max_reject_ratio: \(limit)")
                .write(toFile: Self.pipeline, atomically: true, encoding: .utf8)
            // The pipeline's hash is part of what shards agree on: run them again under it.
            try FileManager.default.removeItem(atPath: dir)
            try Self.runShards(3, into: dir)
            try body()
        }
        // Above one shard's ratio, below the whole: published.
        try withLimit((overall + worst) / 2) {
            let r = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("ratio-ok")])
            XCTAssertEqual(r.status, 0, r.transcript)
        }
        // Below the whole: exit 4, like run, with the same report.
        let limit = overall / 2
        try withLimit(limit) {
            let run = try CLI.run(["run", Self.pipeline, "--as-of", Self.asOf, "--output", Self.path("ratio-run")])
            XCTAssertEqual(run.status, 4, run.transcript)
            let merge = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("ratio-merge")])
            XCTAssertEqual(merge.status, 4, merge.transcript)
            XCTAssertFalse(FileManager.default.fileExists(atPath: Self.path("ratio-merge/latest")))
            let name = "rejects-\(Self.asOf).jsonl"
            XCTAssertEqual(try Self.text(Self.path("ratio-merge"), name), try Self.text(Self.path("ratio-run"), name))
        }
    }

    // MARK: Running a shard twice, killed, or from the engine's environment

    func testAShardRunTwiceAtOnceOrAfterAKillLeavesOneCompleteResult() throws {
        let dir = Self.path("shards-twice")
        try Self.runShards(2, into: dir)
        let first = try Data(contentsOf: URL(fileURLWithPath: dir + "/shard-1-of-2/_SUCCESS"))
        // Two processes for one index at once (Kubernetes may start two pods).
        let args = ["run", Self.pipeline, "--as-of", Self.asOf, "--shard", "1/2", "--shard-output", dir, "--quiet"]
        let results = Mutex<[CLIResult]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            if let r = try? CLI.run(args) { results.withLock { $0.append(r) } }
        }
        XCTAssertEqual(
            results.withLock { $0.map(\.status) }, [0, 0], results.withLock { $0.map(\.transcript).joined() })
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: dir + "/shard-1-of-2/_SUCCESS")), first, "the same bytes")

        // Killed while writing: the previous result stays, the rerun cleans up.
        try FileManager.default.removeItem(atPath: dir + "/shard-0-of-2")
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = [
            "run", Self.pipeline, "--as-of", Self.asOf, "--shard", "0/2", "--shard-output", dir, "--quiet",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var sawTemporary = false
        while process.isRunning && Date() < deadline {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            if entries.contains(where: { $0.hasPrefix(".shard-0-of-2.tmp.") }) {
                kill(process.processIdentifier, SIGKILL)
                sawTemporary = true
                break
            }
            usleep(1_000)
        }
        process.waitUntilExit()
        if sawTemporary {
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: dir + "/shard-0-of-2"), "a killed shard publishes nothing")
            let r = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("merge-early")])
            XCTAssertEqual(r.status, 3, r.transcript)
            XCTAssertTrue(r.stderr.contains("shard 0") && r.stderr.contains("being written or were killed"), r.stderr)
        }
        let rerun = try CLI.run(args.map { $0 == "1/2" ? "0/2" : $0 })
        XCTAssertEqual(rerun.status, 0, rerun.transcript)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
        XCTAssertEqual(left, [], "the rerun removed what the killed run left")
        let merged = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("merge-twice")])
        XCTAssertEqual(merged.status, 0, merged.transcript)
        try Self.assertSameAsRun(Self.path("merge-twice/\(Self.asOf)"), "after a kill and a rerun")
    }

    /// An Indexed Job, simulated: JOB_COMPLETION_INDEX and CH_SHARD_COUNT,
    /// two pods at a time, one index killed and retried, a merge started
    /// before every index finished (refused), then the merge.
    func testIndexedJobSimulation() throws {
        let n = 4
        let dir = Self.path("shards-indexed")
        let binary = try CLI.binary()
        func pod(_ index: Int) throws -> Process {
            let p = Process()
            p.executableURL = binary
            p.arguments = [
                "run", Self.pipeline, "--as-of", Self.asOf, "--shard", "auto", "--shard-output", dir, "--quiet",
            ]
            p.environment = ProcessInfo.processInfo.environment.merging([
                "JOB_COMPLETION_INDEX": "\(index)", "CH_SHARD_COUNT": "\(n)",
            ]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        // Indexes 0 and 1 run; index 1 is killed at once (a lost node) and retried.
        let p0 = try pod(0)
        let p1 = try pod(1)
        kill(p1.processIdentifier, SIGKILL)
        p1.waitUntilExit()
        XCTAssertEqual(p1.terminationReason, .uncaughtSignal)
        p0.waitUntilExit()
        XCTAssertEqual(p0.terminationStatus, 0)
        // A merge now: indexes 1-3 have not finished.
        let early = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("indexed-out")])
        XCTAssertEqual(early.status, 3, early.transcript)
        XCTAssertTrue(early.stderr.contains("3 of 4 shard results are missing (shard 1, 2, 3)"), early.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.path("indexed-out/latest")))
        // The retry of 1 with 2; then 3 twice at once (two pods for one index).
        let retry = try pod(1)
        let p2 = try pod(2)
        retry.waitUntilExit()
        p2.waitUntilExit()
        let p3a = try pod(3)
        let p3b = try pod(3)
        p3a.waitUntilExit()
        p3b.waitUntilExit()
        XCTAssertEqual([retry, p2, p3a, p3b].map(\.terminationStatus), [0, 0, 0, 0])
        let merged = try CLI.run(["merge", Self.pipeline, "--shards", dir, "--output", Self.path("indexed-out")])
        XCTAssertEqual(merged.status, 0, merged.transcript)
        try Self.assertSameAsRun(Self.path("indexed-out/\(Self.asOf)"), "indexed job")
    }

    func testShardAutoIsAUsageErrorWhenTheEnvironmentSaysNothingOrContradictsItself() throws {
        let base = ["run", Self.pipeline, "--shard", "auto", "--shard-output", Self.path("auto")]
        var r = try CLI.run(
            base,
            environment: [
                "JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": "", "AWS_BATCH_JOB_ARRAY_INDEX": "",
                "CLOUD_RUN_TASK_INDEX": "",
            ])
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertTrue(r.stderr.contains("--shard auto found no shard index"), r.stderr)
        r = try CLI.run(base, environment: ["JOB_COMPLETION_INDEX": "1", "CH_SHARD_COUNT": ""])
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertTrue(r.stderr.contains("CH_SHARD_COUNT, the shard count, is not"), r.stderr)
        r = try CLI.run(
            base, environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "CH_SHARD_COUNT": "3"])
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertTrue(r.stderr.contains("contradicts"), r.stderr)
        r = try CLI.run(["run", Self.pipeline, "--shard", "4/4", "--shard-output", Self.path("auto")])
        XCTAssertEqual(r.status, 2, r.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.path("auto")))
    }
}
