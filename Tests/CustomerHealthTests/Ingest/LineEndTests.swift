import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Issue 12, tasks 2 and 3: lines end in LF, CRLF or CR (old Mac exports), and
/// every reject names its true line and byte offset whichever they use; a
/// header with a stray quote is reported as itself, with the quote's position.
final class LineEndTests: XCTestCase {
    static let header = "customer_id,user_id,occurred_at,event_type,feature,duration_s"

    /// Activity rows: good ones, and at known places a row with a wrong field
    /// count, one with a stray quote, and one the handler rejects ("!").
    static let rows = [
        "c1,u1,2026-03-31T09:00:00Z,login,,",
        "c1,u2,2026-03-30T10:00:00Z,feature_use,reports,30",
        "c2,v1,2026-03-20T08:00:00Z,login",  // field_count
        "c2,v1,\"2026-03-20T08:05:00Z\",work_order_completed,,",
        "c3,w1,2026-02-01T08:00:00Z,log\"in,,",  // bad_quoting
        "c3,w2,2026-03-31T23:59:59Z,dashboard_view,\"a,\"\"b\"\"\",",
        "!c4,x1,2026-03-01T12:00:00Z,login,,",  // handler reject
        "c4,x2,2026-03-02T12:00:00Z,login,,",
    ]

    private func text(_ newline: String, blankLinesEvery: Int = 0) -> String {
        var out = Self.header + newline
        for (i, row) in Self.rows.enumerated() {
            out += row + newline
            if blankLinesEvery > 0 && i % blankLinesEvery == 0 { out += newline + "  \t " + newline }
        }
        return out
    }

    /// Checks every reject and every accepted row against the lines of `bytes`.
    private func assertTruePositions(
        _ bytes: [UInt8], gzip: Bool = false, maxRowBytes: Int = 1 << 20, _ label: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let f = try ExportsFolder()
        let name = gzip ? "activity.csv.gz" : "activity.csv"
        if gzip { try ReaderFiles.gzip([bytes], to: f.path(name)) } else { try f.write(name, bytes: bytes) }
        let out = try ReaderFiles.read(
            f.path(name), settings: ExportSettings(kind: .activity), maxRowBytes: maxRowBytes, genericCSV: false)
        let starts = physicalLineStarts(bytes)
        // Expected: the line where each row's text starts.
        let text = String(decoding: bytes, as: UTF8.self)
        func position(of row: String) -> (line: Int, offset: Int) {
            let needle = Array(row.utf8)
            for (i, s) in starts.enumerated()
            where s + needle.count <= bytes.count && Array(bytes[s..<(s + needle.count)]) == needle {
                return (i + 1, s)
            }
            XCTFail("\(label): row \(row) not found in \(text.debugDescription)", file: file, line: line)
            return (-1, -1)
        }
        let expectedRejects = [
            (Self.rows[2], "field_count"), (Self.rows[4], "bad_quoting"), (Self.rows[6], "bad_value"),
        ]
        XCTAssertEqual(
            out.report.rejects.count, expectedRejects.count, "\(label): \(out.report.rejects)", file: file, line: line)
        for (reject, (row, code)) in zip(out.report.rejects, expectedRejects) {
            let p = position(of: row)
            XCTAssertEqual(reject.code, code, label, file: file, line: line)
            XCTAssertEqual(reject.line, p.line, "\(label): line of \(code)", file: file, line: line)
            XCTAssertEqual(reject.byteOffset, p.offset, "\(label): byte offset of \(code)", file: file, line: line)
            XCTAssertEqual(reject.raw, row, "\(label): raw of \(code)", file: file, line: line)
        }
        let good = [0, 1, 3, 5, 7].map { Self.rows[$0] }
        XCTAssertEqual(
            out.lines, good.map { position(of: $0).line }, "\(label): lines of accepted rows", file: file, line: line)
        XCTAssertEqual(out.rows.map { $0[0] }, ["c1", "c1", "c2", "c3", "c4"], label, file: file, line: line)
        XCTAssertEqual(out.rows[3][4], "a,\"b\"", label, file: file, line: line)
        XCTAssertEqual(out.report.rowsRead, Self.rows.count, label, file: file, line: line)
    }

    func testRejectsNameTheTrueLineAndOffsetForLFCRLFAndCR() throws {
        for (newline, label) in [("\n", "LF"), ("\r\n", "CRLF"), ("\r", "CR")] {
            for gzip in [false, true] {
                try assertTruePositions(Array(text(newline).utf8), gzip: gzip, "\(label)\(gzip ? " gzip" : "")")
                try assertTruePositions(
                    Array(text(newline, blankLinesEvery: 2).utf8), gzip: gzip,
                    "\(label) with blank lines\(gzip ? " gzip" : "")")
                try assertTruePositions(
                    [0xEF, 0xBB, 0xBF] + Array(text(newline).utf8), gzip: gzip,
                    "\(label) with BOM\(gzip ? " gzip" : "")")
            }
        }
    }

    func testMixedLineEndsCountEachLineOnce() throws {
        var out = Self.header + "\r\n"
        let ends = ["\n", "\r", "\r\n"]
        for (i, row) in Self.rows.enumerated() { out += row + ends[i % 3] + (i % 2 == 0 ? ends[(i + 1) % 3] : "") }
        try assertTruePositions(Array(out.utf8), "mixed")
    }

    /// Lines of spaces and tabs are blank: they neither shift the line of the
    /// next record nor add up to a record longer than max_row_bytes.
    func testWhitespaceOnlyLinesAreBlank() throws {
        var out = Self.header + "\n"
        for (i, row) in Self.rows.enumerated() {
            out += row + "\n"
            if i == 1 { out += String(repeating: "   \t  \n", count: 600) }  // 4.2 KB of blank lines
        }
        try assertTruePositions(Array(out.utf8), maxRowBytes: 1024, "whitespace lines")
    }

    /// An old Mac export over 1 MiB: every row is read (it used to be one
    /// overlong "line", then "has no header row").
    func testCROnlyFileOverOneMiBIsRead() throws {
        var out = Self.header + "\r"
        for i in 0..<30_000 { out += "c\(i % 7),u\(i),2026-03-01T10:00:00Z,login,,\r" }
        out += "c1,u1,2026-03-01T10:00:00Z,login\r"  // field_count on the last line
        XCTAssertGreaterThan(out.utf8.count, 1 << 20)
        for gzip in [false, true] {
            let f = try ExportsFolder()
            let name = gzip ? "activity.csv.gz" : "activity.csv"
            if gzip { try ReaderFiles.gzip([Array(out.utf8)], to: f.path(name)) } else { try f.write(name, out) }
            let r = try ReaderFiles.read(f.path(name), settings: ExportSettings(kind: .activity), genericCSV: false)
            XCTAssertEqual(r.report.rowsRead, 30_001)
            XCTAssertEqual(r.rows.count, 30_000)
            XCTAssertEqual(r.report.rejects.map(\.line), [30_002])
            XCTAssertEqual(
                r.report.rejects.first?.byteOffset, out.utf8.count - "c1,u1,2026-03-01T10:00:00Z,login\r".utf8.count)
        }
    }

    /// CRLF split between two gzip members (or read blocks) is one line end.
    func testCRLFSplitBetweenMembersIsOneLineEnd() throws {
        let f = try ExportsFolder()
        let a = Array((Self.header + "\r\nc1,u1,2026-03-31T09:00:00Z,login,,\r").utf8)
        let b = Array("\nc1,u1,2026-03-31T09:00:00Z,login\r\n".utf8)
        try ReaderFiles.gzip([a, b], to: f.path("activity.csv.gz"))
        let r = try ReaderFiles.read(
            f.path("activity.csv.gz"), settings: ExportSettings(kind: .activity), genericCSV: false)
        XCTAssertEqual(r.lines, [2])
        XCTAssertEqual(r.report.rejects.map(\.line), [3])
        XCTAssertEqual(r.report.rejects.map(\.byteOffset), [a.count + 1])
    }

    /// A byte-order mark split between gzip members is still a byte-order mark.
    func testBOMSplitBetweenMembersIsSkipped() throws {
        let body = Array(Sample.activityCSV.utf8)
        for cut in 1...3 {
            let f = try ExportsFolder()
            let all: [UInt8] = [0xEF, 0xBB, 0xBF] + body
            try ReaderFiles.gzip([Array(all[..<cut]), Array(all[cut...])], to: f.path("activity.csv.gz"))
            let r = try ReaderFiles.read(
                f.path("activity.csv.gz"), settings: ExportSettings(kind: .activity), genericCSV: false)
            XCTAssertEqual(r.rows.count, Sample.activityRows.count, "cut at \(cut)")
            XCTAssertEqual(r.lines.first, 2, "cut at \(cut)")
        }
    }

    // MARK: Watch mode: a growing plain file

    private func appendBytes(_ text: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }

    /// Reads whole lines on from `resume`, as watch mode does.
    private func readOn(_ path: String, from resume: InputFileReader.Resume?) throws -> (
        ReaderFiles.Outcome, InputFileReader.Resume
    ) {
        let handler = CapturingHandler()
        let reader = try InputFileReader(
            path: path, settings: ExportSettings(kind: .activity), handler: handler, maxRowBytes: 1 << 20,
            includeRaw: true,
            mode: .watch(resume: resume, stopAt: nil))
        let report = try reader.read()
        return (ReaderFiles.Outcome(report: report, rows: handler.rows, lines: handler.lines), reader.consumed)
    }

    /// A CR at the end of what is there may be the first half of a CRLF: the
    /// line is taken on the next read, at its true line, for CR and CRLF files.
    func testGrowingFilesWithCRAndCRLFResumeAtTrueLines() throws {
        let rows = Self.rows.filter {
            !$0.contains("\"") && !$0.hasPrefix("!")
                && $0.split(separator: ",", omittingEmptySubsequences: false).count == 6
        }
        XCTAssertGreaterThanOrEqual(rows.count, 3)
        for newline in ["\r", "\r\n"] {
            // The part of a line end after its CR ("\r\n" is one Character: no dropFirst()).
            let lf = newline == "\r\n" ? "\n" : ""
            let f = try ExportsFolder()
            let path = f.path("activity.csv")
            // The header, its CR at the very end: nothing is taken yet.
            try appendBytes(Self.header + "\r", to: path)
            var (out, next) = try readOn(path, from: nil)
            XCTAssertEqual(out.rows.count, 0)
            XCTAssertEqual(next, .init(offset: 0, linesBefore: 0), newline.debugDescription)
            // The header complete, a row complete, the next row cut after its CR.
            try appendBytes(lf + rows[0] + newline + rows[1] + "\r", to: path)
            (out, next) = try readOn(path, from: next)
            XCTAssertEqual(out.lines, [2], newline.debugDescription)
            XCTAssertEqual(next.linesBefore, 2, newline.debugDescription)
            XCTAssertEqual(
                next.offset, (Self.header + newline + rows[0] + newline).utf8.count, newline.debugDescription)
            // The rest: the LF of the CRLF (if any), a row with too few fields, a good row.
            try appendBytes(lf + "c1,u9,2026-03-01T10:00:00Z,login" + newline + rows[2] + newline, to: path)
            (out, next) = try readOn(path, from: next)
            // A CR file's last line waits for the byte after its CR; a CRLF file's is complete.
            XCTAssertEqual(out.lines, newline == "\r" ? [3] : [3, 5], newline.debugDescription)
            XCTAssertEqual(out.report.rejects.map(\.line), [4], newline.debugDescription)
            XCTAssertEqual(
                out.report.rejects.map(\.byteOffset),
                [(Self.header + newline + rows[0] + newline + rows[1] + newline).utf8.count],
                newline.debugDescription)
            XCTAssertEqual(next.linesBefore, newline == "\r" ? 4 : 5, newline.debugDescription)
            if newline == "\r" {
                try appendBytes("c1,u10,2026-03-01T10:00:00Z,login,,\r", to: path)
                (out, next) = try readOn(path, from: next)
                XCTAssertEqual(out.lines, [5], "the row of line 5 is complete; line 6 waits for the byte after its CR")
                XCTAssertEqual(next.linesBefore, 5)
            }
        }
    }

    // MARK: The header

    /// Reads `text` as an activity file and returns the error message.
    private func headerError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let f = try ExportsFolder()
        try f.write("activity.csv", bytes: bytes)
        let reader = try InputFileReader(
            path: f.path("activity.csv"), settings: ExportSettings(kind: .activity),
            handler: CountingHandler(), maxRowBytes: 1 << 20, includeRaw: true)
        do {
            _ = try reader.read()
            XCTFail("the file was read", file: file, line: line)
            return ""
        } catch let error as CustomerHealthError {
            guard case .input(let name, let message) = error else {
                XCTFail("\(error)", file: file, line: line)
                return ""
            }
            XCTAssertEqual(name, "activity.csv", file: file, line: line)
            return message
        }
    }

    func testStrayQuoteInTheHeaderShowsTheHeaderAndThePosition() throws {
        let header = "customer_id,user_id,occ\"urred_at,event_type,feature,duration_s"
        let message = try headerError(Array((header + "\n" + Sample.activityRows.joined(separator: "\n") + "\n").utf8))
        XCTAssertTrue(message.contains("line 1"), message)
        XCTAssertTrue(message.contains(header), "the real header line: \(message)")
        XCTAssertFalse(message.contains("c1,u1"), "not the next line: \(message)")
        XCTAssertTrue(message.contains("column 24"), "the quote is the 24th character: \(message)")
        XCTAssertTrue(message.contains("byte offset 23"), message)
    }

    func testUnclosedQuoteInTheHeaderPointsAtTheOpeningQuote() throws {
        let header = "customer_id,\"user_id,occurred_at,event_type,feature,duration_s"
        // A later row's quotes end the swallowed "record" with a parse error ...
        let closedLater =
            header + "\n" + Sample.activityRows[0] + "\nc2,\"v1\",2026-03-20T08:00:00Z,login,,\n"
            + Sample.activityRows[2] + "\n"
        // ... or none does, and the file ends inside the quotes.
        let neverClosed = header + "\n" + Sample.activityRows.joined(separator: "\n") + "\n"
        for (label, text) in [("closed later", closedLater), ("never closed", neverClosed)] {
            for bom in [false, true] {
                let bytes = (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(text.utf8)
                let message = try headerError(bytes)
                XCTAssertTrue(message.contains("line 1"), "\(label): \(message)")
                XCTAssertTrue(message.contains(header), "\(label): the real header line: \(message)")
                XCTAssertFalse(message.contains("c1,u1"), "\(label): not the next line: \(message)")
                XCTAssertTrue(
                    message.contains("column 13"), "\(label): the opening quote is the 13th character: \(message)")
                XCTAssertTrue(message.contains("byte offset \(bom ? 15 : 12)"), "\(label): \(message)")
            }
        }
    }

    func testHeaderLongerThanTheLimitIsNotReplacedByTheNextLine() throws {
        let header = Self.header + "," + String(repeating: "x", count: 2000)
        let f = try ExportsFolder()
        try f.write("activity.csv", header + "\n" + Sample.activityRows.joined(separator: "\n") + "\n")
        let reader = try InputFileReader(
            path: f.path("activity.csv"), settings: ExportSettings(kind: .activity),
            handler: CountingHandler(), maxRowBytes: 1024, includeRaw: true)
        XCTAssertThrowsError(try reader.read()) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("line 1"), message)
            XCTAssertTrue(message.contains("longer than 1024 bytes"), message)
            XCTAssertFalse(message.contains("c1,u1"), "not the next line: \(message)")
        }
    }

}
