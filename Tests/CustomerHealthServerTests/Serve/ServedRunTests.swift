import Foundation
import XCTest

@testable import CustomerHealthServer

/// Loading a run: the at-risk list split exactly, the score index, and the
/// errors that name what is wrong.
final class ServedRunTests: XCTestCase {
    func testArrayElementsIgnoreBracketsAndQuotesInsideStrings() {
        let text =
            #"{"as_of": "x", "note": "[not, this]", "customers": [ {"a": "}, \" ]", "b": [1, 2]} , {"c": {}} ], "after": [9]}"#
        let bytes = Array(text.utf8)
        let ranges = JSONBytes.arrayElements(ofKey: "customers", in: bytes)
        XCTAssertEqual(
            ranges?.map { String(decoding: bytes[$0], as: UTF8.self) },
            [#"{"a": "}, \" ]", "b": [1, 2]}"#, #"{"c": {}}"#])
        XCTAssertEqual(JSONBytes.arrayElements(ofKey: "customers", in: Array(#"{"customers": []}"#.utf8))?.count, 0)
        XCTAssertNil(JSONBytes.arrayElements(ofKey: "customers", in: Array(#"{"other": [1]}"#.utf8)))
        XCTAssertEqual(
            String(decoding: JSONBytes.compact(Array("{ \"a b\" : [ 1 ,\n 2 ] }".utf8)[...]), as: UTF8.self),
            #"{"a b":[1,2]}"#)
    }

    func folder(
        scores: String, atRisk: String = #"{"as_of": "2026-11-23", "count": 0, "customers": []}"#,
        kpis: String = #"{"as_of": "2026-11-23"}"#
    ) throws -> String {
        let dir = try Scratch.folder("ch-run")
        try scores.write(to: dir.appendingPathComponent("scores.jsonl"), atomically: true, encoding: .utf8)
        try atRisk.write(to: dir.appendingPathComponent("at-risk.json"), atomically: true, encoding: .utf8)
        try kpis.write(to: dir.appendingPathComponent("kpis.json"), atomically: true, encoding: .utf8)
        return dir.path
    }

    func testScoreLinesAreIndexedByExactId() throws {
        let run = try ServedRun(
            folder: try folder(
                scores: """
                    {"customer_id": "a", "health_score": 1}
                    {"customer_id": "b\\"q", "health_score": 2}
                    {"health_score": 3, "customer_id": "c/../d"}

                    """))
        XCTAssertEqual(run.customerCount, 3)
        func line(_ id: String) -> String? { run.scoreLine(id).map { String(decoding: $0, as: UTF8.self) } }
        XCTAssertEqual(line("a"), #"{"customer_id": "a", "health_score": 1}"#)
        XCTAssertEqual(line(#"b"q"#), #"{"customer_id": "b\"q", "health_score": 2}"#)
        XCTAssertEqual(line("c/../d"), #"{"health_score": 3, "customer_id": "c/../d"}"#)
        XCTAssertNil(line("A"))
        XCTAssertEqual(run.asOf, "2026-11-23")
    }

    func testBrokenFilesAreNamedWithTheirLine() throws {
        let cases: [(String, String, String, String)] = [
            (
                "{\"customer_id\": \"a\"}\n{\"customer_id\": \"a\"}\n", #"{"as_of": "d", "customers": []}"#,
                #"{"as_of": "d"}"#, "scores.jsonl: line 2: customer a appears twice"
            ),
            (
                "{\"customer_id\": \"a\"}\n{\"id\": 1}\n", #"{"as_of": "d", "customers": []}"#, #"{"as_of": "d"}"#,
                "scores.jsonl: line 2: is not a score line"
            ),
            (
                "{\"customer_id\": \"a\"}\n{\"customer_id\": \"b\", \"hea", #"{"as_of": "d", "customers": []}"#,
                #"{"as_of": "d"}"#, "scores.jsonl: line 2: is cut off"
            ),
            ("", #"{"as_of": "d", "custo"#, #"{"as_of": "d"}"#, "at-risk.json: is not an at-risk list"),
            (
                "", #"{"as_of": "d", "customers": [{"rank": 1, "intervention_priority": "high"}, {"rank": 2}]}"#,
                #"{"as_of": "d"}"#,
                "at-risk.json: entry 2 of customers is not an object with an intervention_priority"
            ),
            (
                "", #"{"as_of": "d", "customers": [{"rank": 1, "intervention_priority": "high"}, "#, #"{"as_of": "d"}"#,
                "at-risk.json: is not an at-risk list"
            ),
            ("", #"{"as_of": "d", "customers": []}"#, #"[1]"#, "kpis.json: is not a KPI object"),
        ]
        for (scores, atRisk, kpis, message) in cases {
            XCTAssertThrowsError(try ServedRun(folder: try folder(scores: scores, atRisk: atRisk, kpis: kpis))) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        XCTAssertThrowsError(try ServedRun(folder: "/nonexistent/run")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/run"))
        }
    }
}
