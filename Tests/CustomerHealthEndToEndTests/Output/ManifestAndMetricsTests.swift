import CustomerHealthTestSupport
import Foundation
import XCTest

/// manifest.json and metrics.prom describe the run that wrote them.
final class ManifestAndMetricsTests: XCTestCase {
    private func sha256(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha256sum", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }

    func testManifestListsEveryInputWithSizeHashAndCounts() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.remove("activity-2026-03.csv")
        try f.writeGzip(
            "activity-2026-03.csv.gz",
            Sample.csv(Sample.activityHeader, Sample.activityRows + ["c1,u1,2026-03-30T10:00:00Z,jump,,"]))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let m = try o.manifest
        XCTAssertEqual(m["tool"] as? String, "customer-health")
        XCTAssertNotNil(m["version"] as? String)
        XCTAssertEqual(m["as_of"] as? String, Sample.asOf)
        let pipeline = try XCTUnwrap(m["pipeline"] as? [String: Any])
        XCTAssertEqual(pipeline["file"] as? String, "pipeline.yaml")
        XCTAssertEqual(pipeline["sha256"] as? String, try sha256(f.pipelinePath))
        let inputs = try XCTUnwrap(m["inputs"] as? [[String: Any]])
        XCTAssertEqual(
            inputs.map { $0["file"] as? String },
            ["accounts.csv", "activity-2026-03.csv.gz", "tickets-2026-03.jsonl", "uptime-2026-03.csv", "savings.csv"])
        for input in inputs {
            let name = input["file"] as! String
            let attributes = try FileManager.default.attributesOfItem(atPath: f.path(name))
            XCTAssertEqual(JSON.int(input["size"]), (attributes[.size] as? NSNumber)?.intValue, name)
            XCTAssertEqual(
                input["sha256"] as? String, try sha256(f.path(name)), "the hash of the bytes as stored: \(name)")
        }
        let activity = try XCTUnwrap(try o.input("activity-2026-03.csv.gz"))
        XCTAssertEqual(JSON.int(activity["rows_read"]), 9)
        XCTAssertEqual(JSON.int(activity["rows_accepted"]), 8)
        XCTAssertEqual(JSON.int(activity["rows_rejected"]), 1)
        XCTAssertEqual(JSON.int(m["customers_scored"]), 3)
        let timings = try XCTUnwrap(m["timings_seconds"] as? [String: Any])
        for stage in ["ingest", "features", "scoring", "render", "total"] {
            XCTAssertNotNil(timings[stage] as? NSNumber, stage)
        }
        try assertNothingLost(o)
    }

    func testMetricsAreValidPrometheusTextWithTheRunsFigures() throws {
        let f = try ExportsFolder()
        try f.writeSample(
            activity: Sample.csv(
                Sample.activityHeader,
                Sample.activityRows + ["zz,u1,2026-03-30T10:00:00Z,login,,", "c1,u1,bad,login,,"]))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let text = try o.text("metrics.prom")
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { continue }
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, "sample line: \(line)")
            XCTAssertNotNil(Double(parts[1]), "value of \(line)")
            samples[String(parts[0])] = Double(parts[1])
        }
        XCTAssertEqual(samples["customer_health_rows_read{export=\"activity\"}"], 10)
        XCTAssertEqual(samples["customer_health_rows_rejected{export=\"activity\"}"], 1)
        XCTAssertEqual(samples["customer_health_rows_unknown_customer{export=\"activity\"}"], 1)
        XCTAssertEqual(samples["customer_health_rows_read{export=\"accounts\"}"], 4)
        let atRisk = JSON.int((try o.atRisk)["count"])
        XCTAssertEqual(samples["customer_health_at_risk_customers"].map(Int.init), atRisk)
        let byStatus = ["excellent", "good", "warning", "critical", "churn_risk"].compactMap {
            samples["customer_health_customers{status=\"\($0)\"}"]
        }
        XCTAssertEqual(byStatus.count, 5)
        XCTAssertEqual(byStatus.reduce(0, +), 3)
        XCTAssertNotNil(samples["customer_health_run_duration_seconds"])
        XCTAssertEqual(samples["customer_health_as_of_timestamp_seconds"], 1_774_915_200, "2026-03-31T00:00:00Z")
        XCTAssertTrue(text.contains("# TYPE customer_health_at_risk_customers gauge"))
    }
}
