import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The data contract's accepted variations: each gives the same scores as the
/// plain sample, and line numbers stay right.
final class InputFormatTests: XCTestCase {
    /// The outputs of the plain sample, to compare against.
    private func baseline() throws -> RunOutputs {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.writePipeline(maxRejectRatio: 0)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        return try f.outputs(Sample.asOf)
    }

    private func assertSameScores(
        _ o: RunOutputs, _ base: RunOutputs, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for name in ["scores.jsonl", "features.jsonl", "kpis.json", "at-risk.csv"] {
            XCTAssertEqual(try o.text(name), try base.text(name), name, file: file, line: line)
        }
    }

    func testCRLFLineEndingsAndUTF8BOMAreAccepted() throws {
        let f = try ExportsFolder()
        let bom = "\u{FEFF}"
        try f.writeSample(
            accounts: bom + Sample.csv(Sample.accountsHeader, Sample.accountsRows, newline: "\r\n"),
            activity: bom + Sample.csv(Sample.activityHeader, Sample.activityRows, newline: "\r\n"),
            uptime: Sample.csv(Sample.uptimeHeader, Sample.uptimeRows, newline: "\r\n"),
            savings: bom + Sample.csv(Sample.savingsHeader, Sample.savingsRows, newline: "\r\n"))
        try f.remove("activity-2026-03.csv")
        try f.writeGzip(
            "activity-2026-03.csv.gz", bom + Sample.csv(Sample.activityHeader, Sample.activityRows, newline: "\r\n"))
        try f.writePipeline(maxRejectRatio: 0)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        XCTAssertEqual(try o.rejects.count, 0)
        try assertSameScores(o, try baseline())
        try assertNothingLost(o)
    }

    func testCRLFRowsRejectedAtTheRightLineAndOffset() throws {
        let f = try ExportsFolder()
        let text =
            "\u{FEFF}"
            + Sample.csv(Sample.activityHeader, Sample.activityRows + ["c1,u1,yesterday,login,,"], newline: "\r\n")
        try f.writeSample(activity: text)
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let rejects = try f.outputs(Sample.asOf).rejects
        XCTAssertEqual(rejects.count, 1)
        assertReject(
            rejects.first, file: "activity-2026-03.csv", line: Sample.nextActivityLine, column: "occurred_at",
            code: "bad_value", reasonContains: ["\"yesterday\""])
        XCTAssertEqual(JSON.int(rejects.first?["byte_offset"]), byteOffset(ofLine: Sample.nextActivityLine, in: text))
        XCTAssertEqual(rejects.first?["raw"] as? String, "c1,u1,yesterday,login,,", "no CR left in the raw text")
    }

    func testQuotedFieldsWithNewlinesAndCommasKeepLaterLineNumbersRight() throws {
        let f = try ExportsFolder()
        let rows = [
            "c1,\"Acme, \"\"The Best\"\"\nCorp\",pro,1000,2025-01-01,,10,10,4,5000,9",
            "c2,\"Beta\n\nLtd\",basic,500,2025-06-01,,5,8,2,2000,5",
            "c3,Gamma Inc,enterprise,2000,2025-03-01,,20,10,4,,",
            "c4,Delta GmbH,basic,300,2024-06-01,2026-03-15,3,8,2,1500,7",
            "c5,Bad Seats,basic,300,2024-06-01,,many,8,2,1500,7",
        ]
        let text = Sample.csv(Sample.accountsHeader, rows)
        try f.writeSample(accounts: text)
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        // Line 1 header, 2-3 c1, 4-6 c2, 7 c3, 8 c4, 9 c5.
        let rejects = try o.rejects
        XCTAssertEqual(rejects.count, 1)
        assertReject(
            rejects.first, file: "accounts.csv", line: 9, column: "seats", code: "bad_value",
            reasonContains: ["\"many\""])
        XCTAssertEqual(JSON.int(rejects.first?["byte_offset"]), byteOffset(ofLine: 9, in: text))
        XCTAssertEqual(
            (try o.feature("c1")?["account"] as? [String: Any])?["name"] as? String, "Acme, \"The Best\"\nCorp")
        XCTAssertEqual((try o.feature("c2")?["account"] as? [String: Any])?["name"] as? String, "Beta\n\nLtd")
        XCTAssertEqual(JSON.int(try o.input("accounts.csv")?["rows_accepted"]), 4)
        try assertNothingLost(o)
    }

    func testSemicolonDelimiterTimestampFormatAndColumnRenames() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.remove("activity-2026-03.csv")
        // The sample's activity as a foreign export: other names, order, delimiter and time format.
        var text = "event_time;kind;account_ref;user_id;feature;duration_s;source\n"
        for row in Sample.activityRows {
            let c = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let ts = c[2]  // yyyy-MM-ddTHH:mm:ssZ -> dd/MM/yyyy HH:mm
            let y = ts.prefix(4)
            let mo = ts.dropFirst(5).prefix(2)
            let d = ts.dropFirst(8).prefix(2)
            let hm = ts.dropFirst(11).prefix(5)
            text += "\(d)/\(mo)/\(y) \(hm);\(c[3]);\(c[0]);\(c[1]);\(c[4]);\(c[5]);web\n"
        }
        text += "31/03/2026 25:00;login;c1;u1;;;web\n"
        try f.writeGzip("events_2026-03.csv.gz", text)
        try f.writePipeline(
            """
            exports:
              activity:
                files: "events_*.csv.gz"
                delimiter: semicolon
                timestamp_format: "dd/MM/yyyy HH:mm"
                columns: {customer_id: account_ref, occurred_at: event_time, event_type: kind}

            """)
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        XCTAssertEqual(JSON.int(try o.input("events_2026-03.csv.gz")?["rows_accepted"]), Sample.activityRows.count)
        let rejects = try o.rejects
        XCTAssertEqual(rejects.count, 1)
        assertReject(
            rejects.first, file: "events_2026-03.csv.gz", line: Sample.nextActivityLine, column: "event_time",
            code: "bad_value", reasonContains: ["\"31/03/2026 25:00\"", "dd/MM/yyyy HH:mm"])
        // Same day-level data as the plain sample, so the same features.
        let base = try baseline()
        XCTAssertEqual(try o.text("features.jsonl"), try base.text("features.jsonl"))
        XCTAssertEqual(try o.text("scores.jsonl"), try base.text("scores.jsonl"))
    }

    func testJSONLTicketsIncludingAMalformedLine() throws {
        let f = try ExportsFolder()
        let tickets = """
            {"ticket_id": "t1", "customer_id": "c1", "opened_at": "2026-03-10T10:00:00Z", "first_response_at": "2026-03-10T14:00:00Z", "resolved_at": null, "priority": "high", "status": "open"}
            {"ticket_id": "t2", "customer_id": "c1", "opened_at": "2026-03-11T10:00:00Z", "first_response_at":

            {"ticket_id": "t3", "customer_id": "c1", "first_response_at": "2026-03-12T12:00:00Z"}
            ["t4", "c1"]
            {"ticket_id": "t5", "customer_id": "c1", "opened_at": "2026-03-12T10:00:00+02:00", "first_response_at": "2026-03-12T18:00:00+02:00", "priority": 2}
            {"ticket_id": "t6", "customer_id": "c1", "opened_at": "2026-03-13T10:00:00Z", "first_response_at": "2026-03-13T09:00:00Z"}
            """ + "\n"
        try f.writeSample(tickets: tickets)
        try f.writePipeline()
        let r = try f.run()
        XCTAssertEqual(r.status, 0, r.transcript)
        let o = try f.outputs(Sample.asOf)
        let rejects = try o.rejects(in: "tickets-2026-03.jsonl")
        XCTAssertEqual(rejects.count, 4, "\(rejects)")
        assertReject(
            rejects[0], file: "tickets-2026-03.jsonl", line: 2, column: nil, code: "bad_json",
            reasonContains: ["not a JSON object"])
        XCTAssertEqual(JSON.int(rejects[0]["byte_offset"]), byteOffset(ofLine: 2, in: tickets))
        assertReject(
            rejects[1], file: "tickets-2026-03.jsonl", line: 4, column: "opened_at", code: "missing_value",
            reasonContains: ["no key \"opened_at\""])
        assertReject(
            rejects[2], file: "tickets-2026-03.jsonl", line: 5, column: nil, code: "bad_json",
            reasonContains: ["one JSON object per line"])
        assertReject(
            rejects[3], file: "tickets-2026-03.jsonl", line: 7, column: "first_response_at", code: "bad_value",
            reasonContains: ["before opened_at"])
        let input = try o.input("tickets-2026-03.jsonl")
        XCTAssertEqual(JSON.int(input?["rows_read"]), 6, "the blank line is not a row")
        XCTAssertEqual(JSON.int(input?["rows_accepted"]), 2)
        let km = try o.score("c1")?["key_metrics"] as? [String: Any]
        XCTAssertEqual(JSON.int(km?["support_tickets_30d"]), 2, "t1 and t5")
        XCTAssertEqual(JSON.double(km?["avg_first_response_hours"]), 6, "(4 h + 8 h) / 2")
        try assertNothingLost(o)
    }

    func testJSONLLineWithInvalidUTF8() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        var bytes = Array(Sample.ticketsJSONL.utf8)
        bytes += Array(
            "{\"ticket_id\": \"t9\", \"customer_id\": \"c1\", \"opened_at\": \"2026-03-10T10:00:00Z\", \"status\": \""
                .utf8)
        bytes += [0xC3, 0x28] + Array("\"}\n".utf8)
        try f.write("tickets-2026-03.jsonl", bytes: bytes)
        try f.writePipeline()
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        let rejects = try o.rejects
        XCTAssertEqual(rejects.count, 1)
        assertReject(rejects.first, file: "tickets-2026-03.jsonl", line: 3, column: nil, code: "invalid_utf8")
        try assertNothingLost(o)
    }

    func testGzippedJSONLIsRead() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.remove("tickets-2026-03.jsonl")
        try f.writeGzip("tickets-2026-03.jsonl.gz", members: [Sample.ticketsJSONL])
        try f.writePipeline(maxRejectRatio: 0)
        XCTAssertEqual(try f.run().status, 0)
        let o = try f.outputs(Sample.asOf)
        XCTAssertEqual(JSON.int(try o.input("tickets-2026-03.jsonl.gz")?["rows_accepted"]), 2)
        try assertSameScores(o, try baseline())
    }

    func testExtraColumnsAndAnyColumnOrderAreAccepted() throws {
        let f = try ExportsFolder()
        var text = "note,event_type,occurred_at,user_id,customer_id,feature,duration_s\n"
        for row in Sample.activityRows {
            let c = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            text += "\"x, y\",\(c[3]),\(c[2]),\(c[1]),\(c[0]),\(c[4]),\(c[5])\n"
        }
        try f.writeSample(activity: text)
        try f.writePipeline(maxRejectRatio: 0)
        XCTAssertEqual(try f.run().status, 0)
        try assertSameScores(try f.outputs(Sample.asOf), try baseline())
    }
}
