import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Score parts that do not apply (docs/scoring.md, "When data is missing"):
/// the worked examples, by hand.
final class ScorePartsTests: XCTestCase {
    let scorer = HealthScorer(settings: ScoringSettings())
    let asOf = CalendarDay("2026-03-31")!

    func account(seats: Int? = 10, mrr: Double? = 1000, features: Int? = 10, training: Int? = 4) -> AccountRecord {
        AccountRecord(
            customerID: "c1", name: "Acme", plan: "pro", mrr: mrr, subscriptionStart: CalendarDay("2025-01-01")!,
            churnedAt: nil, seats: seats, featuresAvailable: features, trainingModules: training, acquisitionCost: nil,
            nps: nil)
    }

    /// A product with only logins and feature use, tickets but no uptime or savings exports.
    var sources: DataSources {
        var s = DataSources()
        s.eventKinds = [.login, .featureUse]
        s.exports = [.accounts, .activity, .tickets]
        return s
    }

    var features: FeatureVector {
        var f = FeatureVector()
        f.daysSinceLastLogin = 3  // recency 30 of 40
        f.monthlyActiveUsers = 10  // activity 20 of 40
        f.dailyActiveUsers = 2  // daily 10 of 20
        f.featureAdoptionRate = 0.45  // adoption 30 of 40
        f.supportTickets30d = 0  // tickets 35 of 35
        f.avgFirstResponseHours = 26  // response 15 of 30
        f.monthsSinceSubscriptionStart = 15
        return f
    }

    func testTheWorkedExample() {
        let parts = ScoreApplicability(sources: sources, settings: [:])
        XCTAssertEqual(parts.parts, [.recency, .activity, .dailyUsers, .adoption, .tickets, .response])
        let s = scorer.score(
            customerID: "c1", asOf: asOf, features: features, previous: features, account: account(),
            applicability: parts)
        XCTAssertEqual(s.components.usage!, 60, accuracy: 1e-9, "all three usage parts apply: 30 + 20 + 10")
        XCTAssertEqual(s.components.engagement!, 75, accuracy: 1e-9, "adoption alone: 30 of 40 points is 75 of 100")
        XCTAssertEqual(
            s.components.satisfaction!, 50.0 / 65.0 * 100, accuracy: 1e-9, "tickets and response: 50 of 65 points")
        XCTAssertNil(s.components.valueRealization, "no work orders, no savings: value realization drops out")
        // Weights 0.30, 0.25, 0.25 rescaled to add up to 1.
        let expected = (0.30 * 60 + 0.25 * 75 + 0.25 * (50.0 / 65.0 * 100)) / 0.80
        XCTAssertEqual(s.healthScore, (expected * 10).rounded() / 10)
        XCTAssertEqual(s.healthScore, 70.0)
        XCTAssertNil(s.trends.valueRealization)
        XCTAssertEqual(s.trends.engagement, .stable)
    }

    func testEveryPartApplyingIsTheSeedsScore() {
        var f = features
        f.apiCalls30d = 150
        f.uptimePercentage = 99.5
        let all = scorer.score(
            customerID: "c1", asOf: asOf, features: f, previous: f, account: account(), applicability: .all)
        XCTAssertEqual(all.components, scorer.components(f, account: account()))
        XCTAssertEqual(all.healthScore, scorer.overall(scorer.components(f, account: account())))
    }

    func testACustomerWithoutAnAccountValueLosesOnlyThoseParts() {
        let parts = ScoreApplicability(sources: .all, settings: [:])
        XCTAssertEqual(
            parts.parts(for: account(seats: nil)).set,
            Set(ScorePart.allCases).subtracting([.api, .mobile, .tickets, .workOrders]))
        XCTAssertEqual(parts.parts(for: account(mrr: nil)).set, Set(ScorePart.allCases).subtracting([.roi]))
        let forced = ScoreApplicability(sources: .all, settings: [.api: .on, .uptime: .off])
        XCTAssertTrue(
            forced.parts(for: account(seats: nil)).contains(.api), "forced on applies whatever the account lacks")
        XCTAssertFalse(forced.parts.contains(.uptime))
        // Forced on without its data: the seed's treatment (missing uptime scores full).
        let noUptime = ScoreApplicability(sources: sources, settings: [.uptime: .on])
        let s = scorer.score(
            customerID: "c1", asOf: asOf, features: features, previous: features, account: account(),
            applicability: noUptime)
        XCTAssertEqual(s.components.satisfaction!, 85, accuracy: 1e-9, "35 + 15 + 35 of 100")
    }

    func testRiskFactorsOfPartsThatDoNotApplyNeverFire() {
        var f = features
        f.daysSinceLastLogin = nil
        f.featureAdoptionRate = 0.1
        f.supportTickets30d = 9
        let none = ScoreApplicability(sources: DataSources(), settings: [:])
        let s = scorer.score(
            customerID: "c1", asOf: asOf, features: f, previous: f, account: account(seats: nil), applicability: none)
        XCTAssertEqual(s.riskFactors, [], "no login kind, no feature use, no tickets export, no seats")
        let all = scorer.score(
            customerID: "c1", asOf: asOf, features: f, previous: f, account: account(), applicability: .all)
        XCTAssertTrue(all.riskFactors.contains("No login on record"))
        XCTAssertTrue(all.riskFactors.contains("9 support tickets in 30 days"))
    }

    func testScorePartsSettings() throws {
        let f = try ExportsFolder()
        try f.writePipeline("scoring: {parts: {engagement.api: off, satisfaction.uptime: on}}\n")
        let c = try f.config()
        XCTAssertEqual(c.scoring.parts, [.api: .off, .uptime: .on])
        try f.writePipeline("scoring: {parts: {engagement.apis: off}}\n")
        XCTAssertThrowsError(try f.config()) {
            XCTAssertTrue("\($0)".contains("unknown score part \"engagement.apis\""))
        }
        try f.writePipeline("scoring: {parts: {engagement.api: maybe}}\n")
        XCTAssertThrowsError(try f.config()) { XCTAssertTrue("\($0)".contains("expected auto, on or off")) }
    }

    func testAutoTargetsAreThePortfoliosUpperQuartile() throws {
        func snap(_ calls: Int, seats: Int?, active: Bool = true) -> CustomerSnapshot {
            var f = FeatureVector()
            f.apiCalls30d = calls
            return CustomerSnapshot(
                account: account(seats: seats), lifecycle: CustomerLifecycle(start: asOf), active: active,
                features: active ? f : nil, previous: active ? f : nil)
        }
        // Per-seat rates of the customers who called the API: 0.1, 0.2, ... 0.8 (seats 10), and 2 for a customer
        // without seats (left out), an inactive one (left out), and one that never called (left out).
        var snaps = (1...8).map { snap($0, seats: 10) }
        snaps += [snap(20, seats: nil), snap(500, seats: 10, active: false), snap(0, seats: 10)]
        let resolved = ScoringSettings().resolvingTargets(from: snaps)
        XCTAssertEqual(resolved.apiCallsPerSeatTarget, 0.7, "the element at 3/4 of 8 rates, rounded to two figures")
        XCTAssertEqual(resolved.mobileSessionsPerSeatTarget, 4, "nobody used it: the seed's number stays")
        var fixed = ScoringSettings()
        fixed.autoTargets.remove(.apiCallsPerSeat)
        XCTAssertEqual(fixed.resolvingTargets(from: snaps).apiCallsPerSeatTarget, 20)
        XCTAssertEqual(ScoringSettings.twoSignificantFigures(0.23456), 0.23)
        XCTAssertEqual(ScoringSettings.twoSignificantFigures(1234), 1200)
        let f = try ExportsFolder()
        try f.writePipeline(
            "scoring: {engagement: {api_calls_per_seat_target: 20, mobile_sessions_per_seat_target: auto}}\n")
        let c = try f.config()
        XCTAssertEqual(c.scoring.autoTargets, [.mobileSessionsPerSeat, .workOrdersPerSeat])
    }
}
