import Foundation

@testable import CustomerHealth

/// Inputs for the watch-mode tests.
enum WatchFixture {
    /// Generated exports (DIR/exports) ending on 2026-11-20, settled.
    static func generate(customers: Int, days: Int, seed: UInt64, to root: URL) throws {
        var options = SyntheticExportOptions()
        options.customers = customers
        options.days = days
        options.seed = seed
        options.endDate = "2026-11-20"
        _ = try SyntheticExportGenerator.generate(options: options, to: root.path)
        try settle(root.appendingPathComponent("exports"))
    }

    /// Makes every file in a folder look written an hour ago: settled, as
    /// far as watch mode can tell.
    static func settle(_ folder: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -3600)],
                ofItemAtPath: folder.appendingPathComponent(name).path)
        }
    }
}

/// Appends text to a file (created when missing), as an exporter that writes on would.
func appendText(_ text: String, to url: URL) throws {
    if !FileManager.default.fileExists(atPath: url.path) {
        FileManager.default.createFile(atPath: url.path, contents: nil)
    }
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
}
