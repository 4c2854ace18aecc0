import CustomerHealth
import CustomerHealthTestSupport
import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Every output a user or program reads, byte for byte, against the digests
/// recorded in Golden/outputs.json: the nightly pipeline on the committed
/// sample data, and a generated 2,000-customer set with a churn model
/// (`train`, `run`, `replay` over three dates, `watch --once`, `serve`'s
/// answers). A refactoring must leave them all as they were. Only what
/// changes from one run to the next by design is blanked first: times of
/// day and durations.
///
/// When an output changes on purpose, record it again and say why in the commit:
///   GOLDEN_UPDATE=1 swift test --skip-build --filter GoldenOutputTests
final class GoldenOutputTests: XCTestCase {
    static let goldenFile = Checkout.root.appendingPathComponent(
        "Tests/CustomerHealthEndToEndTests/Golden/outputs.json")

    func testEveryOutputIsAsRecorded() throws {
        // One fixed path, whatever TMPDIR says: a model file records the
        // folder it was trained on, and run manifests record the model's digest.
        let root = URL(fileURLWithPath: "/tmp/customer-health-golden")
        try? FileManager.default.removeItem(at: root)
        defer { try? FileManager.default.removeItem(at: root) }
        var digests: [String: String] = [:]
        try sampleRun(root.appendingPathComponent("sample"), into: &digests)
        try generatedSet(root.appendingPathComponent("generated"), into: &digests)

        if ProcessInfo.processInfo.environment["GOLDEN_UPDATE"] == "1" {
            try FileManager.default.createDirectory(
                at: Self.goldenFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            let data = try JSONSerialization.data(
                withJSONObject: digests, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data("\n".utf8)).write(to: Self.goldenFile)
            return
        }
        let recorded = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: Self.goldenFile)) as? [String: String],
            "no \(Self.goldenFile.path): record it with GOLDEN_UPDATE=1")
        let changed = digests.keys.filter { recorded[$0] != nil && recorded[$0] != digests[$0] }.sorted()
        let added = digests.keys.filter { recorded[$0] == nil }.sorted()
        let gone = recorded.keys.filter { digests[$0] == nil }.sorted()
        XCTAssertTrue(
            changed.isEmpty && added.isEmpty && gone.isEmpty,
            """
            outputs differ from Tests/CustomerHealthEndToEndTests/Golden/outputs.json
              changed: \(changed)
              new: \(added)
              missing: \(gone)
            If the change is meant, record it with GOLDEN_UPDATE=1 and say why in the commit.
            """)
    }

    // MARK: The runs

    /// `make run`'s pipeline, with its model and output in `folder`.
    func sampleRun(_ folder: URL, into digests: inout [String: String]) throws {
        let repo = Checkout.root
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The exports are copied in: the model file records the folder it was
        // trained on, which must not depend on where the repository is cloned.
        try FileManager.default.copyItem(
            at: repo.appendingPathComponent("sample-data/exports"), to: folder.appendingPathComponent("exports"))
        var text = try String(contentsOf: repo.appendingPathComponent("pipelines/nightly.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "input: ../sample-data/exports", with: "input: exports")
            .replacingOccurrences(of: "output: ../output", with: "output: output")
            .replacingOccurrences(of: "model: ../models/", with: "model: models/")
        let pipeline = folder.appendingPathComponent("nightly.yaml")
        try Data(text.utf8).write(to: pipeline)
        try cli(["run", pipeline.path, "--quiet"])
        try FileManager.default.removeItem(at: folder.appendingPathComponent("exports"))
        try record(folder, prefix: "sample", into: &digests)
    }

    /// A generated set with a churn model, through every command that writes.
    func generatedSet(_ folder: URL, into digests: inout [String: String]) throws {
        try cli([
            "generate", "--customers", "2000", "--days", "240", "--seed", "11", "--end", "2026-11-23", "--threads", "2",
            "--output", folder.path,
        ])
        let pipeline = folder.appendingPathComponent("pipeline.yaml").path
        try cli(["train", pipeline, "--quiet"])
        try cli(["run", pipeline, "--as-of", "2026-11-09", "--quiet"])
        try cli(["replay", pipeline, "--from", "2026-11-09", "--to", "2026-11-23", "--every", "7d", "--quiet"])
        // The first look takes the exports as they are; the second sends what a late file changed.
        let stream = folder.appendingPathComponent("watch.ndjson").path
        try cli(["watch", pipeline, "--once", "--settle", "0", "--min-score-delta", "0", "--emit", stream, "--quiet"])
        var late = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for i in stride(from: 1, through: 2000, by: 50) {
            late += "cust_\(String(format: "%06d", i)),late-user,2026-11-23T23:00:00Z,login,,60\n"
        }
        let lateFile = folder.appendingPathComponent("activity-late.csv")
        try Data(late.utf8).write(to: lateFile)
        try ReportFixture.gzip(["-n", lateFile.path])
        try FileManager.default.moveItem(
            at: folder.appendingPathComponent("activity-late.csv.gz"),
            to: folder.appendingPathComponent("exports/activity-2026-11-23-late.csv.gz"))
        try cli(["watch", pipeline, "--once", "--settle", "0", "--min-score-delta", "0", "--emit", stream, "--quiet"])
        try serveAnswers(output: folder.appendingPathComponent("output"), to: folder.appendingPathComponent("serve"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("exports"))
        try record(folder, prefix: "generated", into: &digests)
    }

    /// What `serve` answers for the newest run: the KPIs, a page of the
    /// at-risk list, a customer and the report, each saved as a file.
    func serveAnswers(output: URL, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let server = try ServeProcess(["--output", output.path])
        // Kept until the end of the scope: ARC may release an object after its last use.
        defer { withExtendedLifetime(server) {} }
        let base = server.base
        let answers = [
            "kpis.json": "/api/customer-success/kpis",
            "at-risk-high.json": "/api/customer-success/at-risk?priority=high&limit=20",
            "customer.json": "/api/customer-success/health/cust_000042", "dashboard.html": "/",
            "customer.html": "/customers/cust_000042",
        ]
        for (name, path) in answers {
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var body = Data()
            URLSession.shared.dataTask(with: URL(string: base + path)!) { data, _, _ in
                body = data ?? Data()
                done.signal()
            }.resume()
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, path)
            try body.write(to: folder.appendingPathComponent(name))
        }
    }

    // MARK: Digests

    /// The digest of every file under `folder` (through the date links, not
    /// `latest` and `.runs`, which name the same folders), blanked of times.
    func record(_ folder: URL, prefix: String, into digests: inout [String: String]) throws {
        let fm = FileManager.default
        var files: [String] = []
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? folder.path : folder.appendingPathComponent(relative).path
            for name in try fm.contentsOfDirectory(atPath: path).sorted() {
                if ["latest", ".runs", ".lock", ".watch"].contains(name) { continue }
                let child = relative.isEmpty ? name : relative + "/" + name
                var isDirectory: ObjCBool = false
                // fileExists follows links: a date link is walked as the folder it names.
                guard fm.fileExists(atPath: folder.appendingPathComponent(child).path, isDirectory: &isDirectory) else {
                    continue
                }
                if isDirectory.boolValue { try walk(child) } else { files.append(child) }
            }
        }
        try walk("")
        for relative in files {
            let data = try Data(contentsOf: folder.appendingPathComponent(relative))
            digests["\(prefix)/\(relative)"] = ChurnModelFile.hash(
                Self.blankingTimes(String(decoding: data, as: UTF8.self), file: relative))
        }
    }

    /// The parts of an output that are the time it was made or how long it took.
    static func blankingTimes(_ text: String, file: String) -> String {
        var out = text
        let patterns = [
            #""(started_at|last_updated|servedRun)": "[^"]*""#,
            #""timings_seconds": \{[^}]*\}"#,
            #""[a-z_]*seconds": -?[0-9.e+-]+"#,
        ]
        for pattern in patterns {
            out = out.replacingOccurrences(of: pattern, with: "\"…\"", options: .regularExpression)
        }
        if file.hasSuffix("metrics.prom") {
            out = out.split(separator: "\n", omittingEmptySubsequences: false)
                .filter {
                    !($0.contains("_timestamp_seconds") || $0.contains("_duration_seconds")) || $0.hasPrefix("#")
                }
                .joined(separator: "\n")
        }
        return out
    }

    @discardableResult
    func cli(_ arguments: [String]) throws -> CLIResult {
        let result = try CLI.run(arguments, timeout: 600)
        guard result.status == 0 else {
            throw HeadlessChromium.Failure(description: "\(arguments.first ?? "") failed: \(result.transcript)")
        }
        return result
    }
}
