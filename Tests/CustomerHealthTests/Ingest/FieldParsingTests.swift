import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The field parsers of the data contract, on raw bytes.
final class FieldParsingTests: XCTestCase {
    private func iso(_ s: String) throws -> Int64 {
        var s = s
        return try s.withUTF8 { buffer throws(FieldError) in try FieldParser.iso8601(UnsafeRawBufferPointer(buffer)) }
    }

    private func isoFails(_ s: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try iso(s), "\"\(s)\" should not parse", file: file, line: line)
    }

    private func decimal(_ s: String, scale: Int) throws -> Int64 {
        var s = s
        return try s.withUTF8 { buffer throws(FieldError) in
            try FieldParser.decimal(UnsafeRawBufferPointer(buffer), scale: scale)
        }
    }

    private func patterned(_ s: String, _ pattern: String) throws -> Int64 {
        let tokens = try XCTUnwrap(TimestampFormat.compile(pattern))
        var s = s
        return try s.withUTF8 { buffer throws(FieldError) in
            try FieldParser.patterned(UnsafeRawBufferPointer(buffer), tokens: tokens)
        }
    }

    /// Seconds since the epoch, computed independently with Foundation.
    private func epoch(_ y: Int, _ mo: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0, _ s: Int = 0) -> Int64 {
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (y, mo, d, h, mi, s)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return Int64(cal.date(from: c)!.timeIntervalSince1970)
    }

    func testISO8601WithZ() throws {
        XCTAssertEqual(try iso("2026-11-23T10:15:00Z"), epoch(2026, 11, 23, 10, 15))
        XCTAssertEqual(try iso("2026-11-23T10:15Z"), epoch(2026, 11, 23, 10, 15))
        XCTAssertEqual(try iso("2026-11-23T10:15:59z"), epoch(2026, 11, 23, 10, 15, 59))
        XCTAssertEqual(try iso("2026-11-23 10:15:00"), epoch(2026, 11, 23, 10, 15), "space instead of T, no zone: UTC")
    }

    func testISO8601WithOffsets() throws {
        XCTAssertEqual(try iso("2026-11-23T10:15:00+02:00"), epoch(2026, 11, 23, 8, 15))
        XCTAssertEqual(try iso("2026-11-23T10:15:00-0500"), epoch(2026, 11, 23, 15, 15))
        XCTAssertEqual(try iso("2026-11-23T10:15:00+05"), epoch(2026, 11, 23, 5, 15))
        XCTAssertEqual(try iso("2026-11-23T23:30:00-01:00"), epoch(2026, 11, 24, 0, 30), "an offset can move the day")
        XCTAssertEqual(try iso("2026-01-01T00:30:00+01:00"), epoch(2025, 12, 31, 23, 30), "and the year")
    }

    func testISO8601WithFractions() throws {
        XCTAssertEqual(try iso("2026-11-23T10:15:00.123Z"), epoch(2026, 11, 23, 10, 15))
        XCTAssertEqual(try iso("2026-11-23T10:15:00,5+01:00"), epoch(2026, 11, 23, 9, 15))
        XCTAssertEqual(
            try iso("2026-11-23T10:15:59.999999999Z"), epoch(2026, 11, 23, 10, 15, 59),
            "fractions never round into the next second")
        isoFails("2026-11-23T10:15:00.Z")
    }

    func testPlainDates() throws {
        XCTAssertEqual(try iso("2026-11-23"), epoch(2026, 11, 23))
        XCTAssertEqual(try iso("2024-02-29"), epoch(2024, 2, 29))
        XCTAssertEqual(try iso("2000-02-29"), epoch(2000, 2, 29))
        XCTAssertEqual(try iso("1970-01-01"), 0)
    }

    func testInvalidDatesAndTimes() {
        for bad in [
            "2026-13-01", "2026-00-10", "2026-02-30", "2025-02-29", "1900-02-29", "2026-04-31", "2026-11-00",
            "26-11-23", "2026/11/23", "2026-11-2", "2026-1-23", "", "yesterday", "2026-11-23T", "2026-11-23T25:00:00Z",
            "2026-11-23T10:60:00Z", "2026-11-23T10:15:00+25:00", "2026-11-23T10:15:00 UTC", "2026-11-23T10:15:00Zjunk",
            "2026-11-23X10:15:00Z", "２０２６-11-23",
        ] {
            isoFails(bad)
        }
    }

    func testFieldReaderRejectsYearsOutsideTheStoredRange() throws {
        let f = try ExportsFolder()
        try f.writeSample(
            activity: Sample.csv(
                Sample.activityHeader,
                Sample.activityRows + ["c1,u1,1969-12-31T10:00:00Z,login,,", "c1,u1,2200-01-01,login,,"]))
        try f.writePipeline()
        let data = try InProcess.ingest(f)
        let rejects = data.files.flatMap(\.rejects)
        XCTAssertEqual(rejects.map(\.line), [10, 11])
        XCTAssertTrue(
            rejects.allSatisfy { $0.reason.contains("outside the supported range") }, "\(rejects.map(\.reason))")
    }

    func testTimestampPatterns() throws {
        XCTAssertEqual(try patterned("23/11/2026 10:15", "dd/MM/yyyy HH:mm"), epoch(2026, 11, 23, 10, 15))
        XCTAssertEqual(try patterned("2026.11.23", "yyyy.MM.dd"), epoch(2026, 11, 23))
        XCTAssertEqual(try patterned("20261123101559", "yyyyMMddHHmmss"), epoch(2026, 11, 23, 10, 15, 59))
        XCTAssertThrowsError(try patterned("31/02/2026 10:15", "dd/MM/yyyy HH:mm"))
        XCTAssertThrowsError(try patterned("23/11/2026 24:00", "dd/MM/yyyy HH:mm"))
        XCTAssertThrowsError(try patterned("23/11/2026", "dd/MM/yyyy HH:mm"))
        XCTAssertThrowsError(try patterned("23-11-2026 10:15", "dd/MM/yyyy HH:mm"))
        XCTAssertThrowsError(try patterned("23/11/2026 10:15:00", "dd/MM/yyyy HH:mm"))
        XCTAssertNil(TimestampFormat.compile("dd/MMM/yyyy"), "unknown pattern letters are refused")
        XCTAssertNil(TimestampFormat.compile("HH:mm"), "a pattern needs a year, month and day")
    }

    func testDecimalsAreExact() throws {
        XCTAssertEqual(try decimal("0.1", scale: 4), 1000)
        XCTAssertEqual(try decimal("12000.50", scale: 4), 120_005_000)
        XCTAssertEqual(try decimal("-12.5", scale: 4), -125_000)
        XCTAssertEqual(try decimal("+7", scale: 2), 700)
        XCTAssertEqual(try decimal(" 99.95 ", scale: 3), 99_950, "spaces around the number are padding")
        XCTAssertEqual(try decimal("12.", scale: 2), 1200)
        XCTAssertEqual(try decimal(".5", scale: 2), 50)
        XCTAssertEqual(try decimal("99999999999999.9999", scale: 4), 999_999_999_999_999_999)
        XCTAssertEqual(try decimal("1.23456", scale: 4), 12346, "half away from zero at the 5th decimal")
        XCTAssertEqual(try decimal("1.23454", scale: 4), 12345)
        XCTAssertEqual(try decimal("-1.23455", scale: 4), -12346)
        for bad in ["", " ", "-", ".", "1e5", "1,5", "12.5.3", "0x10", "NaN", "inf", "1 000", "--1", "123456789012345"]
        {
            XCTAssertThrowsError(try decimal(bad, scale: 4), "\"\(bad)\" should not parse")
        }
    }

    func testTenSavingsOfTenCentsAddUpToExactlyOne() throws {
        let f = try ExportsFolder()
        let rows = (1...10).map { "c2,2026-03-\(String(format: "%02d", $0)),0.1,energy" }
        try f.writeSample(savings: Sample.csv(Sample.savingsHeader, rows))
        try f.writePipeline()
        let data = try InProcess.ingest(f, threads: 2)
        let c2 = try XCTUnwrap(data.accounts.firstIndex { $0.customerID == "c2" })
        let features = FeatureCalculator(data: data, settings: ScoringSettings()).features(
            customer: c2, asOf: InProcess.day(Sample.asOf))
        XCTAssertEqual(
            features.costSavingsAchieved, 1.0, "0.1 added ten times in floating point would be 0.9999999999999999")
    }

    func testIntegersAcceptSpreadsheetWholeNumbers() throws {
        func integer(_ s: String) throws -> Int {
            var s = s
            return try s.withUTF8 { b throws(FieldError) in try FieldParser.integer(UnsafeRawBufferPointer(b)) }
        }
        XCTAssertEqual(try integer("12"), 12)
        XCTAssertEqual(try integer("12.0"), 12)
        XCTAssertThrowsError(try integer("12.5"))
        // Found by Fuzz/run.sh (fields): rounding took these for whole numbers.
        XCTAssertThrowsError(try integer(".99999"))
        XCTAssertThrowsError(try integer("12.00001"))
        XCTAssertEqual(try integer(" 7.000 "), 7)
        XCTAssertThrowsError(try integer("twelve"))
    }

    func testUTF8Validation() {
        func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { FieldParser.isValidUTF8($0) } }
        XCTAssertTrue(valid(Array("plain".utf8)))
        XCTAssertTrue(valid(Array("Zürich 東京 🙂".utf8)))
        XCTAssertFalse(valid([0xFF]))
        XCTAssertFalse(valid([0xC3, 0x28]))
        XCTAssertFalse(valid([0xE2, 0x82]), "truncated sequence")
        XCTAssertFalse(valid([0xC0, 0xAF]), "overlong encoding")
        XCTAssertFalse(valid([0xED, 0xA0, 0x80]), "UTF-16 surrogate")
    }
}
