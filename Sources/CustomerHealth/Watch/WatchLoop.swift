import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How `watch` runs: where its state lives, where lines go, how often it looks.
public struct WatchOptions: Sendable {
    /// Holds checkpoint.json and rejects.jsonl.
    public var stateDirectory: String
    /// A file to append lines to, or "-" for standard output.
    public var emitPath = "-"
    public var pollSeconds = 1.0
    public var heartbeatSeconds = 30.0
    /// Look once, send what changed, save the checkpoint and return.
    public var once = false
    /// Receives the lines instead of `emitPath` (`serve` broadcasts them).
    public var lineSink: (@Sendable ([String]) throws -> Void)?
    /// Asked between looks, beside SIGTERM and SIGINT: stops the loop after the batch.
    public var shouldStop: (@Sendable () -> Bool)?

    public init(stateDirectory: String) { self.stateDirectory = stateDirectory }

    /// The options a pipeline's `watch:` section gives; `state` overrides its
    /// state folder (default: watch.state, or OUTPUT/.watch).
    public init(pipeline config: PipelineConfig, state: String? = nil) {
        stateDirectory =
            state ?? config.watch.stateDirectory
            ?? (config.outputDirectory as NSString).appendingPathComponent(".watch")
        pollSeconds = config.watch.pollSeconds
        heartbeatSeconds = config.watch.heartbeatSeconds
    }
}

/// The consumer closed the stream (a broken pipe): watch ends quietly.
public struct StreamClosed: Error {}

/// SIGTERM and SIGINT ask the loop to stop after the current batch.
public enum WatchStop {
    static let requested = Atomic<Bool>(false)

    public static func install() {
        signal(SIGTERM) { _ in WatchStop.requested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in WatchStop.requested.store(true, ordering: .relaxed) }
    }

    static var isRequested: Bool { requested.load(ordering: .relaxed) }
}

/// The watch loop: look, send, checkpoint, sleep; a heartbeat when quiet.
/// Lines are written whole with blocking writes, so a slow consumer holds
/// the loop back instead of letting lines pile up in memory.
public final class WatchLoop {
    let session: WatchSession
    let options: WatchOptions
    let logger: Logger
    private let fd: Int32
    private var lastLine = ContinuousClock.now
    private var lastLag = 0.0
    /// The checkpoint as last saved: a quiet look saves nothing.
    private var saved: WatchCheckpoint?

    var checkpointPath: String { (options.stateDirectory as NSString).appendingPathComponent("checkpoint.json") }
    var rejectsPath: String { (options.stateDirectory as NSString).appendingPathComponent("rejects.jsonl") }

    /// The checkpoint saved in `stateDirectory` (created when missing), or
    /// nil before the first one.
    static func checkpoint(in stateDirectory: String) throws -> WatchCheckpoint? {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let path = (stateDirectory as NSString).appendingPathComponent("checkpoint.json")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(WatchCheckpoint.self, from: data)
        } catch {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "is not a watch checkpoint this customer-health can read (\(error)); move it away to start the stream again from the exports"
            )
        }
    }

    /// A loop over `session` (`PipelineRunner.watchLoop` makes both).
    init(session: WatchSession, options: WatchOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        self.session = session
        if options.lineSink != nil {
            fd = -1
        } else if options.emitPath == "-" {
            fd = 1
        } else {
            fd = open(options.emitPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd < 0 {
                throw CustomerHealthError.output(
                    path: options.emitPath,
                    message: "cannot be opened for appending: \(String(cString: strerror(errno)))")
            }
        }
    }

    deinit { if fd > 1 { close(fd) } }

    /// The seq of the last numbered line sent (0 before any).
    public var lastSentSeq: Int { session.checkpoint.nextSeq - 1 }

    private var stopRequested: Bool { WatchStop.isRequested || options.shouldStop?() == true }

    /// Runs until stopped (SIGTERM, SIGINT), or once with `options.once`.
    public func run() throws {
        while true {
            let started = ContinuousClock.now
            let stamp = ISO8601DateFormatter().string(from: Date())
            let lines = try session.step(lastUpdated: stamp)
            for notice in session.notices { logger.warning("\(notice)") }
            try send(lines)
            if !session.newRejects.isEmpty { try appendRejects(session.newRejects) }
            try saveCheckpoint()
            if let age = session.newestReadAge {
                lastLag = age + Elapsed.seconds(since: started)
            }
            if options.once || stopRequested { return }
            // Sleep in short slices, so that a stop request is served promptly.
            let wake = ContinuousClock.now + .milliseconds(Int(options.pollSeconds * 1000))
            while ContinuousClock.now < wake && !stopRequested {
                if ContinuousClock.now - lastLine >= .milliseconds(Int(options.heartbeatSeconds * 1000)) {
                    try send([session.heartbeat(lagSeconds: lastLag)])
                }
                usleep(50_000)
            }
            if stopRequested {
                try saveCheckpoint()
                return
            }
        }
    }

    private func send(_ lines: [String]) throws {
        if let lineSink = options.lineSink {
            if !lines.isEmpty {
                try lineSink(lines)
                lastLine = ContinuousClock.now
            }
            return
        }
        for line in lines {
            var text = line + "\n"
            try text.withUTF8 { try writeAll(fd, UnsafeRawBufferPointer($0), path: options.emitPath) }
            lastLine = ContinuousClock.now
        }
    }

    private func appendRejects(_ rejects: [RejectRecord]) throws {
        var text = ""
        for r in rejects {
            r.json().write(to: &text, pretty: false, indent: 0)
            text += "\n"
        }
        let out = open(rejectsPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard out >= 0 else {
            throw CustomerHealthError.output(
                path: rejectsPath, message: "cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { close(out) }
        try text.withUTF8 { try writeAll(out, UnsafeRawBufferPointer($0), path: rejectsPath) }
    }

    private func saveCheckpoint() throws {
        if saved == session.checkpoint { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(session.checkpoint)
        try AtomicFile.write(data, to: checkpointPath)
        saved = session.checkpoint
    }
}
