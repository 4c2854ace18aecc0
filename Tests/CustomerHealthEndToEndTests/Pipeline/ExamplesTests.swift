import CustomerHealthTestSupport
import Foundation
import XCTest

/// The pipelines of pipelines/examples/, on the small exports beside them,
/// written from each vendor's documented export format.
final class ExamplesTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("pipelines/examples")

    private func run(_ name: String) throws -> RunOutputs {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ch-example-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        let r = try CLI.run([
            "run", Self.examples.appendingPathComponent("\(name).yaml").path, "--output", out.path, "--quiet",
        ])
        XCTAssertEqual(r.status, 0, "\(name): \(r.transcript)")
        let o = try RunOutputs(folder: out.appendingPathComponent("2026-10-20"))
        let rejects = try o.text("rejects.jsonl")
        XCTAssertEqual(rejects, "", name)
        try assertNothingLost(o)
        return o
    }

    func testEveryExampleIsTested() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter {
            $0.hasSuffix(".yaml")
        }.sorted()
        XCTAssertEqual(names, ["amplitude.yaml", "mixpanel.yaml", "posthog.yaml", "segment.yaml", "stripe.yaml"])
    }

    /// Four analytics vendors export the same 20 events in four shapes: the scores are the same.
    func testAnalyticsVendorsReadAlike() throws {
        let segment = try run("segment")
        XCTAssertEqual(
            Set(try segment.scores.map { $0["customer_id"] as! String }), ["acct_1", "acct_2", "acct_4"],
            "acct_3 churned on 10-01")
        let events = try XCTUnwrap(segment.manifest["events"] as? [String: Any])
        XCTAssertEqual(JSON.int(events["login"]), 8)
        XCTAssertEqual(JSON.int(events["feature_use"]), 8)
        XCTAssertEqual(JSON.int(try segment.manifest["ignored_events"]), 1)
        XCTAssertEqual((try segment.manifest["product_events"] as? [String: Int])?.count, 3)
        for vendor in ["amplitude", "mixpanel", "posthog"] {
            let o = try run(vendor)
            XCTAssertEqual(try o.text("scores.jsonl"), try segment.text("scores.jsonl"), vendor)
            XCTAssertEqual(try o.text("kpis.json"), try segment.text("kpis.json"), vendor)
            XCTAssertEqual((try o.manifest["product_events"] as? [String: Int])?.values.sorted(), [1, 1, 1], vendor)
        }
    }

    /// Churn from Stripe's ended_at: the canceled subscription's customer is churned.
    func testSubscriptionEndsFromStripe() throws {
        let o = try run("stripe")
        XCTAssertEqual(Set(try o.scores.map { $0["customer_id"] as! String }), ["acct_1", "acct_2", "acct_4"])
        let acct3 = try XCTUnwrap(o.feature("acct_3"))
        XCTAssertEqual(acct3["active"] as? Bool, false)
        XCTAssertEqual((acct3["churn_spells"] as? [[Any]])?.first?.first as? String, "2026-10-01")
        XCTAssertEqual(JSON.int((try o.kpis["overview"] as? [String: Any])?["churned_customers_30d"]), 1)
        XCTAssertEqual(try o.manifest["churn_definition"] as? String, "accounts.subscription_end")
    }
}
