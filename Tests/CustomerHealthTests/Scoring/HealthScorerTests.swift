import Foundation
import XCTest

@testable import CustomerHealth

/// The scoring rules of docs/scoring.md, on hand-made feature vectors.
final class HealthScorerTests: XCTestCase {
    let scorer = HealthScorer(settings: ScoringSettings())
    let asOf = CalendarDay("2026-03-31")!

    func account(seats: Int = 10, mrr: Double = 1000, features: Int = 10, training: Int = 4) -> AccountRecord {
        AccountRecord(
            customerID: "c1", name: "Acme", plan: "pro", mrr: mrr, subscriptionStart: CalendarDay("2025-01-01")!,
            churnedAt: nil, seats: seats, featuresAvailable: features, trainingModules: training,
            acquisitionCost: nil, nps: nil)
    }

    func usage(login: Int?, monthly: Int = 0, daily: Double = 0) -> Double {
        var f = FeatureVector()
        f.daysSinceLastLogin = login
        f.monthlyActiveUsers = monthly
        f.dailyActiveUsers = daily
        return scorer.components(f, account: account()).usage!
    }

    func testRecencyPoints() {
        XCTAssertEqual(usage(login: 0), 40)
        XCTAssertEqual(usage(login: 1), 40)
        XCTAssertEqual(usage(login: 2), 30)
        XCTAssertEqual(usage(login: 7), 30)
        XCTAssertEqual(usage(login: 8), 20)
        XCTAssertEqual(usage(login: 30), 20)
        XCTAssertEqual(usage(login: 31), 0)
        XCTAssertEqual(usage(login: nil), 0, "never logged in")
    }

    func testActivityIsTwoPointsPerMonthlyUserUpToForty() {
        XCTAssertEqual(usage(login: nil, monthly: 1), 2)
        XCTAssertEqual(usage(login: nil, monthly: 13), 26)
        XCTAssertEqual(usage(login: nil, monthly: 20), 40)
        XCTAssertEqual(usage(login: nil, monthly: 500), 40)
    }

    func testEngagementIsFivePointsPerDailyUserUpToTwenty() {
        XCTAssertEqual(usage(login: nil, daily: 5.0 / 7.0), 25.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(usage(login: nil, daily: 2.5), 12.5)
        XCTAssertEqual(usage(login: nil, daily: 4), 20)
        XCTAssertEqual(usage(login: nil, daily: 14.29), 20)
    }

    func testUsageAddsTheThreeParts() {
        XCTAssertEqual(usage(login: 3, monthly: 7, daily: 1.5), 30 + 14 + 7.5)
        XCTAssertEqual(usage(login: 0, monthly: 40, daily: 14.29), 100)
    }

    func testOverallWeightsAndRounding() {
        func overall(_ u: Double, _ e: Double, _ s: Double, _ v: Double) -> Double {
            scorer.overall(ComponentScores(usage: u, engagement: e, satisfaction: s, valueRealization: v))
        }
        XCTAssertEqual(overall(100, 0, 0, 0), 30)
        XCTAssertEqual(overall(0, 100, 0, 0), 25)
        XCTAssertEqual(overall(0, 0, 100, 0), 25)
        XCTAssertEqual(overall(0, 0, 0, 100), 20)
        XCTAssertEqual(overall(85, 72, 80, 75), 78.5, "the issue's example")
        XCTAssertEqual(overall(100, 49.49, 91.78, 47.52), 74.8, "docs/scoring.md's worked example")
        XCTAssertEqual(overall(100, 100, 100, 100), 100)
        XCTAssertEqual(overall(33.33, 33.33, 33.33, 33.33), 33.3)
    }

    func testStatusBoundaries() {
        let cases: [(Double, HealthStatus)] = [
            (100, .excellent), (85, .excellent), (84.9, .good), (70, .good), (69.9, .warning), (50, .warning),
            (49.9, .critical), (25, .critical), (24.9, .churnRisk), (0, .churnRisk),
        ]
        for (score, status) in cases { XCTAssertEqual(scorer.status(score), status, "\(score)") }
    }

    func testInterventionPriorityFromHealth() {
        let cases: [(Double, InterventionPriority)] = [
            (0, .critical), (24.9, .critical), (25, .high), (49.9, .high), (50, .medium), (69.9, .medium), (70, .low),
            (100, .low),
        ]
        for (health, p) in cases {
            XCTAssertEqual(scorer.priority(health: health, churnProbability: nil), p, "\(health)")
        }
    }

    func testInterventionPriorityFromChurnProbability() {
        let cases: [(Double, InterventionPriority)] = [
            (0.71, .critical), (0.7, .high), (0.51, .high), (0.5, .medium), (0.31, .medium), (0.3, .low), (0, .low),
        ]
        for (p, priority) in cases {
            XCTAssertEqual(scorer.priority(health: 95, churnProbability: p), priority, "\(p)")
        }
        XCTAssertEqual(scorer.priority(health: 20, churnProbability: 0.1), .critical, "either condition is enough")
        XCTAssertEqual(scorer.priority(health: 60, churnProbability: 0.6), .high)
    }

    func testTrends() {
        XCTAssertEqual(scorer.trend(now: 60.1, before: 55), .increasing)
        XCTAssertEqual(scorer.trend(now: 60, before: 55), .stable, "a change of exactly 5 is stable")
        XCTAssertEqual(scorer.trend(now: 55, before: 60), .stable)
        XCTAssertEqual(scorer.trend(now: 54.9, before: 60), .decreasing)
        XCTAssertEqual(scorer.trend(now: 0, before: 0), .stable)
    }

    func testTrendsCompareEachComponentWithTheEarlierFeatures() {
        var before = healthy()
        before.daysSinceLastLogin = 40  // usage 60 then, 100 now
        before.uptimePercentage = 99.9
        var now = healthy()
        now.uptimePercentage = 97  // satisfaction down by about 14
        let s = scorer.score(customerID: "c1", asOf: asOf, features: now, previous: before, account: account())
        XCTAssertEqual(s.trends.usage, .increasing)
        XCTAssertEqual(s.trends.engagement, .stable)
        XCTAssertEqual(s.trends.satisfaction, .decreasing)
        XCTAssertEqual(s.trends.valueRealization, .stable)
    }

    /// A customer that is fine on every rule.
    func healthy() -> FeatureVector {
        var f = FeatureVector()
        f.daysSinceLastLogin = 0
        f.monthlyActiveUsers = 20
        f.dailyActiveUsers = 5
        f.featuresUsed30d = 8
        f.featureAdoptionRate = 0.8
        f.apiCalls30d = 400
        f.mobileSessions30d = 80
        f.trainingModulesCompleted = 4
        f.trainingCompletionRate = 1
        f.supportTickets30d = 0
        f.avgFirstResponseHours = 2
        f.uptimePercentage = 99.95
        f.costSavingsAchieved = 100_000
        f.workOrders30d = 40
        f.monthsSinceSubscriptionStart = 12
        f.daysToFirstValue = 5
        return f
    }

    func testAHealthyCustomerHasNoRiskFactorsAndGetsAnExecutiveReview() {
        let s = scorer.score(customerID: "c1", asOf: asOf, features: healthy(), previous: healthy(), account: account())
        XCTAssertEqual(
            s.components, ComponentScores(usage: 100, engagement: 100, satisfaction: 100, valueRealization: 100))
        XCTAssertEqual(s.healthScore, 100)
        XCTAssertEqual(s.status, .excellent)
        XCTAssertEqual(s.priority, .low)
        XCTAssertEqual(s.riskFactors, [])
        XCTAssertEqual(s.recommendations, ["Executive business review: present results and discuss expansion"])
        XCTAssertEqual(s.trends.usage, .stable)
    }

    func testRiskFactorTextsAndOrder() {
        var f = healthy()
        f.daysSinceLastLogin = 23
        f.monthlyActiveUsers = 2
        f.featureAdoptionRate = 0.12
        f.supportTickets30d = 5
        f.avgFirstResponseHours = 26.5
        f.uptimePercentage = 96.14
        f.trainingCompletionRate = 0.2
        f.costSavingsAchieved = 0.72 * 1000 * 9.5
        f.monthsSinceSubscriptionStart = 9.5
        let s = scorer.score(customerID: "c1", asOf: asOf, features: f, previous: healthy(), account: account())
        XCTAssertEqual(
            s.riskFactors,
            [
                "No login in 23 days",
                "2 of 10 seats active in 30 days",
                "Usage decreasing over 30 days",
                "Feature adoption 12% of plan",
                "5 support tickets in 30 days",
                "Average first response 26.5 hours",
                "Uptime 96.1% in 30 days",
                "Training 20% complete",
                "Savings 0.7x subscription cost after 9 months",
            ])
        XCTAssertEqual(s.trends.usage, .decreasing)
        XCTAssertTrue(
            s.recommendations.contains(
                "Advanced feature training: walk the team through the plan features they do not use yet"))
        XCTAssertTrue(
            s.recommendations.contains("Dedicated support: assign a named support engineer and review open tickets"))
        XCTAssertTrue(
            s.recommendations.contains(
                "ROI review: quantify the savings achieved against the subscription cost with the customer"))
        XCTAssertTrue(s.recommendations.contains("Training enrolment: enrol users in the remaining training modules"))
    }

    func testRiskFactorThresholdsAreNotTriggeredAtTheBoundary() {
        var f = healthy()
        f.daysSinceLastLogin = 14
        f.monthlyActiveUsers = 3
        f.featureAdoptionRate = 0.3
        f.supportTickets30d = 4
        f.avgFirstResponseHours = 24
        f.uptimePercentage = 99
        f.trainingCompletionRate = 0.5
        let s = scorer.score(customerID: "c1", asOf: asOf, features: f, previous: f, account: account())
        XCTAssertEqual(s.riskFactors, [])
    }

    func testNullFeaturesDoNotTriggerRisks() {
        var f = healthy()
        f.avgFirstResponseHours = nil
        f.uptimePercentage = nil
        f.trainingCompletionRate = nil
        f.daysSinceLastLogin = nil
        let s = scorer.score(customerID: "c1", asOf: asOf, features: f, previous: f, account: account())
        XCTAssertEqual(s.riskFactors, ["No login on record"])
        let c = scorer.components(f, account: account())
        XCTAssertEqual(c.satisfaction, 100, "missing response time and uptime get full credit")
        XCTAssertEqual(c.engagement, 100, "no modules to complete: full training points")
    }

    func testLowHealthGetsAnInterventionRecommendationFirst() {
        let s = scorer.score(
            customerID: "c1", asOf: asOf, features: FeatureVector(), previous: FeatureVector(), account: account())
        XCTAssertLessThan(s.healthScore, 50)
        XCTAssertTrue([.critical, .high].contains(s.priority))
        XCTAssertEqual(
            s.recommendations.first,
            "Intervention: schedule a call with the account owner this week to address the risk factors")
    }

    func testDocumentedWorkedExample() {
        // docs/scoring.md: cust_01012 as of 2026-09-27.
        let a = AccountRecord(
            customerID: "cust_01012", name: "", plan: "", mrr: 3960, subscriptionStart: CalendarDay("2025-08-23")!,
            churnedAt: nil, seats: 40, featuresAvailable: 35, trainingModules: 15, acquisitionCost: nil, nps: nil)
        var f = FeatureVector()
        f.daysSinceLastLogin = 0
        f.monthlyActiveUsers = 40
        f.dailyActiveUsers = 100.0 / 7.0
        f.featuresUsed30d = 9
        f.featureAdoptionRate = 9.0 / 35.0
        f.apiCalls30d = 95
        f.mobileSessions30d = 53
        f.trainingModulesCompleted = 15
        f.trainingCompletionRate = 1
        f.supportTickets30d = 0
        f.avgFirstResponseHours = 13.1
        f.uptimePercentage = 99.618
        f.costSavingsAchieved = 102_710
        f.workOrders30d = 39
        f.monthsSinceSubscriptionStart = 400 / 30.4375
        f.daysToFirstValue = 251
        let s = scorer.score(
            customerID: a.customerID, asOf: CalendarDay("2026-09-27")!, features: f, previous: f, account: a)
        XCTAssertEqual(s.components.usage, 100)
        XCTAssertEqual(s.components.engagement!, 49.49, accuracy: 0.01)
        XCTAssertEqual(s.components.satisfaction!, 91.78, accuracy: 0.01)
        XCTAssertEqual(s.components.valueRealization!, 47.52, accuracy: 0.01)
        XCTAssertEqual(s.healthScore, 74.8)
        XCTAssertEqual(s.status, .good)
        XCTAssertEqual(s.priority, .low)
        XCTAssertEqual(s.riskFactors, ["Feature adoption 26% of plan"])
        XCTAssertEqual(
            s.recommendations,
            ["Advanced feature training: walk the team through the plan features they do not use yet"])
    }

    func testWeightsFromThePipelineChangeTheScore() throws {
        var settings = ScoringSettings()
        settings.weightUsage = 1
        settings.weightEngagement = 0
        settings.weightSatisfaction = 0
        settings.weightValue = 0
        let c = ComponentScores(usage: 42.04, engagement: 90, satisfaction: 90, valueRealization: 90)
        XCTAssertEqual(HealthScorer(settings: settings).overall(c), 42)
    }
}
