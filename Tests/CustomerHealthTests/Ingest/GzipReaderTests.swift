import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The gzip reader in this process: a file cut at any byte or followed by
/// garbage is refused with the offset of the damage; the inflater counts
/// members and reports truncation.
final class GzipReaderTests: XCTestCase {
    func testGzipCutAnywhereIsRejected() throws {
        let f = try ExportsFolder()
        // Enough data for several deflate blocks and two members.
        var text = Sample.activityHeader + "\n"
        for i in 0..<5000 { text += "c\(i % 7),user\(i),2026-03-\(10 + i % 20)T10:\(10 + i % 50):00Z,api_call,,\(i)\n" }
        try f.writeGzip("activity.csv.gz", members: [text, "c1,u1,2026-03-31T10:00:00Z,login,,\n"])
        let whole = try f.bytes("activity.csv.gz")
        let cuts = [
            1, 2, 9, 10, 11, 100, whole.count / 3, whole.count / 2, whole.count - 40, whole.count - 8, whole.count - 4,
            whole.count - 1,
        ]
        for cut in cuts {
            try f.write("activity.csv.gz", bytes: Array(whole.prefix(cut)))
            let reader = try InputFileReader(
                path: f.path("activity.csv.gz"), settings: ExportSettings(kind: .activity),
                handler: CountingHandler(), maxRowBytes: 1 << 20, includeRaw: true)
            XCTAssertThrowsError(try reader.read(), "cut at \(cut) of \(whole.count) bytes") { error in
                guard case .input(let file, let message)? = error as? CustomerHealthError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(file, "activity.csv.gz")
                XCTAssertNotNil(byteOffset(inMessage: message), "cut at \(cut): \(message)")
                XCTAssertLessThanOrEqual(byteOffset(inMessage: message) ?? .max, cut, message)
            }
        }
        // The whole file reads.
        try f.write("activity.csv.gz", bytes: whole)
        let handler = CountingHandler()
        let report = try InputFileReader(
            path: f.path("activity.csv.gz"), settings: ExportSettings(kind: .activity),
            handler: handler, maxRowBytes: 1 << 20, includeRaw: true
        ).read()
        XCTAssertEqual(report.rowsRead, 5001)
        XCTAssertEqual(handler.rows, 5001)
    }

    func testTrailingGarbageAfterTheLastMemberIsCorruption() throws {
        let f = try ExportsFolder()
        try f.writeGzip("activity.csv.gz", Sample.activityCSV)
        try f.write("activity.csv.gz", bytes: try f.bytes("activity.csv.gz") + Array("not gzip".utf8))
        let reader = try InputFileReader(
            path: f.path("activity.csv.gz"), settings: ExportSettings(kind: .activity),
            handler: CountingHandler(), maxRowBytes: 1 << 20, includeRaw: true)
        XCTAssertThrowsError(try reader.read())
    }

    func testGzipInflaterReportsMembersAndTruncation() throws {
        let f = try ExportsFolder()
        try f.writeGzip("x.csv.gz", members: ["a\n", "b\n", "c\n"])
        let bytes = try f.bytes("x.csv.gz")
        let inflater = try GzipInflater()
        var out: [UInt8] = []
        try bytes.withUnsafeBytes { try inflater.feed($0) { out += $0 } }
        try inflater.finish()
        XCTAssertEqual(inflater.membersCompleted, 3)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "a\nb\nc\n")

        let cut = try GzipInflater()
        try Array(bytes.dropLast(3)).withUnsafeBytes { try cut.feed($0) { _ in } }
        XCTAssertThrowsError(try cut.finish()) { error in
            XCTAssertEqual((error as? GzipError)?.kind, .truncated)
            XCTAssertEqual((error as? GzipError)?.offset, bytes.count - 3)
        }
    }
}
