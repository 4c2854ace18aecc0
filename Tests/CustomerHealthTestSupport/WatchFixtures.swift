import CustomerHealth
import Foundation

/// Inputs for the watch-mode tests.
package enum WatchFixture {
    /// Generated exports (DIR/exports) ending on 2026-11-20, settled.
    package static func generate(customers: Int, days: Int, seed: UInt64, to root: URL) throws {
        var options = SyntheticExportOptions()
        options.customers = customers
        options.days = days
        options.seed = seed
        options.endDate = "2026-11-20"
        _ = try SyntheticExportGenerator.generate(options: options, to: root.path)
        try settle(root.appendingPathComponent("exports"))
    }

    /// A generated data set made once and copied for each test, so that a
    /// test class generates its data once, not once per test: `copy(to:)`
    /// gives every test its own folder (tests add and change files).
    package final class Template: @unchecked Sendable {
        private let customers: Int
        private let days: Int
        private let seed: UInt64
        private let lock = NSLock()
        private var made: Result<URL, Error>?

        package init(customers: Int, days: Int, seed: UInt64) {
            self.customers = customers
            self.days = days
            self.seed = seed
        }

        /// The generated folder (made on first use).
        package func folder() throws -> URL {
            lock.lock()
            defer { lock.unlock() }
            if made == nil {
                made = Result {
                    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
                        "watch-template-\(UUID().uuidString)")
                    try WatchFixture.generate(customers: customers, days: days, seed: seed, to: root)
                    return root
                }
            }
            return try made!.get()
        }

        /// A copy of the generated folder at `root`, its exports settled.
        package func copy(to root: URL) throws {
            try FileManager.default.createDirectory(
                at: root.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: try folder(), to: root)
            try settle(root.appendingPathComponent("exports"))
        }

        /// Removes the generated folder (class tearDown).
        package func remove() {
            lock.lock()
            defer { lock.unlock() }
            if case .success(let root)? = made { try? FileManager.default.removeItem(at: root) }
            made = nil
        }
    }

    /// Makes every file in a folder look written an hour ago: settled, as
    /// far as watch mode can tell.
    package static func settle(_ folder: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -3600)],
                ofItemAtPath: folder.appendingPathComponent(name).path)
        }
    }
}

/// Appends text to a file (created when missing), as an exporter that writes on would.
package func appendText(_ text: String, to url: URL) throws {
    if !FileManager.default.fileExists(atPath: url.path) {
        FileManager.default.createFile(atPath: url.path, contents: nil)
    }
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
}

/// Polls `condition` every `interval` seconds until it holds or `timeout`
/// seconds have passed; returns whether it held. For tests that wait on
/// another process: no fixed sleep, and a deadline instead of a hang.
@discardableResult
package func waitUntil(timeout: Double, interval: Double = 0.05, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
    return true
}
