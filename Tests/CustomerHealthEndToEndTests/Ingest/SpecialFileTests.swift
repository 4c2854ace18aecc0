import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12, task 1: only regular files (and symlinks to them) are read. A
/// FIFO, socket, device or directory whose name matches an export's glob is
/// an unreadable file: exit 3 naming it, or skipped and listed in the manifest
/// under `on_corrupt_file: skip`. Opening one must never block: a FIFO used to
/// hang `open(2)` forever while the run held the output lock.
///
/// Every run goes through the real executable with a watchdog, so that these
/// tests end (and fail) instead of hanging on a build that still blocks.
final class SpecialFileTests: XCTestCase {
    /// How long a run that should take well under a second may take.
    static let watchdogSeconds: Double = 60

    struct TimedResult {
        var result: CLIResult
        var timedOut: Bool
    }

    /// Runs the executable; kills it (SIGKILL) when it outlives `timeout`.
    static func runWithWatchdog(_ arguments: [String], timeout: Double = watchdogSeconds) throws -> TimedResult {
        let result = try CLI.run(arguments, timeout: timeout)
        return TimedResult(result: result, timedOut: result.timedOut)
    }

    enum Special: CaseIterable {
        case fifo, directory, socket, deviceLink, fifoLink

        var what: String {
            switch self {
            case .fifo: return "FIFO"
            case .directory: return "directory"
            case .socket: return "socket"
            case .deviceLink: return "symlink to /dev/zero"
            case .fifoLink: return "symlink to a FIFO"
            }
        }
    }

    /// Creates a special file at `path`. A socket stays bound until the
    /// returned descriptor is closed.
    @discardableResult
    static func make(_ kind: Special, at path: String) throws -> Int32? {
        switch kind {
        case .fifo:
            guard mkfifo(path, 0o644) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        case .directory:
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        case .deviceLink:
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        case .fifoLink:
            let target = path + ".fifo-target.tmp"  // `.tmp`: never listed itself
            guard mkfifo(target, 0o644) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        case .socket:
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EIO) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(fd)
                throw XCTSkip("socket path too long for sockaddr_un: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
                raw[bytes.count] = 0
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            _ = listen(fd, 1)
            return fd
        }
        return nil
    }

    /// The sample exports plus an activity "file" of the given kind, already
    /// run once successfully (so that the previous outputs can be checked).
    private func folder(with kind: Special, skip: Bool) throws -> (ExportsFolder, Int32?, [String: String]) {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        let first = try Self.runWithWatchdog(["run", f.pipelinePath, "--quiet"])
        XCTAssertEqual(first.result.status, 0, first.result.transcript)
        let before = snapshotTree(f.output)
        let fd = try Self.make(kind, at: f.path("activity-2026-04.csv"))
        try f.writePipeline(skip ? "on_corrupt_file: skip\n" : "")
        return (f, fd, before)
    }

    func testSpecialFileStopsTheRunWithExit3NamingIt() throws {
        for kind in Special.allCases {
            let (f, socketFD, before) = try folder(with: kind, skip: false)
            defer { if let socketFD { close(socketFD) } }
            let r = try Self.runWithWatchdog(["run", f.pipelinePath, "--quiet"])
            XCTAssertFalse(r.timedOut, "\(kind.what): the run hung (killed after \(Self.watchdogSeconds) s)")
            XCTAssertEqual(r.result.status, 3, "\(kind.what): \(r.result.transcript)")
            XCTAssertTrue(r.result.stderr.contains("activity-2026-04.csv"), "\(kind.what): \(r.result.stderr)")
            XCTAssertTrue(r.result.stderr.contains("not a regular file"), "\(kind.what): \(r.result.stderr)")
            XCTAssertEqual(snapshotTree(f.output), before, "\(kind.what): the previous outputs are untouched")
        }
    }

    func testSpecialFileIsSkippedAndListedUnderSkip() throws {
        for kind in Special.allCases {
            let (f, socketFD, _) = try folder(with: kind, skip: true)
            defer { if let socketFD { close(socketFD) } }
            let r = try Self.runWithWatchdog(["run", f.pipelinePath, "--quiet"])
            XCTAssertFalse(r.timedOut, "\(kind.what): the run hung (killed after \(Self.watchdogSeconds) s)")
            XCTAssertEqual(r.result.status, 0, "\(kind.what): \(r.result.transcript)")
            guard r.result.status == 0 else { continue }
            let o = try f.outputs(Sample.asOf)
            let input = try XCTUnwrap(
                try o.input("activity-2026-04.csv"), "\(kind.what): the skipped file is in manifest.json")
            let skipped = input["skipped"] as? String ?? ""
            XCTAssertTrue(skipped.contains("skip"), "\(kind.what): skipped: \(skipped)")
            XCTAssertEqual(JSON.int(input["rows_read"]), 0, "\(kind.what)")
            XCTAssertEqual(
                JSON.int(try o.input("activity-2026-03.csv")?["rows_accepted"]), Sample.activityRows.count,
                "\(kind.what)")
            try assertNothingLost(o)
        }
    }

    func testValidateReportsAFIFOInsteadOfHanging() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        try Self.make(.fifo, at: f.path("tickets-2026-04.jsonl"))
        let r = try Self.runWithWatchdog(["validate", f.pipelinePath, "--quiet"])
        XCTAssertFalse(r.timedOut, "validate hung on a FIFO")
        XCTAssertEqual(r.result.status, 3, r.result.transcript)
        XCTAssertTrue(r.result.stderr.contains("tickets-2026-04.jsonl"), r.result.stderr)
        XCTAssertTrue(r.result.stderr.contains("FIFO"), r.result.stderr)
    }

    /// `watch` reads a FIFO as a failed file and remembers it without opening it blocking.
    func testWatchGoesOnPastAFIFO() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        try Self.make(.fifo, at: f.path("uptime-2026-04.csv"))
        let r = try Self.runWithWatchdog([
            "watch", f.pipelinePath, "--once", "--settle", "0", "--emit",
            f.root.appendingPathComponent("stream.ndjson").path,
        ])
        XCTAssertFalse(r.timedOut, "watch hung on a FIFO")
        XCTAssertTrue(r.result.stderr.contains("uptime-2026-04.csv"), r.result.transcript)
    }

    func testSymlinkToARegularFileIsRead() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        let elsewhere = f.root.appendingPathComponent("activity-april.csv")
        try Data((Sample.activityHeader + "\nc3,w9,2026-03-30T10:00:00Z,login,,\n").utf8).write(to: elsewhere)
        try FileManager.default.createSymbolicLink(
            atPath: f.path("activity-2026-04.csv"), withDestinationPath: elsewhere.path)
        try f.writePipeline()
        let r = try Self.runWithWatchdog(["run", f.pipelinePath, "--quiet"])
        XCTAssertEqual(r.result.status, 0, r.result.transcript)
        XCTAssertEqual(JSON.int(try f.outputs(Sample.asOf).input("activity-2026-04.csv")?["rows_accepted"]), 1)
    }

}
