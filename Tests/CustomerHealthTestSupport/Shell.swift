import CustomerHealth
import Foundation

/// Test helpers that run system tools (gzip, sh, cp) and read generated
/// files back independently of the library.
package enum SyntheticGenTestSupport {
    /// Runs `arguments` through /usr/bin/env; stdout is returned, stderr dropped.
    @discardableResult
    package static func run(_ arguments: [String]) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// A gzip file's text, through `gzip -dc`.
    package static func gunzip(_ url: URL) throws -> String {
        let (status, output) = try run(["gzip", "-dc", url.path])
        guard status == 0 else { throw SyntheticExportError.io("gzip -dc failed on \(url.path)") }
        return String(decoding: output, as: UTF8.self)
    }

    /// Pearson's correlation of two series.
    package static func correlation(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n
        let my = y.reduce(0, +) / n
        var sxy = 0.0
        var sxx = 0.0
        var syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        return sxy / (sxx * syy).squareRoot()
    }
}

/// The checkout the tests were built from (sample data, pipelines, deploy files).
package enum Checkout {
    package static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // CustomerHealthTestSupport
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()
}
