import CustomerHealthTestSupport
import Foundation
import XCTest

/// The committed sample data replayed over three weekly dates into a fresh
/// output folder (so the report has history and movers), with every customer
/// whose id ends in 5 renamed to a hostile name. Made once per test process.
final class ReportFixture: @unchecked Sendable {
    static let hostileName = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
    static let dates = ["2026-11-09", "2026-11-16", "2026-11-23"]

    let root: URL
    let output: URL
    let pipeline: URL

    var latest: URL { output.appendingPathComponent(Self.dates.last!) }
    var report: URL { latest.appendingPathComponent("report.html") }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Result<ReportFixture, Error>?

    static func shared() throws -> ReportFixture {
        lock.lock()
        defer { lock.unlock() }
        if made == nil { made = Result { try ReportFixture() } }
        return try made!.get()
    }

    private init() throws {
        let repo = Checkout.root
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-report-\(UUID().uuidString)")
        output = root.appendingPathComponent("output")
        pipeline = root.appendingPathComponent("pipeline.yaml")
        let exports = root.appendingPathComponent("exports")
        let fm = FileManager.default
        Self.removeAtExit(root)
        try fm.createDirectory(at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        try fm.copyItem(at: repo.appendingPathComponent("sample-data/exports"), to: exports)
        // No model is copied from the checkout (make run trains one there, a
        // fresh clone has none): the replay trains its own, as the pipeline
        // says (churn.if_missing: train), from the same exports every time.

        let accounts = exports.appendingPathComponent("accounts.csv.gz")
        var lines = try Self.gzip(["-dc", accounts.path]).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        for i in 1..<lines.count where !lines[i].isEmpty {
            var fields = lines[i].split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            // Plain ids and names: the sample quotes no name whose id ends in 5 and that matters here.
            if fields[0].hasSuffix("5"), !fields[1].hasPrefix("\"") {
                fields[1] = Self.hostileName
                lines[i] = fields.joined(separator: ",")
            }
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: root.appendingPathComponent("accounts.csv"))
        try fm.removeItem(at: accounts)
        _ = try Self.gzip(["-n", root.appendingPathComponent("accounts.csv").path])
        try fm.moveItem(at: root.appendingPathComponent("accounts.csv.gz"), to: accounts)

        var text = try String(contentsOf: repo.appendingPathComponent("pipelines/nightly.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "input: ../sample-data/exports", with: "input: exports")
            .replacingOccurrences(of: "output: ../output", with: "output: output")
            .replacingOccurrences(of: "model: ../models/churn-model.json", with: "model: models/churn-model.json")
        try Data(text.utf8).write(to: pipeline)
        let result = try CLI.run(
            [
                "replay", pipeline.path, "--from", Self.dates.first!, "--to", Self.dates.last!, "--every", "7d",
                "--quiet",
            ],
            timeout: 300)
        guard result.status == 0 else {
            throw HeadlessChromium.Failure(description: "replay failed: \(result.transcript)")
        }
    }

    /// The folder goes when the test process exits (the fixture lives as long as it).
    nonisolated(unsafe) private static var folders: [String] = []
    private static func removeAtExit(_ folder: URL) {
        if folders.isEmpty {
            atexit { for f in ReportFixture.folders { try? FileManager.default.removeItem(atPath: f) } }
        }
        folders.append(folder.path)
    }

    func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: latest.appendingPathComponent(name))) as? [String: Any]
            ?? [:]
    }

    /// The number at a dotted path of a JSON object.
    static func number(_ object: [String: Any], _ path: String) -> Double? {
        var node: Any? = object
        for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
        return (node as? NSNumber)?.doubleValue
    }

    @discardableResult
    static func gzip(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HeadlessChromium.Failure(description: "gzip \(arguments) failed")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
