import CustomerHealthTestSupport
import Foundation
import Logging
import XCTest

@testable import CustomerHealth

#if canImport(Glibc)
    import Glibc
#endif

/// `customer-health partition` (docs/scale-out.md#partitioned-input): shards
/// that read only their own buckets publish, with the merge, exactly what
/// one run of the exports publishes; partitioning is incremental; a stale
/// or damaged partition is never used silently.
final class PartitionTests: XCTestCase {
    nonisolated(unsafe) static var root: URL!

    override class func setUp() {
        super.setUp()
        // The sharded-run fixture: rejected rows, unknown customers, a row
        // without customer, a ticket across shards, a corrupt file skipped.
        do {
            try ShardedRunTests.makeFixture()
            root = ShardedRunTests.root
            _ = try ShardedRunTests.runner().partition(outputDirectory: nil)
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
        if let root { try? FileManager.default.removeItem(at: root) }
        ShardedRunTests.root = nil
        super.tearDown()
    }

    static var exports: String { root.appendingPathComponent("exports").path }

    /// A copy of the fixture's pipeline and exports to change, with its own
    /// pipeline file: `input` set to `input` (relative to the copy). The
    /// exports' partition comes along (copied with the exports' times, it
    /// still holds), unless `keepPartition` is false.
    static func copy(_ name: String, input: String = "exports", keepPartition: Bool = true) throws -> (
        dir: String, pipeline: String
    ) {
        let dir = root.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try SyntheticGenTestSupport.run(["cp", "-a", exports, dir + "/exports"])
        if !keepPartition {
            _ = try SyntheticGenTestSupport.run([
                "sh", "-c", "rm -rf '\(dir)/exports/_partition' '\(dir)'/exports/bucket=*",
            ])
        }
        var text = try String(contentsOfFile: ShardedRunTests.pipeline, encoding: .utf8)
        text = text.replacingOccurrences(of: "input: exports", with: "input: \(input)")
        try text.write(toFile: dir + "/pipeline.yaml", atomically: true, encoding: .utf8)
        // The churn model the fixture's run trained: shards never train.
        try? FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        _ = try? SyntheticGenTestSupport.run([
            "cp", "-a", root.appendingPathComponent("models").path + "/.", dir + "/models/",
        ])
        return (dir, dir + "/pipeline.yaml")
    }

    static func runner(_ pipeline: String, output: String? = nil, asOf: String? = ShardedRunTests.asOf) throws
        -> PipelineRunner
    {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return PipelineRunner(
            config: try PipelineConfig.load(path: pipeline),
            options: RunOptions(asOf: asOf.flatMap(CalendarDay.init), outputDirectory: output, threads: 2),
            logger: logger)
    }

    /// Runs a plain run and N shards plus a merge of `pipeline`; asserts the data files are equal.
    static func assertShardsEqualRun(
        _ pipeline: String, shards n: Int, in dir: String, asOf: String? = ShardedRunTests.asOf,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let run = try runner(pipeline, output: dir + "/run-\(n)", asOf: asOf).run()
        for k in 0..<n {
            _ = try runner(pipeline, asOf: asOf).runShard(
                try ShardSpec(index: k, count: n), resultsDirectory: dir + "/shards-\(n)")
        }
        let merged = try runner(pipeline, output: dir + "/merged-\(n)", asOf: nil).merge(
            shardsDirectory: dir + "/shards-\(n)")
        XCTAssertEqual(merged.asOf, run.asOf, file: file, line: line)
        for name in ShardedRunTests.dataFiles {
            XCTAssertEqual(
                try ShardedRunTests.text(merged.outputPath, name), try ShardedRunTests.text(run.outputPath, name),
                "\(n) shards: \(name)", file: file, line: line)
        }
    }

    // MARK: The contract, from bucket files

    func testShardsReadingTheirBucketsPublishWhatOneRunPublishes() throws {
        let manifest = try XCTUnwrap(try PartitionLayout.manifest(in: Self.exports))
        XCTAssertTrue(manifest.inPlace)
        XCTAssertTrue(
            manifest.files.contains { $0.file == "activity-zz-extra.csv.gz" && $0.unplacedRejects == 1 },
            "the record with too few fields has no customer: rejected by partition, shard 0's")
        XCTAssertEqual(manifest.leftWhole.map(\.file), ["uptime-zz-corrupt.csv.gz"], "the corrupt file is left whole")
        XCTAssertFalse(
            manifest.files.contains { $0.export == "accounts" || $0.export == "tickets" },
            "accounts and tickets stay whole")
        // 3 shards: in the tests below.
        for n in [1, 2, 7] {
            let dir = ShardedRunTests.path("partitioned-\(n)")
            try ShardedRunTests.runShards(n, into: dir)
            _ = try ShardedRunTests.runner(output: ShardedRunTests.path("partitioned-merged-\(n)"), asOf: nil).merge(
                shardsDirectory: dir)
            try ShardedRunTests.assertSameAsRun(
                ShardedRunTests.path("partitioned-merged-\(n)/\(ShardedRunTests.asOf)"), "\(n) partitioned shards")
        }
    }

    /// Proof that shards read the bucket files, not the exports: an export
    /// overwritten with other rows of the same size and time changes nothing.
    func testShardsDoNotReadTheFilesSplit() throws {
        let (dir, pipeline) = try Self.copy("untouched")
        let victim = dir + "/exports/activity-2026-11-20.csv.gz"
        var st = stat()
        XCTAssertEqual(stat(victim, &st), 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: victim))
        try Data(repeating: 0x41, count: before.count).write(to: URL(fileURLWithPath: victim))
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, victim, &times, 0), 0)
        _ = try Self.runner(pipeline).runShard(try ShardSpec(index: 0, count: 2), resultsDirectory: dir + "/shards")
        _ = try Self.runner(pipeline).runShard(try ShardSpec(index: 1, count: 2), resultsDirectory: dir + "/shards")
        let merged = try Self.runner(pipeline, output: dir + "/merged", asOf: nil).merge(
            shardsDirectory: dir + "/shards")
        for name in ShardedRunTests.dataFiles {
            XCTAssertEqual(
                try ShardedRunTests.text(merged.outputPath, name),
                try ShardedRunTests.text(ShardedRunTests.path("run/\(ShardedRunTests.asOf)"), name), name)
        }
        // A plain run in place reads the exports themselves, and sees the
        // damage (a corrupt file, skipped under on_corrupt_file: skip).
        let plain = try Self.runner(pipeline, output: dir + "/plain").run()
        let manifest =
            try JSONSerialization.jsonObject(with: Data(ShardedRunTests.text(plain.outputPath, "manifest.json").utf8))
            as? [String: Any]
        let inputs = try XCTUnwrap(manifest?["inputs"] as? [[String: Any]])
        XCTAssertNotNil(inputs.first { $0["file"] as? String == "activity-2026-11-20.csv.gz" }?["skipped"] as? String)
        XCTAssertNotEqual(
            try ShardedRunTests.text(plain.outputPath, "scores.jsonl"),
            try ShardedRunTests.text(merged.outputPath, "scores.jsonl"))
    }

    /// Rejects keep the original line and byte offset through a byte-order
    /// mark, CRLF line ends, blank lines, a quoted field over two lines and
    /// a last line without its line end.
    func testRejectsKeepTheirOriginalPositions() throws {
        let (dir, pipeline) = try Self.copy("positions")
        let ids = try ShardedRunTests.accountIDs(URL(fileURLWithPath: dir + "/exports"))
        var rows = ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
        for (i, id) in ids.prefix(30).enumerated() {
            rows.append("\(id),u\(i),2026-11-2\(i % 4)T08:00:00Z,feature_use,\"two\r\nlines\",5")
            rows.append("")
            rows.append("\(id),u\(i),2026-11-2\(i % 4)T08:00:00Z,\(i % 3 == 0 ? "warp" : "login"),,")
            if i % 7 == 0 { rows.append("\(id),u\(i),not-a-date,login,,") }
        }
        rows.append("\(ids[0]),last,2026-11-21T08:00:00Z,telepathy,,")
        var bytes: [UInt8] = [0xEF, 0xBB, 0xBF]
        bytes += Array(rows.joined(separator: "\r\n").utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/exports/activity-zz-positions.csv"))
        // A plain CSV file too (its bucket files are gzip).
        var text = try String(contentsOfFile: pipeline, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "files: \"activity-*.csv.gz\"", with: "files: [\"activity-*.csv.gz\", \"activity-*.csv\"]")
        try text.write(toFile: pipeline, atomically: true, encoding: .utf8)
        _ = try Self.runner(pipeline).partition(outputDirectory: nil)
        try Self.assertShardsEqualRun(pipeline, shards: 3, in: dir)
        let rejects = try ShardedRunTests.text(dir + "/run-3/\(ShardedRunTests.asOf)", "rejects.jsonl")
        XCTAssertTrue(
            rejects.contains("\"file\": \"activity-zz-positions.csv\""), "the fixture's own rows are rejected too")
    }

    /// Training parts written from the buckets are the bytes of parts written reading every row.
    func testTrainingPartsFromBucketsAreTheSame() throws {
        let (dir, pipeline) = try Self.copy("training")
        for k in 0..<2 {
            _ = try Self.runner(pipeline).writeTrainingPart(
                try ShardSpec(index: k, count: 2), partsDirectory: dir + "/parts-buckets")
        }
        try FileManager.default.moveItem(atPath: dir + "/exports/_partition", toPath: dir + "/partition-off")
        for k in 0..<2 {
            _ = try Self.runner(pipeline).writeTrainingPart(
                try ShardSpec(index: k, count: 2), partsDirectory: dir + "/parts-read-all")
        }
        for k in 0..<2 {
            let part = "train-part-\(k)-of-2"
            let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/parts-buckets/" + part).sorted()
            XCTAssertGreaterThan(names.count, 3)
            for name in names {
                XCTAssertEqual(
                    FileManager.default.contents(atPath: dir + "/parts-buckets/\(part)/\(name)"),
                    FileManager.default.contents(atPath: dir + "/parts-read-all/\(part)/\(name)"), "\(part)/\(name)")
            }
        }
    }

    // MARK: Incremental

    func testASecondPartitionSplitsOnlyWhatIsNewAndResummarisesWhenAccountsChange() throws {
        let (dir, pipeline) = try Self.copy("incremental", keepPartition: false)
        let first = try Self.runner(pipeline).partition(outputDirectory: nil)
        XCTAssertGreaterThan(first.filesSplit, 100)
        let bucketFile = PartitionLayout.bucketFile(dir + "/exports", bucket: 0, name: "activity-2026-11-01.csv.gz")
        let stamp = try FileManager.default.attributesOfItem(atPath: bucketFile)[.modificationDate] as? Date

        let again = try Self.runner(pipeline).partition(outputDirectory: nil)
        XCTAssertEqual([again.filesSplit, again.filesKept, again.filesResummarised], [0, first.filesSplit, 0])

        // A daily drop: only it is split.
        let ids = try ShardedRunTests.accountIDs(URL(fileURLWithPath: dir + "/exports"))
        let drop =
            ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
            + ids.prefix(50).map { "\($0),\($0)-u1,2026-11-24T09:00:00Z,login,," }
        try ShardedRunTests.gzip(
            drop.joined(separator: "\n") + "\n", to: URL(fileURLWithPath: dir + "/exports/activity-2026-11-24.csv.gz"))
        let daily = try Self.runner(pipeline).partition(outputDirectory: nil)
        XCTAssertEqual([daily.filesSplit, daily.filesKept, daily.filesResummarised], [1, first.filesSplit, 0])
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: bucketFile)[.modificationDate] as? Date, stamp,
            "files split before are not written again")

        // New accounts: known customers change, so every summary is computed again; nothing is split again.
        let newcomer = try Self.accountsRow(like: dir + "/exports/accounts.csv.gz", id: "ghost_001")
        try ShardedRunTests.gzip(newcomer, to: URL(fileURLWithPath: dir + "/exports/accounts-2026-11-24.csv.gz"))
        let resummarised = try Self.runner(pipeline).partition(outputDirectory: nil)
        XCTAssertEqual(
            [resummarised.filesSplit, resummarised.filesKept, resummarised.filesResummarised],
            [0, 0, first.filesSplit + 1])
        try Self.assertShardsEqualRun(pipeline, shards: 3, in: dir, asOf: "2026-11-24")
    }

    /// The accounts file's header and one row of it, with the customer_id replaced.
    static func accountsRow(like path: String, id: String) throws -> String {
        let text = String(
            decoding: try SyntheticGenTestSupport.run(["sh", "-c", "gzip -dc '\(path)'"]).output, as: UTF8.self)
        let lines = text.split(separator: "\n")
        let row = lines[1].split(separator: ",", omittingEmptySubsequences: false).dropFirst()
        return lines[0] + "\n" + id + "," + row.joined(separator: ",") + "\n"
    }

    // MARK: Stale and damaged partitions

    /// Accounts changed since partition ran: in place, the shards read the
    /// exports whole (still the same bytes); elsewhere, they refuse.
    func testAStalePartitionIsSetAsideInPlaceAndRefusedElsewhere() throws {
        let (dir, pipeline) = try Self.copy("stale")
        _ = try Self.runner(pipeline).partition(outputDirectory: dir + "/partitioned")
        let newcomer = try Self.accountsRow(like: dir + "/exports/accounts.csv.gz", id: "ghost_002")
        try ShardedRunTests.gzip(newcomer, to: URL(fileURLWithPath: dir + "/exports/accounts-2026-11-24.csv.gz"))
        try Self.assertShardsEqualRun(pipeline, shards: 2, in: dir)

        var text = try String(contentsOfFile: pipeline, encoding: .utf8)
        text = text.replacingOccurrences(of: "input: exports", with: "input: partitioned")
        try text.write(toFile: dir + "/elsewhere.yaml", atomically: true, encoding: .utf8)
        try ShardedRunTests.gzip(newcomer, to: URL(fileURLWithPath: dir + "/partitioned/accounts-2026-11-24.csv.gz"))
        XCTAssertThrowsError(
            try Self.runner(dir + "/elsewhere.yaml").runShard(
                try ShardSpec(index: 0, count: 2), resultsDirectory: dir + "/refused")
        ) {
            XCTAssertTrue("\($0)".contains("the partition is out of date: the accounts files changed"), "\($0)")
        }
    }

    /// A partition written elsewhere is a whole input folder: plain runs and
    /// shards of a pipeline reading it publish what a run of the exports does.
    func testAPartitionElsewhereIsACompleteInputFolder() throws {
        let (dir, _) = try Self.copy("elsewhere", input: "partitioned")
        var text = try String(contentsOfFile: dir + "/pipeline.yaml", encoding: .utf8)
        text = text.replacingOccurrences(of: "input: partitioned", with: "input: exports")
        try text.write(toFile: dir + "/exports.yaml", atomically: true, encoding: .utf8)
        let summary = try Self.runner(dir + "/exports.yaml").partition(outputDirectory: dir + "/partitioned")
        XCTAssertEqual(summary.filesLeftWhole.map(\.name), ["uptime-zz-corrupt.csv.gz"])
        let top = try FileManager.default.contentsOfDirectory(atPath: dir + "/partitioned").filter {
            !$0.hasPrefix("bucket=")
        }.sorted()
        XCTAssertEqual(
            top,
            [
                "_partition", "accounts.csv.gz", "tickets-2026-08.jsonl.gz", "tickets-2026-09.jsonl.gz",
                "tickets-2026-10.jsonl.gz",
                "tickets-2026-11.jsonl.gz", "tickets-zz-extra.jsonl.gz", "uptime-zz-corrupt.csv.gz",
            ],
            "only the files not split are there, as links")
        try Self.assertShardsEqualRun(dir + "/pipeline.yaml", shards: 3, in: dir)
        let plain = try ShardedRunTests.text(dir + "/run-3/\(ShardedRunTests.asOf)", "scores.jsonl")
        XCTAssertEqual(
            plain, try ShardedRunTests.text(ShardedRunTests.path("run/\(ShardedRunTests.asOf)"), "scores.jsonl"))
        // Partitioning the partition is refused: it is not the exports.
        XCTAssertThrowsError(try Self.runner(dir + "/pipeline.yaml").partition(outputDirectory: nil))
    }

    /// A bucket file gone is a damaged partition: an error naming it, never
    /// a corrupt export skipped under on_corrupt_file: skip.
    func testADamagedPartitionIsAnError() throws {
        let (dir, pipeline) = try Self.copy("damaged")
        let manifest = try XCTUnwrap(try PartitionLayout.manifest(in: dir + "/exports"))
        let entry = try XCTUnwrap(manifest.entry(named: "activity-2026-11-01.csv.gz"))
        let bucket = try XCTUnwrap(entry.buckets.first { $0 % 2 == 1 })
        unlink(PartitionLayout.bucketFile(dir + "/exports", bucket: bucket, name: entry.file))
        XCTAssertNoThrow(
            try Self.runner(pipeline).runShard(try ShardSpec(index: 0, count: 2), resultsDirectory: dir + "/shards"),
            "shard 0 does not read that bucket")
        XCTAssertThrowsError(
            try Self.runner(pipeline).runShard(try ShardSpec(index: 1, count: 2), resultsDirectory: dir + "/shards")
        ) {
            let text = "\($0)"
            XCTAssertTrue(text.contains(String(format: "bucket=%03d/activity-2026-11-01.csv.gz", bucket)), text)
            XCTAssertTrue(text.contains("the partition is damaged; run  customer-health partition"), text)
            XCTAssertEqual(($0 as? CustomerHealthError)?.exitCode, 3)
        }
    }

    func testTheCommandLine() throws {
        let (_, pipeline) = try Self.copy("cli")
        let first = try CLI.run(["partition", pipeline])
        XCTAssertEqual(first.status, 0, first.transcript)
        XCTAssertTrue(first.stdout.contains("split:     0 files"), first.stdout)
        XCTAssertTrue(first.stdout.contains("kept:      106 files already split"), first.stdout)
        XCTAssertTrue(first.stdout.contains("left whole: 1 files"), first.stdout)
        let buckets = try CLI.run(["partition", pipeline, "--buckets", "128"])
        XCTAssertEqual(buckets.status, 2, buckets.transcript)
    }
}
