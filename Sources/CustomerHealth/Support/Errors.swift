import Foundation

/// Every failure the tool reports, typed so that one place maps them to exit codes.
public enum CustomerHealthError: Error, CustomStringConvertible, Sendable {
    /// The pipeline file (or a command-line value) is wrong: exit 2.
    case pipeline(file: String, path: String, message: String)
    /// An input is missing, unreadable, truncated or has an unusable header: exit 3.
    case input(file: String, message: String)
    /// Too many rows were rejected: exit 4.
    case tooManyRejects(rejected: Int, read: Int, ratio: Double, limit: Double, rejectsFile: String)
    /// Another run holds the output folder's lock, or the output cannot be written: exit 1.
    case output(path: String, message: String)
    /// A file of features (for `rescore`) that cannot be read back.
    case features(file: String, line: Int, message: String)

    public var description: String {
        switch self {
        case .pipeline(let file, let path, let message):
            return path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
        case .input(let file, let message):
            return "\(file): \(message)"
        case .tooManyRejects(let rejected, let read, let ratio, let limit, let rejectsFile):
            return String(
                format:
                    "%d of %d rows were rejected (%.4f%%), above max_reject_ratio %.4f%%; nothing was published. The rejected rows and reasons are in %@",
                rejected, read, ratio * 100, limit * 100, rejectsFile)
        case .output(let path, let message):
            return "\(path): \(message)"
        case .features(let file, let line, let message):
            return "\(file): line \(line): \(message)"
        }
    }

    /// The process exit code documented in the README.
    public var exitCode: Int32 {
        switch self {
        case .pipeline: return 2
        case .input: return 3
        case .tooManyRejects: return 4
        case .output: return 1
        case .features: return 3
        }
    }
}
