import CustomerHealthTestSupport
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Faults at every step of publishing, not at random times: the run is
/// killed on entering each call of the publish sequence in turn (strace
/// `inject=CALL:signal=KILL:when=N`, so right after the call before it), and
/// a full or read-only disk fails the run. Each time `latest` must still name
/// a complete run, and the next run must succeed and leave nothing stranded
/// (docs/outputs.md, "What the output folder holds").
final class PublishFaultTests: XCTestCase {
    /// The calls that change files: each is a step at which a kill must be harmless.
    static let steps = ["write", "fsync", "mkdir", "symlink", "rename", "unlink", "unlinkat", "rmdir"]

    static func strace() throws -> String {
        for path in ["/usr/bin/strace", "/bin/strace"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw XCTSkip("strace is not installed (make test installs it from Debian's strace package)")
    }

    /// Runs `arguments` killed on entering the `n`th `call`.
    static func killed(at call: String, _ n: Int, _ arguments: [String]) throws -> CLIResult {
        try CLI.run(
            arguments,
            wrapper: [
                try strace(), "-f", "-qq", "-o", "/dev/null", "-e", "trace=\(call)", "-e",
                "inject=\(call):signal=KILL:when=\(n)",
            ])
    }

    func testAKillAtAnyStepOfPublishingLeavesACompleteRunAndTheNextRunCleansUp() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let files = try Self.publishedFiles(f)
        var faults = 0
        for call in Self.steps {
            for n in 1... {
                let r = try Self.killed(at: call, n, ["run", f.pipelinePath, "--quiet"])
                if !r.killed {
                    XCTAssertEqual(r.status, 0, "\(call) #\(n): \(r.transcript)")
                    break
                }
                faults += 1
                try Self.assertLatestIsComplete(f, files: files, "killed at \(call) #\(n)")
                let next = try f.run()
                XCTAssertEqual(next.status, 0, "the run after a kill at \(call) #\(n): \(next.transcript)")
                try Self.assertNothingStranded(f, "after a kill at \(call) #\(n)")
                if n > 400 {
                    XCTFail("\(call): still killed after 400 calls")
                    break
                }
            }
        }
        XCTAssertGreaterThan(faults, 20, "kills injected")
        print("PublishFaultTests: run killed at \(faults) steps of publishing, each survived")
    }

    /// A watch killed while saving its checkpoint keeps a checkpoint that
    /// reads (the old one or the new one), and the next look goes on from it.
    func testAKillWhileWatchSavesItsCheckpointLeavesOneThatReads() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let state = f.root.appendingPathComponent("state").path
        let watch = [
            "watch", f.pipelinePath, "--once", "--quiet", "--state", state, "--emit",
            f.root.appendingPathComponent("stream.ndjson").path,
        ]
        XCTAssertEqual(try CLI.run(watch).status, 0)
        let baseline = try Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json"))
        try f.write("activity-2026-04.csv", Sample.csv(Sample.activityHeader, ["c2,v1,2026-04-01T08:00:00Z,login,,"]))
        var faults = 0
        for call in ["write", "fsync", "rename", "unlink"] {
            for n in 1... {
                try baseline.write(to: URL(fileURLWithPath: state + "/checkpoint.json"))
                let r = try Self.killed(at: call, n, watch)
                if !r.killed {
                    XCTAssertEqual(r.status, 0, "\(call) #\(n): \(r.transcript)")
                    break
                }
                faults += 1
                let saved = try Data(contentsOf: URL(fileURLWithPath: state + "/checkpoint.json"))
                XCTAssertNoThrow(
                    try JSONSerialization.jsonObject(with: saved), "checkpoint after a kill at \(call) #\(n)")
                let next = try CLI.run(watch)
                XCTAssertEqual(next.status, 0, "the look after a kill at \(call) #\(n): \(next.transcript)")
                let left = try FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasSuffix(".tmp") }
                XCTAssertEqual(left, [], "after a kill at \(call) #\(n)")
                if n > 400 {
                    XCTFail("\(call): still killed after 400 calls")
                    break
                }
            }
        }
        print("PublishFaultTests: watch killed at \(faults) steps of saving, each survived")
        XCTAssertGreaterThanOrEqual(
            faults, 3, "kills injected: at the stream write, the checkpoint write, its fsync and its rename")
    }

    /// OUTPUT on a small tmpfs: a run that fills it fails with a message that
    /// says so, keeps the previous run, and gives the space back.
    func testAFullDiskFailsClearlyAndKeepsThePreviousRun() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let mount = try TmpfsMount(at: f.output.path, bytes: 4 << 20)
        defer { mount.unmount() }
        XCTAssertEqual(try f.run().status, 0)
        let files = try Self.publishedFiles(f)
        // Room for a little more than what is there: the next run's files do not fit.
        try mount.resize(bytes: mount.usedBytes() + 8192)
        let full = try f.run()
        XCTAssertEqual(full.status, 1, full.transcript)
        XCTAssertTrue(
            full.stderr.contains("No space left on device") && full.stderr.contains("free space"), full.stderr)
        try Self.assertLatestIsComplete(f, files: files, "after a full disk")
        try mount.resize(bytes: 4 << 20)
        XCTAssertEqual(try f.run().status, 0)
        try Self.assertNothingStranded(f, "after a full disk")
    }

    func testAReadOnlyOutputFolderFailsClearlyAndKeepsThePreviousRun() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let mount = try TmpfsMount(at: f.output.path, bytes: 4 << 20)
        defer { mount.unmount() }
        XCTAssertEqual(try f.run().status, 0)
        let files = try Self.publishedFiles(f)
        try mount.remount(options: "ro")
        let r = try f.run()
        XCTAssertEqual(r.status, 1, r.transcript)
        XCTAssertTrue(r.stderr.contains("Read-only file system") && r.stderr.contains("writable folder"), r.stderr)
        try Self.assertLatestIsComplete(f, files: files, "after a read-only run")
    }

    // MARK: Checks

    static func publishedFiles(_ f: ExportsFolder) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: f.output.appendingPathComponent("latest").path).sorted()
    }

    /// `latest` and every date link name a folder with every file, each of which parses and agrees with the manifest.
    static func assertLatestIsComplete(
        _ f: ExportsFolder, files: [String], _ context: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let o = try RunOutputs(folder: f.output.appendingPathComponent("latest"))
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: o.folder.path).sorted(), files, context, file: file,
            line: line)
        let manifest = try o.manifest
        let scored = try XCTUnwrap(JSON.int(manifest["customers_scored"]), context, file: file, line: line)
        XCTAssertGreaterThanOrEqual(try o.scores.count, scored, context, file: file, line: line)
        XCTAssertGreaterThanOrEqual(try o.features.count, scored, context, file: file, line: line)
        _ = try o.kpis
        _ = try o.atRisk
        _ = try o.rejects
        for entry in try FileManager.default.contentsOfDirectory(atPath: f.output.path) where entry.count == 10 {
            XCTAssertTrue(
                FileManager.default.fileExists(
                    atPath: f.output.appendingPathComponent(entry).appendingPathComponent("manifest.json").path),
                "\(entry) \(context)", file: file, line: line)
        }
    }

    /// OUTPUT holds the lock, .runs, `latest` and the date links, and .runs only the runs they point to.
    static func assertNothingStranded(
        _ f: ExportsFolder, _ context: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: f.output.path).sorted()
        XCTAssertEqual(entries, [".lock", ".runs", Sample.asOf, "latest"], context, file: file, line: line)
        let target = try fm.destinationOfSymbolicLink(atPath: f.output.appendingPathComponent(Sample.asOf).path)
        XCTAssertEqual(
            try fm.contentsOfDirectory(atPath: f.output.appendingPathComponent(".runs").path),
            [(target as NSString).lastPathComponent],
            context, file: file, line: line)
    }
}

/// A tmpfs mounted on a folder for one test (needs root, as `make test` in CI has).
struct TmpfsMount {
    let path: String

    init(at path: String, bytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard getuid() == 0, Self.mount(["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path]) == 0 else {
            throw XCTSkip("mounting a tmpfs needs root")
        }
    }

    func resize(bytes: Int) throws { try remount(options: "size=\(bytes)") }

    func remount(options: String) throws {
        guard Self.mount(["-o", "remount,\(options)", path]) == 0 else { throw POSIXError(.EIO) }
    }

    func usedBytes() throws -> Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { throw POSIXError(.EIO) }
        return Int(s.f_blocks - s.f_bfree) * Int(s.f_frsize)
    }

    func unmount() { _ = Self.mount(["-l", path], tool: "/bin/umount") }

    @discardableResult
    static func mount(_ arguments: [String], tool: String = "/bin/mount") -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
