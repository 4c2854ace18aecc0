import ArgumentParser
import CustomerHealth
import CustomerHealthServer
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The one place where errors become messages and exit codes.
enum CommandSupport {
    static func main(root: any ParsableCommand.Type) {
        // A closed pipe (`customer-health ... | head`) is not an error: writes
        // fail with EPIPE and `Console` exits quietly.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try root.parseAsRoot()
            try command.run()
        } catch let error as CustomerHealthError {
            Console.error("error: \(error)")
            exit(error.exitCode)
        } catch let error as ServeError {
            Console.error("error: \(error)")
            switch error {
            case .settings: exit(2)
            case .cannotListen: exit(1)
            default: exit(3)
            }
        } catch is StreamClosed {
            // The consumer went away (broken pipe): nothing to report.
            exit(0)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success {
                Console.out(root.fullMessage(for: error))
                exit(0)
            }
            if code == .validationFailure {
                // Argument-parsing problems are usage errors: exit 2.
                Console.error(root.fullMessage(for: error))
                exit(2)
            }
            Console.error("error: \(error)")
            exit(1)
        }
    }

    static func bootstrapLogging(quiet: Bool) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = quiet ? .warning : .info
            return handler
        }
    }

    /// `--shard K/N`, or `--shard auto` from the array job's environment; a bad value is a usage error (exit 2).
    static func shardSpec(_ text: String) throws -> ShardSpec {
        do {
            return text == "auto"
                ? try ShardSpec.fromEnvironment(ProcessInfo.processInfo.environment) : try ShardSpec(parsing: text)
        } catch let error as ShardSpecError {
            throw ValidationError(error.message)
        }
    }

    static func parseDate(_ text: String, option: String) throws -> CalendarDay {
        guard let day = CalendarDay(text) else {
            throw ValidationError("\(option) expects a date as yyyy-MM-dd, got \"\(text)\"")
        }
        return day
    }
}

/// Writes to stdout/stderr with write(2), so that a closed pipe ends the
/// process quietly (exit 0) instead of crashing it.
enum Console {
    static func out(_ text: String) { write(fd: 1, text + "\n") }
    static func error(_ text: String) { write(fd: 2, text + "\n") }

    static func write(fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EPIPE { exit(0) }
                    return
                }
                offset += n
            }
        }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}

/// The progress line on stderr (rows, MB/s), shown only on a terminal.
final class ProgressLine: Sendable {
    private let state = Mutex<(rows: Int, bytes: Int, last: Double)>((0, 0, 0))
    private let start = Date()

    func update(rows: Int, bytes: Int) {
        let now = Date().timeIntervalSince(start)
        let line: String? = state.withLock { s in
            s.rows += rows
            s.bytes += bytes
            guard now - s.last >= 0.2 else { return nil }
            s.last = now
            let mb = Double(s.bytes) / 1_000_000
            return String(format: "\r  read %d rows, %.0f MB (%.1f MB/s)   ", s.rows, mb, mb / max(now, 0.001))
        }
        if let line { Console.write(fd: 2, line) }
    }

    func finish() { Console.write(fd: 2, "\r\u{1B}[K") }
}

/// Options shared by the commands that run a pipeline.
struct PipelineOptions: ParsableArguments {
    @Argument(help: "The pipeline file (YAML), e.g. pipelines/nightly.yaml.")
    var pipeline: String

    @Option(
        name: .long, help: ArgumentHelp("Write under this folder instead of the pipeline's `output`.", valueName: "dir")
    )
    var output: String?

    @Option(
        name: .long,
        help: "Worker threads (default: the pipeline's `threads`, or all cores). Outputs never depend on it.")
    var threads: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds to wait for another run's lock on the output folder (default 0: fail at once).",
            valueName: "seconds"))
    var lockWait: Double?

    @Flag(name: .long, help: "Log warnings and errors only.")
    var quiet = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}
