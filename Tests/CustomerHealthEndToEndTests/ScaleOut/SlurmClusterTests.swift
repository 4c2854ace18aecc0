import CustomerHealthTestSupport
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// deploy/slurm on a real single-node Slurm cluster (Tests/slurm/cluster.sh):
/// the sharded run submitted with submit.sh publishes the same bytes as one
/// plain `run`; a failed shard task keeps the merge from running, and
/// re-running only that index lets the merge publish.
///
/// Skipped when not root (the test cluster's daemons run as SlurmUser=root) or
/// when the Slurm packages cannot be downloaded with apt.
final class SlurmClusterTests: XCTestCase {
    static let repoRoot = Checkout.root
    static let published = [
        "scores.jsonl", "features.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "rejects.jsonl",
    ]

    /// The class's cluster and data, made once (class setUp) and shared.
    struct Fixture {
        var root: URL
        var clusterDir: URL
        /// SLURM_CONF and PATH of the cluster.
        var environment: [String: String]
        var pipeline: URL
        var asOf: String
        /// OUTPUT/<as-of>/ of a plain, unsharded run.
        var plainDay: URL
    }

    nonisolated(unsafe) static var fixture: Fixture?
    nonisolated(unsafe) static var skipReason: String?
    nonisolated(unsafe) static var setupError: String?

    override class func setUp() {
        super.setUp()
        guard getuid() == 0 else {
            skipReason = "the test Slurm cluster needs root (SlurmUser=root, auth/none)"
            return
        }
        do {
            fixture = try makeFixture()
        } catch let skip as Unavailable {
            skipReason = skip.description
        } catch {
            setupError = "\(error)"
        }
    }

    override class func tearDown() {
        if let fixture {
            _ = try? SlurmShell.run(["/bin/bash", clusterScript, "stop", fixture.clusterDir.path], timeout: 60)
            try? FileManager.default.removeItem(at: fixture.root)
        }
        fixture = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let reason = Self.skipReason { throw XCTSkip(reason) }
        if let error = Self.setupError { XCTFail("setting up the Slurm cluster failed: \(error)") }
    }

    static var clusterScript: String { repoRoot.appendingPathComponent("Tests/slurm/cluster.sh").path }
    static var slurmDir: URL { repoRoot.appendingPathComponent("deploy/slurm") }

    struct SetupFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// This machine cannot run the cluster: the tests are skipped.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static func makeFixture() throws -> Fixture {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        do {
            return try makeFixture(in: root)
        } catch {
            _ = try? SlurmShell.run(
                ["/bin/bash", clusterScript, "stop", root.appendingPathComponent("cluster").path], timeout: 60)
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    static func makeFixture(in root: URL) throws -> Fixture {
        let clusterDir = root.appendingPathComponent("cluster")

        // The cluster (the first start downloads the .debs; later ones use the cache).
        let start = try SlurmShell.run(["/bin/bash", clusterScript, "start", clusterDir.path], timeout: 300)
        if start.status == 77 {
            throw Unavailable(description: "Tests/slurm/cluster.sh cannot run here:\n\(start.transcript)")
        }
        guard start.status == 0 else {
            throw SetupFailure(description: "cluster.sh start failed:\n\(start.transcript)")
        }
        let envScript = try SlurmShell.run(["/bin/bash", clusterScript, "env", clusterDir.path], timeout: 30)
        guard envScript.status == 0 else {
            throw SetupFailure(description: "cluster.sh env failed:\n\(envScript.transcript)")
        }
        let environment = parseExports(envScript.stdout)
        guard environment["SLURM_CONF"] != nil, environment["PATH"] != nil else {
            throw SetupFailure(description: "cluster.sh env printed no SLURM_CONF/PATH:\n\(envScript.stdout)")
        }

        // The data, the churn model (shards never train), and a plain run to compare with.
        let data = root.appendingPathComponent("data")
        let generated = try CLI.run(
            ["generate", "--customers", "300", "--days", "120", "--seed", "7", "--output", data.path], timeout: 120)
        guard generated.status == 0 else {
            throw SetupFailure(description: "generate failed:\n\(generated.transcript)")
        }
        let pipeline = data.appendingPathComponent("pipeline.yaml")
        let trained = try CLI.run(["train", pipeline.path, "--quiet"], timeout: 120)
        guard trained.status == 0 else { throw SetupFailure(description: "train failed:\n\(trained.transcript)") }
        // The newest activity day: the model saw nothing after it.
        let exports = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("exports").path)
        guard
            let asOf = exports.compactMap({ name -> String? in
                guard name.hasPrefix("activity-"), name.hasSuffix(".csv.gz") else { return nil }
                return String(name.dropFirst("activity-".count).dropLast(".csv.gz".count))
            }).max()
        else { throw SetupFailure(description: "no activity export in \(exports)") }
        let plain = root.appendingPathComponent("plain")
        let run = try CLI.run(["run", pipeline.path, "--as-of", asOf, "--output", plain.path, "--quiet"], timeout: 120)
        guard run.status == 0 else { throw SetupFailure(description: "the plain run failed:\n\(run.transcript)") }
        return Fixture(
            root: root, clusterDir: clusterDir, environment: environment, pipeline: pipeline,
            asOf: asOf, plainDay: plain.appendingPathComponent(asOf))
    }

    /// `export NAME=value` lines (values as printf %q writes them; `"$PATH"` expanded).
    static func parseExports(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let eq = assignment.firstIndex(of: "=") else { continue }
            let name = String(assignment[..<eq])
            var value = String(assignment[assignment.index(after: eq)...])
            value = value.replacingOccurrences(
                of: "\"$PATH\"", with: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            value = value.replacingOccurrences(of: "\\", with: "")
            values[name] = value
        }
        return values
    }

    // MARK: - the tests

    func testSubmittedShardsAndMergePublishWhatOneRunDoes() throws {
        let fixture = try XCTUnwrap(Self.fixture)
        let work = fixture.root.appendingPathComponent("happy")
        let shards = work.appendingPathComponent("shards")
        let output = work.appendingPathComponent("output")
        let ids = try submit(
            fixture, work: work,
            settings: [
                "CH_SHARD_COUNT": "3", "CH_SHARDS_DIR": shards.path, "CH_OUTPUT": output.path,
            ])
        try waitForJobs([ids.shards, ids.merge], fixture)

        let tasks = try jobRecords(ids.shards, fixture)
        XCTAssertEqual(tasks.map { $0["ArrayTaskId"] ?? "" }.sorted(), ["0", "1", "2"], "\(tasks)")
        for task in tasks {
            XCTAssertEqual(task["JobState"], "COMPLETED", "task \(task["ArrayTaskId"] ?? "?"): \(log(of: task))")
            XCTAssertEqual(task["ExitCode"], "0:0")
        }
        // The whole array 0-2: each task took its shard from Slurm's own variables.
        for task in tasks { XCTAssertTrue(log(of: task).contains("--shard auto"), log(of: task)) }
        let merge = try XCTUnwrap(try jobRecords(ids.merge, fixture).first)
        XCTAssertEqual(merge["JobState"], "COMPLETED", log(of: merge))
        for k in 0..<3 {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: shards.appendingPathComponent("shard-\(k)-of-3/_SUCCESS").path),
                "no complete shard-\(k)-of-3")
        }
        try assertSameOutputs(output.appendingPathComponent(fixture.asOf), fixture.plainDay)
    }

    /// CH_PARTITION=1: a partition job first, the array after it, each
    /// task reading only its buckets; the same bytes as one run.
    func testPartitionedSubmissionPublishesWhatOneRunDoes() throws {
        let fixture = try XCTUnwrap(Self.fixture)
        let work = fixture.root.appendingPathComponent("partitioned")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // A copy of the data: the partition goes into its input folder.
        let data = work.appendingPathComponent("data")
        let copied = try SlurmShell.run(
            ["cp", "-a", fixture.pipeline.deletingLastPathComponent().path, data.path], timeout: 60)
        XCTAssertEqual(copied.status, 0, copied.transcript)
        var copy = fixture
        copy.pipeline = data.appendingPathComponent("pipeline.yaml")
        let shards = work.appendingPathComponent("shards")
        let output = work.appendingPathComponent("output")
        let ids = try submit(
            copy, work: work,
            settings: [
                "CH_SHARD_COUNT": "3", "CH_SHARDS_DIR": shards.path, "CH_OUTPUT": output.path, "CH_PARTITION": "1",
            ])
        let partition = try XCTUnwrap(ids.partition, "submit.sh printed no partition_job")
        try waitForJobs([partition, ids.shards, ids.merge], fixture)
        let record = try XCTUnwrap(try jobRecords(partition, fixture).first)
        XCTAssertEqual(record["JobState"], "COMPLETED", log(of: record))
        XCTAssertTrue(log(of: record).contains("customer-health: partitioned"), log(of: record))
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: data.appendingPathComponent("exports/_partition/manifest.json").path)
        )
        try assertSameOutputs(output.appendingPathComponent(fixture.asOf), fixture.plainDay)
    }

    func testFailedShardKeepsTheMergeFromRunningUntilItIsRunAgain() throws {
        let fixture = try XCTUnwrap(Self.fixture)
        let work = fixture.root.appendingPathComponent("failed")
        let shards = work.appendingPathComponent("shards")
        let output = work.appendingPathComponent("output")
        let logs = work.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let binary = try CLI.binary().path
        var base = fixture.environment
        base["CH_BIN"] = binary
        base["CH_PIPELINE"] = fixture.pipeline.path
        base["CH_SHARD_COUNT"] = "3"
        base["CH_SHARDS_DIR"] = shards.path
        base["CH_OUTPUT"] = output.path
        base["CH_RETRY_DELAY"] = "1"

        // Shards 0 and 2 as they should be; shard 1 given a day that is no day
        // (the tool exits 2, which shards.sbatch does not retry). The merge
        // waits for both arrays, as submit.sh has it wait for its one.
        var good = base
        good["CH_AS_OF"] = fixture.asOf
        var bad = base
        bad["CH_AS_OF"] = "2026-02-30"
        let shardsScript = Self.slurmDir.appendingPathComponent("shards.sbatch").path
        let okShards = try sbatch(
            ["--array=0,2", "--cpus-per-task=1", "--output=\(logs.path)/shards-%A_%a.out", shardsScript], env: good,
            cwd: work)
        let badShard = try sbatch(
            ["--array=1", "--cpus-per-task=1", "--output=\(logs.path)/shards-%A_%a.out", shardsScript], env: bad,
            cwd: work)
        let merge = try sbatch(
            [
                "--dependency=afterok:\(okShards):\(badShard)", "--kill-on-invalid-dep=yes", "--cpus-per-task=1",
                "--output=\(logs.path)/merge-%j.out", Self.slurmDir.appendingPathComponent("merge.sbatch").path,
            ],
            env: good, cwd: work)
        try waitForJobs([okShards, badShard, merge], fixture)

        let failed = try XCTUnwrap(try jobRecords(badShard, fixture).first)
        XCTAssertEqual(failed["ArrayTaskId"], "1")
        XCTAssertEqual(failed["JobState"], "FAILED", log(of: failed))
        XCTAssertEqual(failed["ExitCode"], "2:0", "the tool's usage error, not retried: \(log(of: failed))")
        // sacct (reading the job completion log) tells the same.
        let sacct = try SlurmShell.run(
            ["sacct", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", failed["JobId"] ?? ""],
            env: fixture.environment, timeout: 30)
        XCTAssertTrue(sacct.stdout.contains("FAILED|2:0"), "sacct: \(sacct.transcript)")
        for task in try jobRecords(okShards, fixture) {
            XCTAssertEqual(task["JobState"], "COMPLETED", log(of: task))
        }
        let mergeRecord = try XCTUnwrap(try jobRecords(merge, fixture).first)
        XCTAssertEqual(mergeRecord["JobState"], "CANCELLED", "the merge must not run: \(mergeRecord)")
        XCTAssertEqual(mergeRecord["Reason"], "DependencyNeverSatisfied")
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: logs.appendingPathComponent("merge-\(merge).out").path),
            "the merge job ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent(fixture.asOf).path))

        // By hand, the merge refuses: shard 1 is missing, and nothing is published.
        let byHand = try CLI.run(
            ["merge", fixture.pipeline.path, "--shards", shards.path, "--output", output.path], timeout: 120)
        XCTAssertEqual(byHand.status, 3, byHand.transcript)
        XCTAssertTrue(byHand.stderr.contains("shard 1") || byHand.stderr.contains("shard-1-of-3"), byHand.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent(fixture.asOf).path))

        // Run index 1 alone again with the right day: submit.sh's re-run; the merge publishes.
        let ids = try submit(
            fixture, work: work,
            settings: [
                "CH_SHARD_COUNT": "3", "CH_SHARDS_DIR": shards.path, "CH_OUTPUT": output.path, "CH_ARRAY": "1",
            ])
        try waitForJobs([ids.shards, ids.merge], fixture)
        let rerun = try XCTUnwrap(try jobRecords(ids.shards, fixture).first)
        XCTAssertEqual(rerun["JobState"], "COMPLETED", log(of: rerun))
        XCTAssertTrue(log(of: rerun).contains("--shard 1/3"), "a partial array passes K/N itself: \(log(of: rerun))")
        let published = try XCTUnwrap(try jobRecords(ids.merge, fixture).first)
        XCTAssertEqual(published["JobState"], "COMPLETED", log(of: published))
        try assertSameOutputs(output.appendingPathComponent(fixture.asOf), fixture.plainDay)
    }

    // MARK: - helpers

    struct JobIDs {
        var partition: String?
        var shards: String
        var merge: String
    }

    /// Runs deploy/slurm/submit.sh for the fixture's pipeline and day.
    func submit(_ fixture: Fixture, work: URL, settings: [String: String]) throws -> JobIDs {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var env = fixture.environment
        env["CH_BIN"] = try CLI.binary().path
        env["CH_PIPELINE"] = fixture.pipeline.path
        env["CH_AS_OF"] = fixture.asOf
        env["CH_LOG_DIR"] = work.appendingPathComponent("logs").path
        env["CH_SBATCH_ARGS"] = "--cpus-per-task=1"
        env["CH_RETRY_DELAY"] = "1"
        env.merge(settings) { $1 }
        let result = try SlurmShell.run(
            ["/bin/bash", Self.slurmDir.appendingPathComponent("submit.sh").path],
            env: env, cwd: work, timeout: 60)
        XCTAssertEqual(result.status, 0, result.transcript)
        var ids: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { ids[parts[0]] = parts[1] }
        }
        let shards = try XCTUnwrap(ids["shards_job"], "submit.sh printed no shards_job: \(result.transcript)")
        let merge = try XCTUnwrap(ids["merge_job"], "submit.sh printed no merge_job: \(result.transcript)")
        XCTAssertTrue(Int(shards) != nil && Int(merge) != nil, result.stdout)
        return JobIDs(partition: ids["partition_job"], shards: shards, merge: merge)
    }

    func sbatch(_ args: [String], env: [String: String], cwd: URL) throws -> String {
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let result = try SlurmShell.run(["sbatch", "--parsable"] + args, env: env, cwd: cwd, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        let id =
            result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init)
            ?? ""
        XCTAssertNotNil(Int(id), "sbatch printed no job id: \(result.transcript)")
        return id
    }

    /// Polls squeue until none of `ids` is pending or running (bounded).
    func waitForJobs(_ ids: [String], _ fixture: Fixture, timeout: TimeInterval = 90) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var queue = ""
        while Date() < deadline {
            let result = try SlurmShell.run(
                ["squeue", "-h", "-o", "%i %T %r", "-j", ids.joined(separator: ",")],
                env: fixture.environment, timeout: 30)
            queue = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if result.status == 0 && queue.isEmpty { return }
            usleep(250_000)
        }
        XCTFail("jobs \(ids) still queued after \(Int(timeout)) s:\n\(queue)")
        throw SetupFailure(description: "jobs did not finish")
    }

    /// `scontrol -o show job ID`: one record per job, or per task of an array.
    func jobRecords(_ id: String, _ fixture: Fixture) throws -> [[String: String]] {
        let result = try SlurmShell.run(["scontrol", "-o", "show", "job", id], env: fixture.environment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        return result.stdout.split(separator: "\n").map { line in
            var record: [String: String] = [:]
            for field in line.split(separator: " ") {
                let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2, record[parts[0]] == nil { record[parts[0]] = parts[1] }
            }
            return record
        }
    }

    /// The output file of a job record (for failure messages and checks).
    func log(of record: [String: String]) -> String {
        guard let path = record["StdOut"], let data = FileManager.default.contents(atPath: path) else {
            return "(no output file for job \(record["JobId"] ?? "?"))"
        }
        return String(decoding: data, as: UTF8.self)
    }

    func assertSameOutputs(_ merged: URL, _ plain: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        for name in Self.published {
            let mergedFile = merged.appendingPathComponent(name)
            let plainFile = plain.appendingPathComponent(name)
            guard let got = FileManager.default.contents(atPath: mergedFile.path) else {
                XCTFail("the merge published no \(mergedFile.path)", file: file, line: line)
                continue
            }
            let want = try Data(contentsOf: plainFile)
            XCTAssertTrue(
                got == want, "\(name) differs from the plain run's (\(got.count) bytes against \(want.count))",
                file: file, line: line)
        }
    }
}

/// Runs a command with stdout and stderr in files (no pipe to fill up), an
/// environment on top of this process's, and a deadline.
enum SlurmShell {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var transcript: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
    }

    /// `command[0]` is looked up on the PATH of `env` when it has no slash.
    static func run(_ command: [String], env: [String: String] = [:], cwd: URL? = nil, timeout: TimeInterval) throws
        -> Result
    {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env) { $1 }
        let process = Process()
        if command[0].contains("/") {
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
        }
        process.environment = environment
        if let cwd { process.currentDirectoryURL = cwd }
        let r = try CLI.finish(process, timeout: timeout)
        return Result(
            status: r.timedOut ? -1 : r.status, stdout: r.stdout,
            stderr: r.timedOut ? r.stderr + "\n(killed after \(Int(timeout)) s)" : r.stderr)
    }
}
