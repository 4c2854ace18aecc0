import Foundation

/// Temporary folders and files of the tests, removed when the test process
/// exits: a fixture shared by a class outlives every test's `defer`, and a
/// run of the suite must not leave hundreds of folders in /tmp.
enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: [String] = []

    /// A new empty folder under the temporary directory.
    static func folder(_ prefix: String) throws -> URL {
        let url = path(prefix)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A fresh path under the temporary directory (nothing is created).
    static func path(_ prefix: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        lock.lock()
        defer { lock.unlock() }
        if paths.isEmpty {
            atexit {
                for path in Scratch.paths { try? FileManager.default.removeItem(atPath: path) }
            }
        }
        paths.append(url.path)
        return url
    }
}
