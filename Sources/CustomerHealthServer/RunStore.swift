import CustomerHealth
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The run being served, swapped whole when OUTPUT/latest moves.
public final class RunStore: Sendable {
    public let outputDirectory: String
    private let state = Mutex<(run: ServedRun?, lastError: String?)>((nil, nil))
    /// The folder that failed to load and its modification time: it is read
    /// again only when it changes.
    private let failed = Mutex<(folder: String, modified: Double)?>(nil)
    private let logger: Logger

    public init(outputDirectory: String, logger: Logger) {
        self.outputDirectory = outputDirectory
        self.logger = logger
    }

    /// The run to answer one request from; taken once per request.
    public var current: ServedRun? { state.withLock { $0.run } }
    /// Why the newest run could not be loaded, while the previous one is served.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Loads the run OUTPUT/latest points at if it is not the one served.
    /// Returns the run when it changed. A run that fails to load is logged and
    /// the previous one stays; the folder is tried again at the next check.
    @discardableResult
    public func refresh() -> ServedRun? {
        guard let folder = ServedRun.latestFolder(outputDirectory: outputDirectory) else {
            state.withLock { s in
                if s.run == nil { s.lastError = ServeError.noRun(outputDirectory: outputDirectory).description }
            }
            return nil
        }
        if current?.folder == folder {
            state.withLock { $0.lastError = nil }
            return nil
        }
        let modified = Self.modificationTime(folder)
        if let failed = failed.withLock({ $0 }), failed.folder == folder, failed.modified == modified { return nil }
        do {
            let started = ContinuousClock.now
            let run = try ServedRun(folder: folder)
            // The previous run goes when the last request holding it ends.
            state.withLock { $0 = (run, nil) }
            failed.withLock { $0 = nil }
            Self.returnFreedMemory()
            let seconds = Elapsed.seconds(since: started)
            logger.info(
                "serving run \(run.runID): as of \(run.asOf), \(run.customerCount) customers, \(run.atRiskCount) at risk (loaded in \(String(format: "%.2f", seconds)) s)"
            )
            return run
        } catch {
            failed.withLock { $0 = (folder, modified) }
            let message = "\(error)"
            let isNew = state.withLock { s -> Bool in
                defer { s.lastError = message }
                return s.lastError != message
            }
            // The link moved while the folder was read (a newer run, or the old
            // one cleaned up): the next check picks the new one up quietly.
            if isNew && ServedRun.latestFolder(outputDirectory: outputDirectory) == folder {
                logger.error("cannot load the newest run; still serving the previous one: \(message)")
            }
            return nil
        }
    }

    /// Loading leaves freed buffers in glibc's malloc arenas, which would
    /// stay in the resident size: malloc_trim(3) gives them back. It is not
    /// in the Glibc module map, so it is looked up at run time.
    private static func returnFreedMemory() {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }

    private static func modificationTime(_ path: String) -> Double {
        var st = stat()
        guard stat(path, &st) == 0 else { return 0 }
        return modifiedSeconds(st)
    }
}
