import CustomerHealthTestSupport
import Foundation
import Logging
import Synchronization
import XCTest

@testable import CustomerHealth

/// Training at scale (docs/model.md, "Training at scale"): N shards each
/// build their part of the training table, `train --from-parts` fits on
/// their union, and the model file is byte for byte the one `train` writes
/// on one machine; sharded runs then score with it as one run does.
final class TrainingPartsTests: XCTestCase {
    /// A generated data set with its pipeline, and the model plain `train` wrote for it.
    struct Fixture {
        var root: URL
        var pipeline: String { root.appendingPathComponent("pipeline.yaml").path }
        var model: String { root.appendingPathComponent("models/churn-model.json").path }
        var report: String { root.appendingPathComponent("models/churn-model.report.json").path }
        var trainedModel = Data()
        var trainedReport = Data()
        func path(_ name: String) -> String { root.appendingPathComponent(name).path }
    }

    nonisolated(unsafe) static var fixtures: [String: Fixture] = [:]
    nonisolated(unsafe) static var base: URL!

    override class func setUp() {
        super.setUp()
        do {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("ch-train-parts-\(UUID().uuidString)")
            for profile in ["default", "own-events"] {
                let root = base.appendingPathComponent(profile)
                let g = try CLI.run([
                    "generate", "--customers", "400", "--days", "240", "--seed", "11", "--profile", profile, "--output",
                    root.path,
                ])
                guard g.status == 0 else { throw NSError(domain: g.transcript, code: 1) }
                var f = Fixture(root: root)
                let t = try CLI.run(["train", f.pipeline, "--quiet"])
                guard t.status == 0 else { throw NSError(domain: t.transcript, code: 1) }
                f.trainedModel = try Data(contentsOf: URL(fileURLWithPath: f.model))
                f.trainedReport = try Data(contentsOf: URL(fileURLWithPath: f.report))
                fixtures[profile] = f
            }
        } catch {
            fixtureError = error
        }
    }

    /// Why the class fixture could not be made: each test fails with it.
    nonisolated(unsafe) static var fixtureError: Error?

    override func setUpWithError() throws {
        if let error = Self.fixtureError { throw error }
    }

    override class func tearDown() {
        built = []
        if let base { try? FileManager.default.removeItem(at: base) }
        super.tearDown()
    }

    static func runner(_ f: Fixture, output: String? = nil, threads: Int = 1) throws -> PipelineRunner {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return PipelineRunner(
            config: try PipelineConfig.load(path: f.pipeline),
            options: RunOptions(outputDirectory: output, threads: threads),
            logger: logger)
    }

    /// Builds the N parts in this process, two at a time.
    static func buildParts(_ f: Fixture, _ n: Int, into dir: String) throws {
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: n) { k in
            do { _ = try runner(f).writeTrainingPart(try ShardSpec(index: k, count: n), partsDirectory: dir) } catch {
                errors.withLock { $0.append("part \(k)/\(n): \(error)") }
            }
        }
        let all = errors.withLock { $0 }
        if !all.isEmpty { throw NSError(domain: all.joined(separator: "; "), code: 1) }
    }

    /// The parts of `f` in N, built once per class into parts-N (read-only:
    /// a test that changes parts works on a copy, `copyOfParts`).
    nonisolated(unsafe) static var built: Set<String> = []

    static func parts(_ f: Fixture, _ n: Int) throws -> String {
        let dir = f.path("parts-\(n)")
        if !built.contains(dir) {
            try buildParts(f, n, into: dir)
            built.insert(dir)
        }
        return dir
    }

    /// A copy (`cp -a`) of the parts of `f` in N, at `name`.
    static func copyOfParts(_ f: Fixture, _ n: Int, to name: String) throws -> String {
        let dir = f.path(name)
        let copied = try SyntheticGenTestSupport.run(["cp", "-a", try parts(f, n), dir])
        guard copied.status == 0 else { throw NSError(domain: "cp -a of parts-\(n) failed", code: 1) }
        return dir
    }

    func removeModel(_ f: Fixture) {
        try? FileManager.default.removeItem(atPath: f.model)
        try? FileManager.default.removeItem(atPath: f.report)
    }

    // MARK: The contract

    /// For N in {1, 3}, on the generator's default data and on its own-events
    /// profile (where event-derived inputs are chosen), the model written
    /// from the parts is the model `train` writes.
    func testFromPartsWritesTheModelTrainWrites() throws {
        for profile in ["default", "own-events"] {
            let f = try XCTUnwrap(Self.fixtures[profile])
            for n in [1, 3] {
                let dir = try Self.parts(f, n)
                removeModel(f)
                let r = try CLI.run(["train", f.pipeline, "--from-parts", dir])
                XCTAssertEqual(r.status, 0, r.transcript)
                XCTAssertTrue(r.stdout.contains("customer-health: trained the churn ensemble"), r.stdout)
                XCTAssertEqual(
                    try Data(contentsOf: URL(fileURLWithPath: f.model)), f.trainedModel,
                    "\(profile), \(n) parts: the model file")
                XCTAssertEqual(
                    try Data(contentsOf: URL(fileURLWithPath: f.report)), f.trainedReport,
                    "\(profile), \(n) parts: the report")
            }
            // Inputs from the product's events were chosen (on the own-events profile, of its own event names too).
            let model = try XCTUnwrap(JSONSerialization.jsonObject(with: f.trainedModel) as? [String: Any])
            let chosen = try XCTUnwrap(
                ((model["metadata"] as? [String: Any])?["event_inputs"] as? [String: Any])?["chosen"] as? [String])
            XCTAssertFalse(chosen.isEmpty, profile)
            if profile == "own-events" { XCTAssertTrue(chosen.contains { $0.contains("\"") }, "\(chosen)") }
        }
    }

    /// `run --shard` scores with the model from the parts: 3 shards and a
    /// merge publish what one run publishes.
    func testShardsScoreWithTheModelFromParts() throws {
        let f = try XCTUnwrap(Self.fixtures["own-events"])
        let dir = try Self.parts(f, 3)
        removeModel(f)
        let fit = try CLI.run(["train", f.pipeline, "--from-parts", dir, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.transcript)
        let one = try Self.runner(f, output: f.path("run-one")).run()
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            do {
                _ = try Self.runner(f).runShard(
                    try ShardSpec(index: k, count: 3), resultsDirectory: f.path("run-shards"))
            } catch {
                errors.withLock { $0.append("\(k): \(error)") }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])
        let merged = try Self.runner(f, output: f.path("run-merged")).merge(shardsDirectory: f.path("run-shards"))
        XCTAssertEqual(merged.asOf, one.asOf)
        let day = one.asOf.description
        for name in ["scores.jsonl", "features.jsonl", "at-risk.json", "at-risk.csv", "kpis.json"] {
            let a = try String(contentsOfFile: f.path("run-one/\(day)/\(name)"), encoding: .utf8)
            let b = try String(contentsOfFile: f.path("run-merged/\(day)/\(name)"), encoding: .utf8)
            XCTAssertEqual(a, b, name)
        }
        XCTAssertTrue(
            try String(contentsOfFile: f.path("run-one/\(day)/scores.jsonl"), encoding: .utf8).contains(
                "churn_probability"))
    }

    // MARK: What --from-parts refuses

    func testFromPartsRefusesMissingIncompleteAndDisagreeingParts() throws {
        let f = try XCTUnwrap(Self.fixtures["default"])
        let dir = try Self.copyOfParts(f, 3, to: "parts-refuse")
        func fit() throws -> CLIResult { try CLI.run(["train", f.pipeline, "--from-parts", dir]) }
        func written() -> Bool { FileManager.default.fileExists(atPath: f.model) }
        removeModel(f)

        // Missing: named, nothing written.
        try FileManager.default.moveItem(atPath: dir + "/train-part-1-of-3", toPath: f.path("aside"))
        var r = try fit()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(r.stderr.contains("1 of 3 training parts are missing (part 1)"), r.stderr)
        XCTAssertFalse(written())
        try FileManager.default.moveItem(atPath: f.path("aside"), toPath: dir + "/train-part-1-of-3")

        // Cut short: the listing in _SUCCESS does not match.
        let columns = dir + "/train-part-2-of-3/columns.bin"
        let original = try Data(contentsOf: URL(fileURLWithPath: columns))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: columns))
        r = try fit()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(
            r.stderr.contains("train-part-2-of-3") && r.stderr.contains("columns.bin differs from what _SUCCESS lists"),
            r.stderr)
        XCTAssertFalse(written())
        try original.write(to: URL(fileURLWithPath: columns))

        // No marker: a part being written, or killed.
        let marker = dir + "/train-part-0-of-3/_SUCCESS"
        let markerData = try Data(contentsOf: URL(fileURLWithPath: marker))
        try FileManager.default.removeItem(atPath: marker)
        r = try fit()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(
            r.stderr.contains("train-part-0-of-3") && r.stderr.contains("is not complete (no readable _SUCCESS)"),
            r.stderr)
        try markerData.write(to: URL(fileURLWithPath: marker))

        // Disagreeing: part 1 built on less history (another --as-of).
        let aside = f.path("parts-refuse-1")
        try FileManager.default.moveItem(atPath: dir + "/train-part-1-of-3", toPath: aside)
        let other = try CLI.run([
            "train", f.pipeline, "--as-of", "2026-10-20", "--shard", "1/3", "--parts-output", dir, "--quiet",
        ])
        XCTAssertEqual(other.status, 0, other.transcript)
        r = try fit()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertTrue(
            r.stderr.contains("train-part-1-of-3") && r.stderr.contains("disagrees with part 0/3 on through"), r.stderr)
        XCTAssertTrue(r.stderr.contains("pass the same --as-of"), r.stderr)
        XCTAssertFalse(written())
        try FileManager.default.removeItem(atPath: dir + "/train-part-1-of-3")
        try FileManager.default.moveItem(atPath: aside, toPath: dir + "/train-part-1-of-3")

        // Whole again: the same folder fits, to the model train writes.
        r = try fit()
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: f.model)), f.trainedModel)
    }

    func testUsageErrors() throws {
        let f = try XCTUnwrap(Self.fixtures["default"])
        for (args, expected) in [
            (["--shard", "1/3"], "--shard needs --parts-output"),
            (["--parts-output", f.path("x")], "--parts-output is for train --shard"),
            (["--shard", "0/2", "--parts-output", f.path("x"), "--from-parts", f.path("x")], "not both"),
            (["--from-parts", f.path("x"), "--as-of", "2026-10-01"], "give the same --as-of to every train --shard"),
            (["--shard", "2/2", "--parts-output", f.path("x")], "outside 0-1"),
        ] {
            let r = try CLI.run(["train", f.pipeline] + args)
            XCTAssertEqual(r.status, 2, r.transcript)
            XCTAssertTrue(r.stderr.contains(expected), "\(args): \(r.stderr)")
        }
        let r = try CLI.run(
            ["train", f.pipeline, "--shard", "auto", "--parts-output", f.path("x")],
            environment: [
                "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "",
                "AWS_BATCH_JOB_ARRAY_INDEX": "", "CLOUD_RUN_TASK_INDEX": "",
            ])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.path("x/train-part-1-of-2/_SUCCESS")))
        let empty = try CLI.run(["train", f.pipeline, "--from-parts", f.path("nothing-here")])
        XCTAssertEqual(empty.status, 3, empty.transcript)
        XCTAssertTrue(empty.stderr.contains("--from-parts must name the folder"), empty.stderr)
    }

    // MARK: Determinism and what spans all customers

    /// A part is the same bytes whatever --threads, and built twice it stays one part.
    func testAPartIsTheSameBytesWhateverTheThreadsAndBuiltTwice() throws {
        let f = try XCTUnwrap(Self.fixtures["own-events"])
        let dir = f.path("parts-threads")
        _ = try Self.runner(f, threads: 1).writeTrainingPart(try ShardSpec(index: 1, count: 2), partsDirectory: dir)
        let one = try Data(contentsOf: URL(fileURLWithPath: dir + "/train-part-1-of-2/_SUCCESS"))
        _ = try Self.runner(f, threads: 4).writeTrainingPart(try ShardSpec(index: 1, count: 2), partsDirectory: dir)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/train-part-1-of-2/_SUCCESS")), one)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir), ["train-part-1-of-2"], "no temporary left")
    }

    /// The all-rows event counts are those of one machine in every shard; unsharded, they equal the owned counts.
    func testEventCountsOverAllRowsAreEqualInEveryShard() throws {
        let f = try XCTUnwrap(Self.fixtures["own-events"])
        let whole = try Self.runner(f).ingest()
        XCTAssertEqual(whole.allRowsEventCounts, whole.eventCounts)
        XCTAssertTrue(whole.allRowsProductEventCounts.elementsEqual(whole.productEventCounts) { $0 == $1 })
        XCTAssertTrue(whole.allRowsNamedFeatureEventCounts.elementsEqual(whole.namedFeatureEventCounts) { $0 == $1 })
        XCTAssertFalse(whole.allRowsNamedFeatureEventCounts.isEmpty, "the own-events profile maps names to features")
        let config = try PipelineConfig.load(path: f.pipeline)
        let wholeBuilder = TrainingSetBuilder(
            data: whole, scoring: config.scoring, churn: config.churn, events: config.events)
        var owned = [Int](repeating: 0, count: whole.eventCounts.count)
        for k in 0..<3 {
            let shard = try Self.runner(f).ingest(shard: try ShardSpec(index: k, count: 3))
            XCTAssertEqual(shard.allRowsEventCounts, whole.eventCounts, "shard \(k)")
            XCTAssertTrue(
                shard.allRowsProductEventCounts.elementsEqual(whole.productEventCounts) { $0 == $1 }, "shard \(k)")
            XCTAssertTrue(
                shard.allRowsNamedFeatureEventCounts.elementsEqual(whole.namedFeatureEventCounts) { $0 == $1 },
                "shard \(k)")
            for i in owned.indices { owned[i] += shard.eventCounts[i] }
            let builder = TrainingSetBuilder(
                data: shard, scoring: config.scoring, churn: config.churn, events: config.events)
            XCTAssertEqual(
                builder.eventCandidates(productEvents: 20).map(\.name),
                wholeBuilder.eventCandidates(productEvents: 20).map(\.name))
        }
        XCTAssertEqual(owned, whole.eventCounts, "the owned counts add up to one machine's")
    }

    /// The screening sample from parts: each part's own sample, then the
    /// smallest keys of their union, is the sample of all rows.
    func testTheScreeningSampleOfPartsIsTheSampleOfTheWhole() {
        let day0 = CalendarDay("2026-01-31")!
        let rows = (0..<6).flatMap { t in (0..<900).map { c in (customer: c, date: day0.adding(days: 30 * t)) } }
        for size in [250, 20_000] {
            let whole = TrainingSetBuilder.screeningSample(rows, size: size, seed: 7) { ($0.customer, $0.date) }
            var union: [(customer: Int, date: CalendarDay)] = []
            for part in 0..<4 {
                union += TrainingSetBuilder.screeningSample(
                    rows.filter { $0.customer % 4 == part }, size: size, seed: 7
                ) { ($0.customer, $0.date) }
            }
            let joint: [(customer: Int, date: CalendarDay)]
            if rows.count <= size {
                joint = union.sorted { ($0.date, $0.customer) < ($1.date, $1.customer) }
            } else {
                joint = Array(
                    union.sorted {
                        TrainingSetBuilder.screeningKey(customer: $0.customer, date: $0.date, seed: 7)
                            < TrainingSetBuilder.screeningKey(customer: $1.customer, date: $1.date, seed: 7)
                    }.prefix(size))
            }
            XCTAssertEqual(joint.map(\.customer), whole.map(\.customer), "size \(size)")
            XCTAssertEqual(joint.map(\.date), whole.map(\.date), "size \(size)")
            XCTAssertEqual(whole.count, min(size, rows.count))
        }
    }

    // MARK: The trainer's memory levers change no number

    /// The first k places of a seeded shuffle without shuffling every index:
    /// the same elements, and the generator left in the same state.
    func testShuffledPrefixIsTheShufflesPrefix() {
        for (n, k) in [(1, 1), (2, 1), (10, 3), (1000, 200), (5000, 4999), (5000, 5000), (30_000, 7)] {
            var a = SeededGenerator.derive(3, UInt64(n))
            var b = a
            var all = Array(0..<n)
            all.shuffle(using: &a)
            XCTAssertEqual(b.shuffledPrefix(of: n, count: k), Array(all.prefix(k)), "n \(n), k \(k)")
            XCTAssertEqual(a.next(), b.next(), "n \(n): the same draws")
        }
    }

    /// Columns are stored as 32-bit floats only when every value survives.
    func testCompactStorageKeepsEveryValue() {
        let columns: [[Double]] = [
            [0, 1, 2, 16_777_216, .nan, -0.0], [0.1, 1, 2, 3, 4, 5], [0.5, 0.25, 0x1p100, -3, .nan, 7],
            [1e300, 0, 0, 0, 0, 0],
        ]
        let values = FeatureValues(columns: columns, rowCount: 6)
        XCTAssertEqual(values.storage, [.float32, .float64, .float32, .float64])
        for (j, c) in columns.enumerated() {
            for (i, v) in c.enumerated() {
                let back = values.value(column: j, row: i)
                XCTAssertTrue(v.isNaN ? back.isNaN : back.bitPattern == v.bitPattern, "column \(j) row \(i)")
            }
        }
    }

    /// `train --table` reads the CSV in two passes straight into columns
    /// (no text copy, no split copy, values freed after the logistic
    /// regression): the model is the one the whole-table reader gives.
    func testStreamedTableTrainingGivesTheModelOfTheTableInMemory() throws {
        let dir = Self.base.appendingPathComponent("table")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: 5)
        var csv = "id,churned,usage,tickets,plan,ratio\n"
        for i in 0..<6_000 {
            let usage = rng.uniform() * 10
            let tickets = Int(rng.uniform() * 5)
            let plan = ["basic", "pro", "enterprise", ""][i % 4]
            let risk = 1 / (1 + exp(usage - 3 - Double(tickets) * 0.5 + (plan == "basic" ? -1 : 0)))
            let label = rng.uniform() < risk ? "yes" : "no"
            let usageCell = i % 97 == 0 ? "" : i % 89 == 0 ? "n/a" : i % 83 == 0 ? " \(usage) " : String(usage)
            csv += "c\(i % 1500),\(label),\(usageCell),\(tickets),\(plan),\(Double(tickets) / 4)\n"
        }
        let table = dir.appendingPathComponent("table.csv").path
        try csv.write(toFile: table, atomically: true, encoding: .utf8)
        let modelPath = dir.appendingPathComponent("model.json").path
        let outcome = try TableTraining.train(
            tablePath: table, label: "churned", id: "id", validationPath: nil, modelPath: modelPath, seed: 42)

        let (header, rows) = try LabelledTableReader.readCSV(path: table)
        let schema = try LabelledTableReader.schema(header: header, rows: rows, label: "churned", id: "id")
        let full = try LabelledTableReader.table(header: header, rows: rows, schema: schema, file: "table.csv")
        let split = LabelledTableReader.stratifiedSplit(full, validationShare: 0.2, seed: 42)
        var parameters = ChurnTrainingParameters()
        parameters.seed = 42
        let (ensemble, report) = ChurnTrainer.train(
            train: full.subset(split.train), validation: full.subset(split.validation), parameters: parameters)
        let metadata: JSONValue = .object([
            ("trained_on", .string("table.csv")), ("table_schema", schema.json()), ("seed", .int(42)),
            ("report", report.json()),
        ])
        let expected = ChurnModelFile(ensemble: ensemble, metadata: metadata).serialized()
        XCTAssertEqual(try String(contentsOfFile: modelPath, encoding: .utf8), expected)
        XCTAssertEqual(outcome.featureNames, schema.featureNames)
    }
}
