import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The generator's product profiles (docs/generator.md#profiles): each is
/// deterministic, read without a reject by the pipeline it writes, and scored
/// with spread and in the order of the hidden health.
final class SyntheticProfileTests: XCTestCase {
    struct Scored {
        var outputs: RunOutputs
        var directory: URL
        /// Latent health on the as-of day, by customer.
        var truth: [String: Double]
    }

    /// One data set per profile for the whole class (700 customers, 160 days), generated and run once.
    nonisolated(unsafe) static var cache: [SyntheticProfile: Scored] = [:]
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-profiles-\(UUID().uuidString)")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: root)
        super.tearDown()
    }

    func scored(_ profile: SyntheticProfile) throws -> Scored {
        if let s = Self.cache[profile] { return s }
        let dir = Self.root.appendingPathComponent(profile.rawValue)
        _ = try SyntheticExportGenerator.generate(
            options: SyntheticExportOptions(customers: 700, days: 160, seed: 3, threads: 2, profile: profile),
            to: dir.path)
        // The health score alone: the churn model's part is the backtests' (bench/profile_eval.py).
        let pipeline = dir.appendingPathComponent("pipeline.yaml")
        let text = try String(contentsOf: pipeline, encoding: .utf8)
        try String(text[..<text.range(of: "\nchurn:\n")!.lowerBound]).write(
            to: pipeline, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", pipeline.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let outputs = try RunOutputs(folder: dir.appendingPathComponent("output/2026-11-23"))
        var truth: [String: Double] = [:]
        let truthText = try SyntheticGenTestSupport.gunzip(dir.appendingPathComponent("truth.csv.gz"))
        for line in truthText.split(separator: "\n").dropFirst() where line.contains(",2026-11-23,") {
            let f = line.split(separator: ",")
            truth[String(f[0])] = Double(f[3])!
        }
        let s = Scored(outputs: outputs, directory: dir, truth: truth)
        Self.cache[profile] = s
        return s
    }

    func testEveryProfileIsReadByItsOwnPipelineAndScoredWithSpread() throws {
        for profile in SyntheticProfile.allCases {
            let s = try scored(profile)
            XCTAssertEqual(try s.outputs.rejects.count, 0, profile.rawValue)
            try assertNothingLost(s.outputs)
            let scores = try s.outputs.scores
            XCTAssertGreaterThan(scores.count, 450, profile.rawValue)
            // No status holds more than 60% of the customers: the truth has spread, so must the score.
            var byStatus: [String: Int] = [:]
            for line in scores { byStatus[line["health_status"] as! String, default: 0] += 1 }
            let largest = byStatus.values.max()!
            XCTAssertLessThanOrEqual(Double(largest) / Double(scores.count), 0.6, "\(profile.rawValue): \(byStatus)")
            // And it follows the hidden health.
            let pairs = scores.compactMap { line in
                s.truth[line["customer_id"] as! String].map { (JSON.double(line["health_score"])!, $0) }
            }
            let rho = SyntheticGenTestSupport.correlation(pairs.map(\.0), pairs.map(\.1))
            XCTAssertGreaterThan(rho, 0.35, "\(profile.rawValue): health score vs latent health, correlation \(rho)")
        }
    }

    func testProfilesLeaveOutWhatTheirProductLacks() throws {
        let own = try scored(.ownEvents)
        let ownParts = try XCTUnwrap(own.outputs.kpis["score_parts"] as? [String: [String: Bool]])
        XCTAssertEqual(ownParts["engagement"], ["adoption": true, "api": false, "mobile": false, "training": false])
        XCTAssertEqual(ownParts["value_realization"], ["roi": false, "work_orders": false, "time_to_value": false])
        XCTAssertEqual(ownParts["satisfaction"]?["tickets"], false, "no seats")
        XCTAssertTrue(
            (try own.outputs.scores.first?["component_scores"] as? [String: Any])?["value_realization"] is NSNull)
        let products = try XCTUnwrap(own.outputs.manifest["product_events"] as? [String: Int])
        XCTAssertEqual(Array(products.keys), ["Export Failed"])

        let two = try scored(.twoExports)
        let twoParts = try XCTUnwrap(two.outputs.kpis["score_parts"] as? [String: [String: Bool]])
        XCTAssertEqual(twoParts["satisfaction"], ["tickets": false, "response": false, "uptime": false])
        XCTAssertEqual(twoParts["engagement"], ["adoption": false, "api": true, "mobile": true, "training": false])

        let lapsing = try scored(.inactivity)
        let overview = try XCTUnwrap(lapsing.outputs.kpis["overview"] as? [String: Any])
        XCTAssertGreaterThan(JSON.int(overview["returned_customers_30d"]) ?? 0, 0, "customers who went quiet come back")
        XCTAssertEqual(try lapsing.outputs.manifest["churn_definition"] as? String, "no activity for 30 days")
        let header = try SyntheticGenTestSupport.gunzip(
            lapsing.directory.appendingPathComponent("exports/accounts.csv.gz")
        ).prefix { $0 != "\n" }
        XCTAssertFalse(header.contains("churned_at"))

        // The nested-JSONL profile is the default data in another shape: the same scores.
        XCTAssertEqual(
            try scored(.nestedJSONL).outputs.text("scores.jsonl"), try scored(.standard).outputs.text("scores.jsonl"))
    }

    func testProfilesAreDeterministic() throws {
        for profile in [SyntheticProfile.ownEvents, .inactivity, .nestedJSONL] {
            let a = Self.root.appendingPathComponent("det-\(profile.rawValue)-1")
            let b = Self.root.appendingPathComponent("det-\(profile.rawValue)-3")
            let one = try SyntheticExportGenerator.generate(
                options: SyntheticExportOptions(customers: 150, days: 30, seed: 9, threads: 1, profile: profile),
                to: a.path)
            let three = try SyntheticExportGenerator.generate(
                options: SyntheticExportOptions(customers: 150, days: 30, seed: 9, threads: 3, profile: profile),
                to: b.path)
            XCTAssertEqual(one.files, three.files)
            for path in one.filesWritten + ["pipeline.yaml"] {
                XCTAssertEqual(
                    try Data(contentsOf: a.appendingPathComponent(path)),
                    try Data(contentsOf: b.appendingPathComponent(path)),
                    "\(profile.rawValue): \(path)")
            }
        }
    }
}
