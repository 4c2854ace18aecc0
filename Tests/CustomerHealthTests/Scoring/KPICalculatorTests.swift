import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// kpis.json on hand-made portfolios (docs/scoring.md, "KPIs").
final class KPICalculatorTests: XCTestCase {
    let t = CalendarDay("2026-03-31")!

    private func snap(
        _ id: String, start: String, churned: String? = nil, mrr: Double = 100, cac: Double? = nil, nps: Int? = nil
    ) -> CustomerSnapshot {
        let a = AccountRecord(
            customerID: id, name: id, plan: "pro", mrr: mrr, subscriptionStart: CalendarDay(start)!,
            churnedAt: churned.map { CalendarDay($0)! }, seats: 1, featuresAvailable: 1, trainingModules: 0,
            acquisitionCost: cac, nps: nps)
        let active = churned.map { CalendarDay($0)! > t } ?? true
        let lifecycle = CustomerLifecycle(
            start: a.subscriptionStart, spells: a.churnedAt.map { [.init(from: $0, until: nil)] } ?? []
        )
        .known(asOf: t)
        return CustomerSnapshot(
            account: a, lifecycle: lifecycle, active: active, features: active ? FeatureVector() : nil,
            previous: active ? FeatureVector() : nil)
    }

    private func kpis(_ snaps: [CustomerSnapshot], scores: [CustomerScore] = [], atRisk: Int = 0) throws -> [String:
        Any]
    {
        let value = KPICalculator(settings: KPISettings()).kpis(
            asOf: t, snapshots: snaps, scores: scores, atRisk: atRisk)
        return try JSON.object(Data(value.serialized().utf8))
    }

    func testChurnedInTheLast30DaysIncludesBothEnds() throws {
        let k = try kpis([
            snap("a", start: "2025-01-01", churned: "2026-03-31"),  // T
            snap("b", start: "2025-01-01", churned: "2026-03-02"),  // T-29
            snap("c", start: "2025-01-01", churned: "2026-03-01"),  // T-30: outside
            snap("d", start: "2025-01-01", churned: "2026-04-01"),  // after T: still active on T
            snap("e", start: "2025-01-01"),
        ])
        let overview = try XCTUnwrap(k["overview"] as? [String: Any])
        XCTAssertEqual(JSON.int(overview["total_customers"]), 5)
        XCTAssertEqual(JSON.int(overview["active_customers"]), 2)
        XCTAssertEqual(JSON.int(overview["churned_customers_30d"]), 2)
    }

    func testRetentionCohorts() throws {
        let k = try kpis([
            snap("a", start: "2025-01-01"),  // in every cohort, kept
            snap("b", start: "2025-01-01", churned: "2026-03-20"),  // lost in every window
            snap("c", start: "2026-03-10"),  // too new for any cohort
            snap("d", start: "2025-01-01", churned: "2026-02-01"),  // 30d: already gone at T-30; 90d: lost
            snap("e", start: "2026-02-15"),  // 30d cohort only, kept
        ])
        let r = try XCTUnwrap(k["retention_rates"] as? [String: Any])
        XCTAssertEqual(JSON.double(r["retention_30d"]), 0.6667, "a, b, e: 2 of 3 kept")
        XCTAssertEqual(JSON.double(r["retention_90d"]), 0.3333, "a, b, d: 1 of 3 kept")
        XCTAssertEqual(JSON.double(r["retention_12m"]), 0.3333)
        let c = try XCTUnwrap(k["churn_rates"] as? [String: Any])
        XCTAssertEqual(JSON.double(c["churn_30d"]), 0.3333)
    }

    func testNPSAndMoney() throws {
        let k = try kpis([
            snap("a", start: "2025-01-01", mrr: 1000, cac: 3000, nps: 10),
            snap("b", start: "2025-01-01", mrr: 500, cac: 1000, nps: 9),
            snap("c", start: "2025-01-01", mrr: 300, nps: 3),
            snap("d", start: "2025-01-01", mrr: 200, cac: 2000, nps: 7),
            // churned: no NPS, no MRR
            snap("e", start: "2025-01-01", churned: "2026-01-01", mrr: 9999, cac: 8000, nps: 0),
        ])
        let h = try XCTUnwrap(k["health_metrics"] as? [String: Any])
        XCTAssertEqual(JSON.double(h["nps"]), 25, "2 promoters - 1 detractor of 4")
        XCTAssertEqual(JSON.double(h["nps_mean_score"]), 7.25)
        XCTAssertEqual(JSON.int(h["nps_responses"]), 4)
        XCTAssertTrue(h["avg_health_score"] is NSNull, "nobody scored")
        let m = try XCTUnwrap(k["financial_metrics"] as? [String: Any])
        XCTAssertEqual(JSON.double(m["monthly_recurring_revenue"]), 2000)
        XCTAssertEqual(JSON.double(m["average_revenue_per_account"]), 500)
        XCTAssertEqual(JSON.double(m["customer_acquisition_cost"]), 3500, "mean over those with one, churned included")
        XCTAssertEqual(
            JSON.double(m["customer_lifetime_value"]), 30000, "no churn in 30 days: lifetime capped at 60 months")
        XCTAssertEqual(JSON.double(m["ltv_cac_ratio"]), 8.57)
    }

    func testEmptyPortfolioGivesNullsNotCrashes() throws {
        let k = try kpis([])
        let m = try XCTUnwrap(k["financial_metrics"] as? [String: Any])
        XCTAssertTrue(m["average_revenue_per_account"] is NSNull)
        XCTAssertTrue(m["ltv_cac_ratio"] is NSNull)
        XCTAssertTrue((k["retention_rates"] as? [String: Any])?["retention_30d"] is NSNull)
        XCTAssertEqual(JSON.int((k["overview"] as? [String: Any])?["total_customers"]), 0)
    }

    /// Sums are exact: the order of the customers (a run's, or a merge of
    /// shards') never changes a digit. Summed as Doubles, 9e12 plus a
    /// thousand cents loses cents one way round and not the other.
    func testSumsDoNotDependOnTheOrderOfTheCustomers() throws {
        var snaps = [snap("big", start: "2025-01-01", mrr: 9_000_000_000_000, cac: 9_000_000_000_000)]
        snaps += (0..<1000).map { snap(String(format: "s%04d", $0), start: "2025-01-01", mrr: 0.01, cac: 0.01) }
        var naive = 0.0
        for s in snaps { naive += s.account.mrr! }
        var reversedNaive = 0.0
        for s in snaps.reversed() { reversedNaive += s.account.mrr! }
        XCTAssertNotEqual(naive, reversedNaive, "the case is one where Double sums depend on order")
        let forward = try kpis(snaps)
        let backward = try kpis(snaps.reversed())
        let money = try XCTUnwrap(forward["financial_metrics"] as? [String: Any])
        XCTAssertEqual(JSON.double(money["monthly_recurring_revenue"]), 9_000_000_000_010)
        XCTAssertEqual(
            try JSONSerialization.data(withJSONObject: forward, options: .sortedKeys),
            try JSONSerialization.data(withJSONObject: backward, options: .sortedKeys))
    }

    func testExactSumAddsPartialSums() {
        var whole = ExactSum(scale: 10)
        var a = ExactSum(scale: 10)
        var b = ExactSum(scale: 10)
        for (i, v) in [72.3, 55.1, 99.9, 0.1, 12.7].enumerated() {
            whole.add(v)
            if i % 2 == 0 { a.add(v) } else { b.add(v) }
        }
        a.add(b)
        XCTAssertEqual(a.value, whole.value)
        XCTAssertEqual(whole.value, 240.1)
    }
}
