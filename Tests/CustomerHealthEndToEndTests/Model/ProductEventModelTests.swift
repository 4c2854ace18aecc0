import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// A product's own events as model inputs, through the executable.
final class ProductEventModelTests: XCTestCase {
    /// On a product with its own events: the model reads inputs derived from them, chosen on
    /// the training dates, the run computes them by name, and reason codes say them in words.
    func testAModelOfAProductsOwnEvents() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ch-inputs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try SyntheticExportGenerator.generate(
            options: SyntheticExportOptions(customers: 700, days: 220, seed: 4, threads: 2, profile: .ownEvents),
            to: root.path)
        let pipeline = root.appendingPathComponent("pipeline.yaml").path
        let r = try CLI.run(["run", pipeline, "--quiet"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let model = try JSON.object(Data(contentsOf: root.appendingPathComponent("models/churn-model.json")))
        let names = try XCTUnwrap(model["feature_names"] as? [String])
        XCTAssertEqual(Array(names.prefix(ChurnFeatures.names.count)), ChurnFeatures.names)
        let derived = Array(names.dropFirst(ChurnFeatures.names.count))
        XCTAssertFalse(derived.isEmpty)
        XCTAssertLessThanOrEqual(derived.count, EventFeatureSettings().maxInputs)
        XCTAssertTrue(derived.allSatisfy { ChurnFeatures.eventInput(named: $0) != nil }, "\(derived)")
        let chosen = try XCTUnwrap(
            ((model["metadata"] as? [String: Any])?["event_inputs"] as? [String: Any])?["chosen"] as? [String])
        XCTAssertEqual(chosen, derived)
        XCTAssertTrue(
            derived.contains { $0.hasSuffix(":\"Export Failed\"") } || derived.contains { $0.hasSuffix(":login") },
            "\(derived)")
        // Names mapped to `feature` are candidates of their own: each says which feature is used.
        let screened = try XCTUnwrap(
            ((model["metadata"] as? [String: Any])?["event_inputs"] as? [String: Any])?["screened"] as? [[String: Any]])
        XCTAssertTrue(
            screened.contains { ($0["input"] as? String)?.hasSuffix(":\"Report Exported\"") == true }, "\(screened)")

        let o = try RunOutputs(folder: root.appendingPathComponent("output/latest"))
        // features.jsonl keeps the model's inputs under their names, in the model's order.
        let line = try String(contentsOf: o.folder.appendingPathComponent("features.jsonl"), encoding: .utf8)
            .split(separator: "\n").first { $0.contains("\"active\": true") }!
        var position = try XCTUnwrap(line.range(of: "\"model_inputs\": {")).upperBound
        for name in names {
            let key = JSONValue.string(name).serialized() + ": "
            let found = try XCTUnwrap(
                line.range(of: key, range: position..<line.endIndex), "model_inputs lacks \(name), or not in order")
            position = found.upperBound
        }
        let scored = try o.scores.first { ($0["reason_codes"] as? [Any])?.isEmpty == false }
        let code = try XCTUnwrap((scored?["reason_codes"] as? [[String: Any]])?.first)
        let feature = try XCTUnwrap(code["feature"] as? String)
        XCTAssertTrue(
            (code["description"] as? String)?.hasPrefix(ChurnFeatures.input(named: feature)!.words + ": ") ?? false,
            "\(code)")
    }
}
