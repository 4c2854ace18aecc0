import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// What the output files look like to the people and tools that read them.
final class OutputRenderersTests: XCTestCase {
    private func score(_ id: String, health: Double, priority: InterventionPriority, risks: [String] = [])
        -> CustomerScore
    {
        CustomerScore(
            customerID: id, asOf: CalendarDay("2026-03-31")!, healthScore: health,
            status: HealthScorer(settings: ScoringSettings()).status(health),
            components: ComponentScores(usage: 1, engagement: 2, satisfaction: 3, valueRealization: 4),
            features: FeatureVector(), trends: (.stable, .stable, .stable, .stable), riskFactors: risks,
            recommendations: ["Do something"], priority: priority, churnProbability: nil)
    }

    private func account(_ id: String, name: String, plan: String = "pro") -> AccountRecord {
        AccountRecord(
            customerID: id, name: name, plan: plan, mrr: 1234.5, subscriptionStart: CalendarDay("2025-01-01")!,
            churnedAt: nil,
            seats: 1, featuresAvailable: 1, trainingModules: 0, acquisitionCost: nil, nps: nil)
    }

    func testCSVCellsThatStartLikeAFormulaAreDefused() {
        XCTAssertEqual(OutputRenderers.csvCell("=1+2"), "'=1+2")
        XCTAssertEqual(OutputRenderers.csvCell("+44 20 7946 0000"), "'+44 20 7946 0000")
        XCTAssertEqual(OutputRenderers.csvCell("-5"), "'-5")
        XCTAssertEqual(OutputRenderers.csvCell("@SUM(A1:A9)"), "'@SUM(A1:A9)")
        XCTAssertEqual(OutputRenderers.csvCell("\tcmd"), "'\tcmd")
        XCTAssertEqual(
            OutputRenderers.csvCell("=HYPERLINK(\"http://evil\",\"x\")"),
            "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"")
        XCTAssertEqual(OutputRenderers.csvCell("Acme = good"), "Acme = good", "only the first character matters")
        XCTAssertEqual(OutputRenderers.csvCell("Beta, Inc."), "\"Beta, Inc.\"")
        XCTAssertEqual(OutputRenderers.csvCell("two\nlines"), "\"two\nlines\"")
        // "\r\n" is one Character: the test for line breaks must look at bytes.
        XCTAssertEqual(OutputRenderers.csvCell("two\r\nlines"), "\"two\r\nlines\"")
        XCTAssertEqual(OutputRenderers.csvCell("\r\nfirst"), "\"'\r\nfirst\"")
        XCTAssertEqual(OutputRenderers.csvCell("Zürich \"Nord\""), "\"Zürich \"\"Nord\"\"\"")
        XCTAssertEqual(OutputRenderers.csvCell(""), "")
    }

    func testAtRiskCSVEscapesEveryCell() throws {
        let s = score(
            "=cmd|' /C calc'!A0", health: 20, priority: .critical, risks: ["-1 seats", "No login in 40 days"])
        let csv = String(
            decoding: OutputRenderers.atRiskCSV(
                [s], accounts: ["=cmd|' /C calc'!A0": account("=cmd|' /C calc'!A0", name: "@evil", plan: "+plan")]),
            as: UTF8.self)
        let lines = csv.components(separatedBy: "\r\n")
        XCTAssertEqual(
            lines[0],
            "rank,customer_id,name,plan,mrr,health_score,health_status,intervention_priority,reason,recommendations")
        XCTAssertEqual(
            lines[1],
            "1,'=cmd|' /C calc'!A0,'@evil,'+plan,1234.50,20,churn_risk,critical,'-1 seats; No login in 40 days,Do something"
        )
        XCTAssertEqual(lines.count, 3, "CRLF after every record")
        for cell in lines[1].split(separator: ",") {
            XCTAssertFalse("=+-@".contains(cell.first!), "cell \(cell) could run as a formula")
        }
    }

    func testAtRiskOrderIsMostUrgentFirst() {
        let scores = [
            score("b", health: 40, priority: .high), score("a", health: 40, priority: .high),
            score("c", health: 20, priority: .critical),
            score("d", health: 30, priority: .high), score("e", health: 60, priority: .medium),
            score("f", health: 90, priority: .low),
            score("g", health: 10, priority: .critical),
        ]
        XCTAssertEqual(
            OutputRenderers.atRiskOrder(scores, priorities: [.critical, .high]).map(\.customerID),
            ["g", "c", "d", "a", "b"])
        XCTAssertEqual(OutputRenderers.atRiskOrder(scores, priorities: [.medium]).map(\.customerID), ["e"])
    }

    func testAtRiskJSONGivesTheReason() throws {
        let list = [
            score("c1", health: 47.5, priority: .high),
            score("c2", health: 20, priority: .critical, risks: ["No login in 23 days", "Training 20% complete"]),
        ]
        let text = OutputRenderers.atRiskJSON(
            list, accounts: ["c1": account("c1", name: "Acme")], asOf: CalendarDay("2026-03-31")!)
        let o = try JSON.object(Data(text.utf8))
        XCTAssertEqual(o["as_of"] as? String, "2026-03-31")
        XCTAssertEqual(JSON.int(o["count"]), 2)
        let customers = try XCTUnwrap(o["customers"] as? [[String: Any]])
        XCTAssertEqual(customers.map { JSON.int($0["rank"]) }, [1, 2])
        XCTAssertEqual(customers[0]["reason"] as? String, "Health score 47.5 (critical)")
        XCTAssertEqual(customers[0]["name"] as? String, "Acme")
        XCTAssertEqual(customers[1]["reason"] as? String, "No login in 23 days; Training 20% complete")
        XCTAssertTrue(customers[1]["name"] is NSNull)
    }

    func testJSONStringsStayOnOneLine() {
        let v = JSONValue.string("a\"b\\c\nd\re\tf\u{01}g\u{2028}h")
        XCTAssertEqual(v.serialized(), "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u2028h\"")
        XCTAssertEqual(JSONValue.number(78.46, places: 1).serialized(), "78.5")
        XCTAssertEqual(JSONValue.number(45000, places: 2).serialized(), "45000")
        XCTAssertEqual(JSONValue.number(nil, places: 2).serialized(), "null")
        XCTAssertEqual(JSONValue.number(.nan, places: 2).serialized(), "null")
    }

}
