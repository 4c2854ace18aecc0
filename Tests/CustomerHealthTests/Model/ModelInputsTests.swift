import Foundation
import XCTest

@testable import CustomerHealth

/// The model's inputs are declared once and resolved by name: the fixed
/// ones in a pinned order, the ones derived from the product's events by
/// their names, in the order the model file gives.
final class ModelInputsTests: XCTestCase {
    func testTheFixedInputsAndTheirOrderArePinned() {
        // A model file lists its inputs by name, and old models name these: changing the list is deliberate.
        XCTAssertEqual(
            ChurnFeatures.names,
            [
                "days_since_last_login", "monthly_active_users", "daily_active_users", "feature_adoption_rate",
                "support_tickets_30d", "avg_first_response_hours", "uptime_percentage", "cost_savings_achieved",
                "training_completion_rate", "api_calls_30d", "work_orders_completed_30d",
                "months_since_subscription_start",
                "seats", "logins_30d", "monthly_active_users_per_seat", "daily_active_users_per_seat",
                "support_tickets_30d_per_seat", "cost_savings_per_seat", "work_orders_30d_per_seat",
                "features_used_30d",
                "events_per_seat_decayed_14d", "events_per_seat_decayed_30d", "events_per_seat_365d",
                "events_recent_vs_365d",
                "savings_per_record_365d_per_seat", "users_14d_per_seat", "feature_adoption_90d",
                "feature_use_share_30d",
                "active_days_share_90d",
            ])
        XCTAssertEqual(
            Set(ChurnFeatures.fixed.map(\.words)).count, ChurnFeatures.fixed.count, "every input has its own words")
    }

    func testEventInputNamesRoundTrip() {
        let name = ChurnFeatures.name(.count28, .product("Report Exported"))
        XCTAssertEqual(name, "events_28d:\"Report Exported\"")
        XCTAssertEqual(ChurnFeatures.input(named: name)?.words, "Report Exported in 28 days")
        XCTAssertEqual(ChurnFeatures.input(named: "days_since_event:api_call")?.words, "Days since the last api calls")
        XCTAssertNil(ChurnFeatures.input(named: "events_28d:nonsense"))
        XCTAssertNil(ChurnFeatures.input(named: "no_such_input"))
        XCTAssertEqual(ChurnFeatures.unknown(in: ["logins_30d", "x", "events_7d:login"]), ["x"])
        XCTAssertEqual(
            ChurnFeatures.describe(name, 14, inputs: ["events_90d:\"Report Exported\"": 129]),
            "Report Exported in 28 days: 14, down from 40 a month over 90 days")
        XCTAssertEqual(
            ChurnFeatures.describe("monthly_active_users_per_seat", 0.12345, inputs: [:]),
            "Monthly active users per seat: 0.123")
    }

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
