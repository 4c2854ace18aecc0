import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

// Helpers of the reader tests (LineEndTests, ReaderPropertyTests, DegenerateInputTests).

/// A deterministic random source (SplitMix64): the same seed, the same cases.
struct ReaderTestRandom: RandomNumberGenerator {
    private var source: SeededRandom
    init(seed: UInt64) { source = SeededRandom(seed: seed) }
    mutating func next() -> UInt64 { source.next() }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
}

/// Byte offsets at which each physical line starts, a line ending at LF, at
/// CRLF (one line end) or at a CR not followed by LF.
/// A byte-order mark at the start belongs to no line: the first starts after it.
func physicalLineStarts(_ bytes: [UInt8]) -> [Int] {
    let bom = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    var starts = [bom]
    var i = bom
    while i < bytes.count {
        if bytes[i] == 0x0A {
            starts.append(i + 1)
        } else if bytes[i] == 0x0D {
            if i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
            starts.append(i + 1)
        }
        i += 1
    }
    return starts
}

/// 1-based line number of the physical line starting at `offset`.
func lineNumber(startingAt offset: Int, in starts: [Int]) -> Int? {
    starts.firstIndex(of: offset).map { $0 + 1 }
}

/// Keeps every row it is handed (as text, one string per field of the row
/// view's column map) with its line; rejects rows whose first field starts
/// with "!" (so that a test can check a handler reject's line and offset).
final class CapturingHandler: RowHandler {
    var rows: [[String]] = []
    var lines: [Int] = []
    func handle(_ row: RowView, line: Int) -> RowRejection? {
        var fields: [String] = []
        for c in 0..<row.columnMap.count {
            fields.append(String(decoding: row.field(c), as: UTF8.self))
        }
        if fields.first?.hasPrefix("!") == true {
            return RowRejection(column: nil, code: .badValue, message: "marked bad by the test")
        }
        rows.append(fields)
        lines.append(line)
        return nil
    }
}

enum ReaderFiles {
    /// A gzip file of one member per part (empty parts are left out).
    static func gzip(_ parts: [[UInt8]], to path: String) throws {
        let writer = try GzipFileWriter(path: path, level: 1)
        var first = true
        for part in parts where !part.isEmpty {
            if !first { try writer.startNewMember() }
            try writer.write(bytes: part)
            first = false
        }
        try writer.close()
    }

    struct Outcome {
        var report: FileReport
        var rows: [[String]]
        var lines: [Int]
    }

    /// Reads one file with `settings` (CSV: any header, columns in header order).
    static func read(
        _ path: String, settings: ExportSettings = ExportSettings(kind: .savings), maxRowBytes: Int = 1 << 20,
        genericCSV: Bool = true
    ) throws -> Outcome {
        let handler = CapturingHandler()
        let reader: InputFileReader
        if genericCSV && path.lowercased().contains(".csv") {
            reader = try InputFileReader(
                path: path, settings: settings, handler: handler, maxRowBytes: maxRowBytes, includeRaw: true,
                mode: .anyColumns)
        } else {
            reader = try InputFileReader(
                path: path, settings: settings, handler: handler, maxRowBytes: maxRowBytes, includeRaw: true)
        }
        let report = try reader.read()
        return Outcome(report: report, rows: handler.rows, lines: handler.lines)
    }
}

/// Counts the rows a reader hands over, accepting all of them.
final class CountingHandler: RowHandler {
    var rows = 0
    func handle(_ row: RowView, line: Int) -> RowRejection? {
        rows += 1
        return nil
    }
}
