import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The outputs of a real run of the sample: the scores line's documented
/// shape, a defused at-risk.csv, the KPIs.
final class RunOutputsTests: XCTestCase {
    func testScoresLineHasTheDocumentedShape() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let text = try f.outputs(Sample.asOf).text("scores.jsonl")
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "one line per active customer; c4 churned")
        XCTAssertTrue(
            lines[0].hasPrefix("{\"customer_id\": \"c1\", \"as_of\": \"2026-03-31\", \"health_score\": "),
            String(lines[0]))
        let o = try JSON.object(Data(lines[0].utf8))
        XCTAssertEqual(
            Set((o["component_scores"] as? [String: Any])?.keys ?? [:].keys),
            ["usage", "engagement", "satisfaction", "value_realization"])
        let km = try XCTUnwrap(o["key_metrics"] as? [String: Any])
        for key in [
            "daily_active_users", "monthly_active_users", "feature_adoption_rate", "support_tickets_30d",
            "uptime_percentage", "cost_savings_achieved",
        ] {
            XCTAssertNotNil(km[key], key)
        }
        let rec = try XCTUnwrap(o["recommendations"] as? [String: Any])
        XCTAssertNotNil(rec["risk_factors"] as? [String])
        XCTAssertNotNil(rec["success_recommendations"] as? [String])
        XCTAssertNotNil(rec["intervention_priority"] as? String)
        XCTAssertEqual(try f.outputs(Sample.asOf).scores.map { $0["customer_id"] as? String }, ["c1", "c2", "c3"])
    }

    func testAtRiskCSVFromARealRunIsDefused() throws {
        let f = try ExportsFolder()
        let rows =
            Sample.accountsRows + [
                "c5,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-basic,100,2025-01-01,,10,10,4,,",
                "c6,+Plus,pro,100,2025-01-01,,10,10,4,,",
            ]
        try f.writeSample(accounts: Sample.csv(Sample.accountsHeader, rows))
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let csv = try f.outputs(Sample.asOf).text("at-risk.csv")
        XCTAssertTrue(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'-basic,"), csv)
        XCTAssertTrue(csv.contains(",'+Plus,"), csv)
    }

    func testKPIsOnTheSample() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let k = try f.outputs(Sample.asOf).kpis
        let overview = try XCTUnwrap(k["overview"] as? [String: Any])
        XCTAssertEqual(JSON.int(overview["total_customers"]), 4)
        XCTAssertEqual(JSON.int(overview["active_customers"]), 3)
        XCTAssertEqual(JSON.int(overview["churned_customers_30d"]), 1, "c4 churned on 03-15")
        let health = try XCTUnwrap(k["health_metrics"] as? [String: Any])
        XCTAssertEqual(JSON.double(health["nps"]), 0, "one promoter (9), one detractor (5) among active customers")
        XCTAssertEqual(JSON.double(health["nps_mean_score"]), 7)
        XCTAssertEqual(JSON.int(health["nps_responses"]), 2)
        let money = try XCTUnwrap(k["financial_metrics"] as? [String: Any])
        XCTAssertEqual(JSON.double(money["monthly_recurring_revenue"]), 3500)
        XCTAssertEqual(
            JSON.double(money["customer_acquisition_cost"]), 2833.33, "(5000 + 2000 + 1500) / 3, churned included")
        let retention = try XCTUnwrap(k["retention_rates"] as? [String: Any])
        XCTAssertEqual(JSON.double(retention["retention_30d"]), 0.75, "c1 c2 c3 c4 active on 03-01; c4 churned since")
        let churn = try XCTUnwrap(k["churn_rates"] as? [String: Any])
        XCTAssertEqual(JSON.double(churn["churn_30d"]), 0.25)
        XCTAssertEqual(JSON.double(money["customer_lifetime_value"]), 4666.67, "ARPA 1166.67 x 1 / 0.25 months")
    }
}
