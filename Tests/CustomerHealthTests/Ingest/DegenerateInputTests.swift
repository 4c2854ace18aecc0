import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Issue 12, task 4: degenerate but legal inputs are read right (their speed
/// is measured by bench/degenerate_inputs.sh, not here): long runs of blank
/// lines of every line end, lines of spaces, rows of very many empty fields,
/// quoted fields holding many line breaks.
final class DegenerateInputTests: XCTestCase {
    static let header = "customer_id,user_id,occurred_at,event_type,feature,duration_s"
    static let good = "c1,u1,2026-03-31T09:00:00Z,login,,"
    static let bad = "c1,u1,2026-03-31T09:00:00Z,login"  // field_count

    private func read(_ bytes: [UInt8], gzip: Bool = true, maxRowBytes: Int = 1 << 20) throws -> ReaderFiles.Outcome {
        let f = try ExportsFolder()
        let name = gzip ? "activity.csv.gz" : "activity.csv"
        if gzip { try ReaderFiles.gzip([bytes], to: f.path(name)) } else { try f.write(name, bytes: bytes) }
        return try ReaderFiles.read(
            f.path(name), settings: ExportSettings(kind: .activity), maxRowBytes: maxRowBytes, genericCSV: false)
    }

    func testLongRunsOfBlankLinesKeepLinesAndOffsets() throws {
        for newline in ["\n", "\r\n", "\r"] {
            let blanks = 2_000_000
            var bytes = Array((Self.header + newline + Self.good + newline).utf8)
            bytes += Array(repeating: Array(newline.utf8), count: blanks).flatMap { $0 }
            let badOffset = bytes.count
            bytes += Array((Self.bad + newline + Self.good + newline).utf8)
            for gzip in [false, true] {
                let r = try read(bytes, gzip: gzip)
                XCTAssertEqual(r.lines, [2, blanks + 4], newline.debugDescription)
                XCTAssertEqual(r.report.rejects.map(\.line), [blanks + 3], newline.debugDescription)
                XCTAssertEqual(r.report.rejects.map(\.byteOffset), [badOffset], newline.debugDescription)
            }
        }
    }

    func testLinesOfSpacesAreBlankWhateverTheirNumber() throws {
        var text = Self.header + "\n"
        text += String(repeating: "  \t \n", count: 300_000)  // 1.5 MB of blank lines: more than max_row_bytes
        text += Self.bad + "\n" + Self.good + "\n"
        let r = try read(Array(text.utf8))
        XCTAssertEqual(r.report.rejects.map { "\($0.code)@\($0.line)" }, ["field_count@300002"])
        XCTAssertEqual(r.lines, [300_003])
    }

    func testARowOfVeryManyEmptyFieldsIsOneReject() throws {
        let wide = String(repeating: ",", count: 500_000)
        let text = Self.header + "\n" + wide + "\n" + wide + "\r\n" + Self.good + "\n"
        let r = try read(Array(text.utf8))
        XCTAssertEqual(
            r.report.rejects.map { "\($0.code)@\($0.line):\($0.byteOffset)" },
            [
                "field_count@2:\(Self.header.utf8.count + 1)",
                "field_count@3:\(Self.header.utf8.count + 2 + wide.utf8.count)",
            ])
        XCTAssertEqual(r.report.rejects.first?.reason, "expected 6 fields as in the header, found 500001")
        XCTAssertEqual(r.lines, [4])
    }

    func testAQuotedFieldOfManyLineBreaksIsOneRow() throws {
        for newline in ["\n", "\r\n", "\r"] {
            let breaks = String(repeating: newline, count: 50_000)
            let text =
                Self.header + newline + "c1,u1,2026-03-31T09:00:00Z,feature_use,\"" + breaks + "\"," + newline
                + Self.bad + newline
            let r = try read(Array(text.utf8))
            XCTAssertEqual(r.rows.count, 1, newline.debugDescription)
            XCTAssertEqual(r.rows.first?[4], breaks, newline.debugDescription)
            XCTAssertEqual(r.lines, [2], newline.debugDescription)
            XCTAssertEqual(r.report.rejects.map(\.line), [50_003], newline.debugDescription)
        }
    }

    /// A quote never closed, then many bare line breaks, a bad row and a good
    /// one: the quote's line is rejected (at the end of the file, or once the
    /// record passes max_row_bytes) and the lines after it are read again as
    /// lines of their own, each at its true line and offset.
    func testLineBreaksAfterAnUnclosedQuoteAreReadAgainAtTheirLines() throws {
        for newline in ["\n", "\r\n", "\r"] {
            for (breaks, maxRowBytes, code) in [(1_000, 1 << 20, "bad_quoting"), (3_000, 1024, "row_too_long")] {
                let head = Self.header + newline + "c1,u1,2026-03-31T09:00:00Z,feature_use,\"open," + newline
                let text = head + String(repeating: newline, count: breaks) + Self.bad + newline + Self.good + newline
                let r = try read(Array(text.utf8), maxRowBytes: maxRowBytes)
                let badOffset = head.utf8.count + breaks * newline.utf8.count
                XCTAssertEqual(
                    r.report.rejects.map { "\($0.code)@\($0.line):\($0.byteOffset)" },
                    [
                        "\(code)@2:\(Self.header.utf8.count + newline.utf8.count)",
                        "field_count@\(breaks + 3):\(badOffset)",
                    ],
                    "\(newline.debugDescription), \(code)")
                XCTAssertEqual(r.lines, [breaks + 4], "\(newline.debugDescription), \(code)")
            }
        }
    }

    /// A quote never closed, then a great many short lines: one reject at the
    /// quote, and every later line read again as rows of its own.
    func testAnUnclosedQuoteBeforeManyLines() throws {
        var text = Self.header + "\n" + "c1,u1,2026-03-31T09:00:00Z,feature_use,\"open,\n"
        text += String(repeating: Self.good + "\n", count: 40_000)
        let r = try read(Array(text.utf8), maxRowBytes: 64 << 10)
        XCTAssertEqual(r.report.rejects.map { "\($0.code)@\($0.line)" }, ["row_too_long@2"])
        XCTAssertEqual(r.rows.count, 40_000)
        XCTAssertEqual(r.lines.first, 3)
        XCTAssertEqual(r.lines.last, 40_002)
    }
}
