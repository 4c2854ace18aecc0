import CustomerHealth
import CustomerHealthServer
import Foundation
import Logging
import Synchronization
import XCTest

/// Outputs of the nightly pipeline on the committed sample data, made once
/// per test process: run A as of the newest day and run B as of 2026-10-31.
enum SampleRuns {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Runs: Sendable {
        let root: URL
        /// The run folders (the targets of OUTPUT/<date>).
        let newest: URL
        let older: URL
    }

    private static let made = Mutex<Result<Runs, any Error>?>(nil)

    static func get() throws -> Runs {
        try made.withLock { cached in
            if let cached { return try cached.get() }
            let result = Result { try make() }
            cached = result
            return try result.get()
        }
    }

    private static func make() throws -> Runs {
        let root = try Scratch.folder("ch-serve")
        let pipeline = root.appendingPathComponent("pipeline.yaml")
        try """
        version: 1
        input: \(repository.appendingPathComponent("sample-data/exports").path)
        output: \(root.appendingPathComponent("out").path)
        churn:
          model: \(root.appendingPathComponent("model.json").path)
          if_missing: train
          observe_every: 30d
          min_positives: 200
          on_insufficient_data: warn
          seed: 42
        """.write(to: pipeline, atomically: true, encoding: .utf8)
        let config = try PipelineConfig.load(path: pipeline.path)
        var logger = Logger(label: "customer-health-tests")
        logger.logLevel = .critical
        func run(asOf: String?) throws -> URL {
            let summary = try PipelineRunner(
                config: config, options: RunOptions(asOf: asOf.flatMap(CalendarDay.init), threads: 2), logger: logger
            ).run()
            return URL(fileURLWithPath: summary.outputPath).resolvingSymlinksInPath()
        }
        let older = try run(asOf: "2026-10-31")
        let newest = try run(asOf: nil)
        return Runs(root: root, newest: newest, older: older)
    }

    /// A fresh output folder whose `latest` points at `run` (or at nothing).
    static func outputFolder(pointingAt run: URL?) throws -> URL {
        let dir = try Scratch.folder("ch-serve-out")
        if let run { try point(dir, at: run) }
        return dir
    }

    /// Moves OUTPUT/latest atomically, as a publishing run does (rename(2)).
    static func point(_ output: URL, at run: URL) throws {
        let tmp = output.appendingPathComponent(".latest.\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(atPath: tmp.path, withDestinationPath: run.path)
        guard rename(tmp.path, output.appendingPathComponent("latest").path) == 0 else {
            throw LoopbackSocket.Failure(description: "rename: errno \(errno)")
        }
    }
}

/// A server started in process on a free loopback port.
final class RunningServer: @unchecked Sendable {
    let server: HealthServer
    let port: Int
    private let task: Task<Void, any Error>
    private let finished = DispatchSemaphore(value: 0)

    init(_ settings: ServeSettings) throws {
        var settings = settings
        settings.port = 0
        var logger = Logger(label: "customer-health-serve-tests")
        logger.logLevel = .critical
        let server = try HealthServer(settings: settings, logger: logger)
        self.server = server
        let listening = DispatchSemaphore(value: 0)
        let bound = Mutex(0)
        let finished = self.finished
        task = Task {
            defer { finished.signal() }
            try await server.run(
                handleSignals: false,
                onListening: { port in
                    bound.withLock { $0 = port }
                    listening.signal()
                })
        }
        guard listening.wait(timeout: .now() + 60) == .success else {
            throw LoopbackSocket.Failure(description: "the server did not start listening")
        }
        port = bound.withLock { $0 }
    }

    convenience init(output: URL, configure: (inout ServeSettings) -> Void = { _ in }) throws {
        var settings = ServeSettings(outputDirectory: output.path)
        settings.reloadSeconds = 0.05
        configure(&settings)
        try self.init(settings)
    }

    private let stopped = Mutex(false)

    /// Shuts the server down and waits for `run` to return (once).
    func stop() {
        let already = stopped.withLock { s -> Bool in
            defer { s = true }
            return s
        }
        guard !already else { return }
        let server = self.server
        Task { await server.shutdown() }
        if finished.wait(timeout: .now() + 30) == .timedOut { XCTFail("the server did not stop within 30 s") }
    }

    deinit { stop() }

    func get(_ path: String, token: String? = nil) throws -> HTTPAnswer {
        try HTTPClient.get(port: port, path, token: token)
    }

    /// Waits until `condition` holds, polling.
    func waitUntil(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(2_000)
        }
        XCTFail("timed out waiting until \(what)")
    }
}
