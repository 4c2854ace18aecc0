import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Watch mode reads a growing plain file on from where it stopped, whole
/// lines and records only, with the same line numbers and byte offsets a
/// whole-file read gives.
final class GrowingFileTests: XCTestCase {
    /// Keeps each row's line and user_id (contract column 1).
    final class Collector: RowHandler {
        var rows: [(line: Int, user: String)] = []
        func handle(_ row: RowView, line: Int) -> RowRejection? {
            rows.append((line, String(decoding: row.field(1), as: UTF8.self)))
            return nil
        }
    }

    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("growing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func append(_ name: String, _ text: String) throws {
        try appendText(text, to: dir.appendingPathComponent(name))
    }

    /// Reads on from `resume`; returns the rows, the report and where to resume next.
    private func readOn(_ name: String, kind: ExportKind = .activity, from resume: InputFileReader.Resume?)
        throws -> ([(line: Int, user: String)], FileReport, InputFileReader.Resume)
    {
        let handler = Collector()
        let reader = try InputFileReader(
            path: dir.appendingPathComponent(name).path, settings: ExportSettings(kind: kind),
            handler: handler, maxRowBytes: 200, includeRaw: true, mode: .watch(resume: resume, stopAt: nil))
        let report = try reader.read()
        return (handler.rows, report, reader.consumed)
    }

    func testCSVIsTakenInWholeLinesAndRecordsAcrossReads() throws {
        let header = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        // The header itself arrives in two writes.
        try append("activity.csv", "customer_id,user_id,occ")
        var (rows, _, next) = try readOn("activity.csv", from: nil)
        XCTAssertTrue(rows.isEmpty)
        XCTAssertEqual(next, .init(offset: 0, linesBefore: 0), "nothing taken before the header is complete")

        try append(
            "activity.csv",
            "urred_at,event_type,feature,duration_s\nc1,u1,2026-03-01T10:00:00Z,login,,\nc1,u2,2026-03-0")
        (rows, _, next) = try readOn("activity.csv", from: next)
        XCTAssertEqual(rows.map(\.user), ["u1"])
        XCTAssertEqual(rows.map(\.line), [2])
        XCTAssertEqual(next.offset, header.utf8.count + "c1,u1,2026-03-01T10:00:00Z,login,,\n".utf8.count)
        XCTAssertEqual(next.linesBefore, 2)

        // The rest of u2, then a record whose quoted field spans two lines, cut inside the quotes.
        try append(
            "activity.csv", "1T10:00:00Z,login,,\nc1,\"u3\nstill u3\",2026-03-01T10:00:00Z,login,,\nc1,\"u4\nhalf")
        var report: FileReport
        (rows, report, next) = try readOn("activity.csv", from: next)
        XCTAssertEqual(rows.map(\.user), ["u2", "u3\nstill u3"])
        XCTAssertEqual(rows.map(\.line), [3, 4])
        XCTAssertEqual(next.linesBefore, 5, "u4's record is open: it is read again from its first line")

        // A bad row after the resume point is rejected with its true line and byte offset.
        try append(
            "activity.csv",
            " of u4\",2026-03-01T10:00:00Z,login,,\nc1,u5,not-a-time,login,,\nc1,u6,2026-03-01T10:00:00Z,login,,\n")
        let before = next
        (rows, report, next) = try readOn("activity.csv", from: next)
        XCTAssertEqual(
            rows.map(\.user), ["u4\nhalf of u4", "u5", "u6"],
            "the collector sees every row; the real handlers reject u5")
        XCTAssertEqual(rows.map(\.line), [6, 8, 9])
        let whole = try String(contentsOf: dir.appendingPathComponent("activity.csv"), encoding: .utf8)
        XCTAssertEqual(before.offset, byteOffset(ofLine: 6, in: whole))
        XCTAssertEqual(next.offset, whole.utf8.count)
        XCTAssertEqual(next.linesBefore, 9)
        XCTAssertEqual(report.size, whole.utf8.count)
    }

    func testJSONLResumesAfterTheLastCompleteLine() throws {
        try append(
            "tickets.jsonl",
            "{\"ticket_id\": \"T1\", \"customer_id\": \"c1\", \"opened_at\": \"2026-03-01T10:00:00Z\"}\n{\"ticket_id\": \"T2\""
        )
        var (rows, _, next) = try readOn("tickets.jsonl", kind: .tickets, from: nil)
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(next.linesBefore, 1)
        try append("tickets.jsonl", ", \"customer_id\": \"c1\", \"opened_at\": \"2026-03-02T10:00:00Z\"}\n")
        (rows, _, next) = try readOn("tickets.jsonl", kind: .tickets, from: next)
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?.line, 2)
        XCTAssertEqual(next.linesBefore, 2)
    }

    func testAnOverlongLineIsRejectedOnceEvenWhenItArrivesInPieces() throws {
        try append(
            "activity.csv",
            "customer_id,user_id,occurred_at,event_type,feature,duration_s\nc1,u1,2026-03-01T10:00:00Z,login,,\nc1,"
                + String(repeating: "x", count: 300))
        var (rows, report, next) = try readOn("activity.csv", from: nil)
        XCTAssertEqual(rows.map(\.user), ["u1"])
        XCTAssertEqual(report.rejects.map(\.line), [3])
        XCTAssertTrue(next.insideRejectedLine)
        try append(
            "activity.csv",
            String(repeating: "y", count: 50) + ",2026-03-01T10:00:00Z,login,,\nc1,u9,2026-03-01T10:00:00Z,login,,\n")
        (rows, report, next) = try readOn("activity.csv", from: next)
        XCTAssertEqual(rows.map(\.user), ["u9"])
        XCTAssertEqual(rows.map(\.line), [4])
        XCTAssertTrue(report.rejects.isEmpty, "the long line's end is skipped, not rejected again")
        XCTAssertFalse(next.insideRejectedLine)
    }

    /// After a restart, the state is rebuilt from the bytes read before it:
    /// a read that stops where the earlier one stopped sees the same rows.
    func testAReadStopsWhereAnEarlierOneStopped() throws {
        try append(
            "activity.csv",
            "customer_id,user_id,occurred_at,event_type,feature,duration_s\nc1,u1,2026-03-01T10:00:00Z,login,,\nc1,u2,2026-03-01T10:00:00Z,login,,\n"
        )
        let (_, _, checkpoint) = try readOn("activity.csv", from: nil)
        try append("activity.csv", "c1,u3,2026-03-01T10:00:00Z,login,,\n")
        let handler = Collector()
        let reader = try InputFileReader(
            path: dir.appendingPathComponent("activity.csv").path, settings: ExportSettings(kind: .activity),
            handler: handler, maxRowBytes: 200, includeRaw: true, mode: .watch(resume: nil, stopAt: checkpoint.offset))
        _ = try reader.read()
        XCTAssertEqual(handler.rows.map(\.user), ["u1", "u2"])
        XCTAssertEqual(reader.consumed, checkpoint)
        let (rows, _, _) = try readOn("activity.csv", from: checkpoint)
        XCTAssertEqual(rows.map(\.user), ["u3"])
    }
}
