import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// What a run of the `customer-health` executable produced.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// True when a signal ended the process (`status` is then the signal).
    var killed = false
    /// True when it outlived the `timeout` it was given and was killed for it.
    var timedOut = false

    /// Both streams, for failure messages.
    var transcript: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
}

/// Runs the real `customer-health` executable that `swift build --build-tests`
/// puts next to the test bundle.
enum CLI {
    struct NotFound: Error, CustomStringConvertible {
        var searched: [String]
        var description: String {
            "customer-health executable not found (build it with `swift build --build-tests`); looked in: \(searched.joined(separator: ", "))"
        }
    }

    /// The executable: $CUSTOMER_HEALTH_BIN, or the build products folder the
    /// test bundle lives in (found by walking up from the bundle).
    static func binary() throws -> URL {
        if let env = ProcessInfo.processInfo.environment["CUSTOMER_HEALTH_BIN"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        var starts: [URL] = [
            Bundle.main.bundleURL, Bundle.main.executableURL ?? Bundle.main.bundleURL,
            URL(fileURLWithPath: CommandLine.arguments[0]),
        ]
        starts += Bundle.allBundles.map(\.bundleURL)
        var searched: [String] = []
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<5 {
                let candidate = dir.appendingPathComponent("customer-health")
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate.path)
                {
                    return candidate
                }
                searched.append(dir.path)
                dir = dir.deletingLastPathComponent()
            }
        }
        throw NotFound(searched: searched)
    }

    /// Runs the executable with `arguments`; stdout and stderr go to files so
    /// that no pipe can fill up and block it.
    /// With `wrapper` (`strace ...`), runs `wrapper + [executable] + arguments`;
    /// with `timeout`, kills it (SIGKILL) when it runs longer.
    /// `environment`: variables set (over this process's) for the run.
    static func run(
        _ arguments: [String], stdout: FileHandle? = nil, wrapper: [String] = [],
        timeout: Double? = nil, environment: [String: String] = [:]
    ) throws -> CLIResult {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let tool = wrapper.first {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = Array(wrapper.dropFirst()) + [try binary().path] + arguments
        } else {
            process.executableURL = try binary()
            process.arguments = arguments
        }
        return try finish(process, stdout: stdout, timeout: timeout)
    }

    /// Runs a configured process to its end: stdout (unless given) and
    /// stderr go to files, so that no pipe can fill up and block it; with
    /// `timeout`, it is killed (SIGKILL) when it runs longer.
    static func finish(_ process: Process, stdout: FileHandle? = nil, timeout: Double?) throws -> CLIResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ch-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = stdout ?? outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var timedOut = false
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning {
                if Date() > deadline {
                    timedOut = true
                    kill(process.processIdentifier, SIGKILL)
                    break
                }
                usleep(20_000)
            }
        }
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return CLIResult(
            status: process.terminationStatus,
            stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self),
            killed: process.terminationReason == .uncaughtSignal, timedOut: timedOut)
    }

    /// Runs with stdout connected to a pipe whose read end is already closed,
    /// as in `customer-health ... | head -c 1` once head has exited.
    static func runWithClosedStdout(_ arguments: [String]) throws -> CLIResult {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EIO) }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        close(fds[0])
        let writeEnd = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        defer { try? writeEnd.close() }
        return try run(arguments, stdout: writeEnd)
    }
}
