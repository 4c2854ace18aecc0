import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Issue 12, task 5: property tests of the CSV and JSONL readers. Random rows
/// (random quoting, embedded delimiters, quotes and line breaks, LF, CRLF and
/// CR line ends, mixed, a byte-order mark, blank and whitespace-only lines)
/// are written, read back and compared: the same rows, each at its true line,
/// and every reject at its true line and byte offset. Gzip in any number of
/// members, cut anywhere, changes nothing; nor does cutting the export into
/// two files at a row boundary (each CSV file has its own header, so a CSV
/// cannot be cut at an arbitrary byte into two files).
///
/// Seeded (SplitMix64): the same cases every run. A few seconds in all.
final class ReaderPropertyTests: XCTestCase {
    /// One folder per test, its file written over for each case.
    private var scratch: ExportsFolder!

    override func setUpWithError() throws { scratch = try ExportsFolder() }
    override func tearDown() { scratch = nil }

    // MARK: CSV cases

    struct Expected {
        var rows: [[String]] = []
        var rowOffsets: [Int] = []
        var rejects: [(offset: Int, code: String)] = []
    }

    struct Case {
        var bytes: [UInt8] = []
        var delimiter: UInt8 = UInt8(ascii: ",")
        var expected = Expected()
        /// Byte offsets where a record starts (for cutting into two files).
        var recordStarts: [Int] = []
        var headerEnd = 0
        var description: String { String(decoding: bytes, as: UTF8.self).debugDescription }
    }

    static let newlines = ["\n", "\r\n", "\r"]

    static func randomValue(_ rng: inout ReaderTestRandom, delimiter: Character, allowBreaks: Bool) -> String {
        let plain = Array("abcxyz019_-.:/")
        var special: [Character] = [" ", "\t", "\"", delimiter, "é", "日"]
        if allowBreaks { special += ["\n", "\r", "\r\n"] }
        var s = ""
        for _ in 0..<rng.int(0...8) {
            if allowBreaks && rng.chance(0.05) {
                // A run of bare line breaks inside the quoted field.
                for _ in 0..<rng.int(2...12) { s += rng.pick(["\n", "\r", "\r\n"]) }
            }
            s.append(rng.chance(0.25) ? rng.pick(special) : rng.pick(plain))
        }
        return s
    }

    /// One field as written: quoted when it must be (or at random), with
    /// spaces around it now and then (trimmed when unquoted, ignored around quotes).
    static func encode(_ value: String, _ rng: inout ReaderTestRandom, delimiter: Character) -> String {
        let mustQuote =
            value.contains(delimiter) || value.contains("\"") || value.contains("\n") || value.contains("\r")
            || value.first == " " || value.first == "\t" || value.last == " " || value.last == "\t"
        let pad = rng.chance(0.15) ? String(repeating: " ", count: rng.int(1...2)) : ""
        let padAfter = rng.chance(0.15) ? " " : ""
        if mustQuote || rng.chance(0.2) {
            return pad + "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" + padAfter
        }
        return pad + value + padAfter
    }

    static func makeCSV(seed: UInt64) -> Case {
        var rng = ReaderTestRandom(seed: seed)
        var c = Case()
        let delimiters: [Character] = [",", ";", "\t", "|"]
        let delimiter = rng.pick(delimiters)
        c.delimiter = delimiter.asciiValue!
        let columns = rng.int(2...5)
        let style = rng.int(0...3)  // LF, CRLF, CR, or mixed per line
        func newline(_ rng: inout ReaderTestRandom) -> String { style < 3 ? newlines[style] : rng.pick(newlines) }
        var out: [UInt8] = rng.chance(0.3) ? [0xEF, 0xBB, 0xBF] : []
        func put(_ s: String) { out += Array(s.utf8) }

        let header = (0..<columns).map { i -> String in
            let name = "col\(i)"
            return rng.chance(0.2) ? "\"\(name)\"" : name
        }
        put(header.joined(separator: String(delimiter)) + newline(&rng))
        c.headerEnd = out.count
        let rowCount = rng.int(0...25)
        for r in 0..<rowCount {
            if rng.chance(0.15) {
                // Blank lines, some of spaces (and tabs, unless tab is the delimiter).
                for _ in 0..<rng.int(1...3) {
                    let ws = rng.chance(0.5) ? "" : (delimiter == "\t" ? "  " : " \t ")
                    put(ws + newline(&rng))
                }
            }
            let start = out.count
            c.recordStarts.append(start)
            let last = r == rowCount - 1
            let end = last && rng.chance(0.3) ? "" : newline(&rng)
            let kind = rng.int(0...19)
            if kind == 0 {
                // A wrong field count.
                let n = rng.chance(0.5) ? columns + 1 : columns - 1
                let fields = (0..<n).map { i in i == 0 ? "x\(r)" : "y" }
                put(fields.joined(separator: String(delimiter)) + end)
                c.expected.rejects.append((start, "field_count"))
            } else if kind == 1 {
                // A stray quote inside an unquoted field (the row is on one line).
                var fields = (0..<columns).map { i in "v\(i)" }
                fields[rng.int(0...(columns - 1))] = "a\"b"
                put(fields.joined(separator: String(delimiter)) + end)
                c.expected.rejects.append((start, "bad_quoting"))
            } else {
                var values = (0..<columns).map { _ in
                    randomValue(&rng, delimiter: delimiter, allowBreaks: rng.chance(0.3))
                }
                if kind == 2 { values[0] = "!" + values[0] }
                // A record of one empty unquoted field would be a blank line; columns >= 2 rules that out.
                let text = values.map { encode($0, &rng, delimiter: delimiter) }.joined(separator: String(delimiter))
                put(text + end)
                if kind == 2 {
                    c.expected.rejects.append((start, "bad_value"))
                } else {
                    c.expected.rows.append(values)
                    c.expected.rowOffsets.append(start)
                }
            }
        }
        c.bytes = out
        return c
    }

    /// Reads `c` (written as `parts`, gzip members when `gzip`) and checks it.
    private func check(
        _ c: Case, parts: [[UInt8]], gzip: Bool, label: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let f = scratch!
        let name = gzip ? "table.csv.gz" : "table.csv"
        if gzip {
            try ReaderFiles.gzip(parts, to: f.path(name))
        } else {
            try f.write(name, bytes: parts.flatMap { $0 })
        }
        var settings = ExportSettings(kind: .savings)
        settings.delimiter = c.delimiter
        let out = try ReaderFiles.read(f.path(name), settings: settings)
        let starts = physicalLineStarts(c.bytes)
        let context = "\(label): \(c.description)"
        XCTAssertEqual(out.rows, c.expected.rows, context, file: file, line: line)
        XCTAssertEqual(
            out.lines, c.expected.rowOffsets.map { lineNumber(startingAt: $0, in: starts) ?? -1 }, "lines: \(context)",
            file: file, line: line)
        let got = out.report.rejects.map { "\($0.code)@\($0.line):\($0.byteOffset)" }
        let want = c.expected.rejects.map {
            "\($0.code)@\(lineNumber(startingAt: $0.offset, in: starts) ?? -1):\($0.offset)"
        }
        XCTAssertEqual(got, want, "rejects: \(context)", file: file, line: line)
        XCTAssertEqual(
            out.report.rowsRead, c.expected.rows.count + c.expected.rejects.count, context, file: file, line: line)
    }

    func testCSVRowsReadBackAsWritten() throws {
        for seed in 0..<400 {
            let c = Self.makeCSV(seed: UInt64(seed))
            try check(c, parts: [c.bytes], gzip: false, label: "seed \(seed), plain")
            // Gzip in 1 to 4 members cut at random bytes.
            var rng = ReaderTestRandom(seed: UInt64(seed) &+ 1_000_000)
            var cuts = (0..<rng.int(0...3)).map { _ in rng.int(0...c.bytes.count) }
            cuts.sort()
            var parts: [[UInt8]] = []
            var from = 0
            for cut in cuts + [c.bytes.count] {
                parts.append(Array(c.bytes[from..<cut]))
                from = cut
            }
            try check(c, parts: parts, gzip: true, label: "seed \(seed), gzip cut at \(cuts)")
        }
    }

    /// Two gzip members, cut at every byte of a few small files.
    func testCSVCutIntoTwoGzipMembersAtEveryByte() throws {
        var done = 0
        var seed: UInt64 = 5_000
        while done < 10 {
            seed += 1
            let c = Self.makeCSV(seed: seed)
            guard c.bytes.count <= 400, c.expected.rows.count >= 2 else { continue }
            done += 1
            for cut in 0...c.bytes.count {
                try check(
                    c, parts: [Array(c.bytes[..<cut]), Array(c.bytes[cut...])], gzip: true,
                    label: "seed \(seed), cut at \(cut)")
            }
        }
    }

    /// Cut into two files at a record boundary, the header repeated: the rows
    /// of the two files, in order, are the rows of the one.
    func testCSVCutIntoTwoFilesAtARowBoundary() throws {
        for seed in 0..<100 {
            let c = Self.makeCSV(seed: UInt64(seed) + 9_000)
            guard !c.recordStarts.isEmpty else { continue }
            var rng = ReaderTestRandom(seed: UInt64(seed))
            let cut = rng.pick(c.recordStarts)
            let header = Array(c.bytes[..<c.headerEnd])
            // The first part's last record must end in a line break to stay a record of its own.
            let f = try ExportsFolder()
            try f.write("a.csv", bytes: Array(c.bytes[..<cut]))
            try f.write("b.csv", bytes: header + Array(c.bytes[cut...]))
            var settings = ExportSettings(kind: .savings)
            settings.delimiter = c.delimiter
            let a = try ReaderFiles.read(f.path("a.csv"), settings: settings)
            let b = try ReaderFiles.read(f.path("b.csv"), settings: settings)
            XCTAssertEqual(a.rows + b.rows, c.expected.rows, "seed \(seed), cut at \(cut): \(c.description)")
            XCTAssertEqual(a.report.rejects.count + b.report.rejects.count, c.expected.rejects.count, "seed \(seed)")
        }
    }

    // MARK: JSONL cases

    static let jsonKeys = ["customer_id", "recorded_at", "amount", "category"]

    static func jsonString(_ s: String, _ rng: inout ReaderTestRandom) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || (u.value > 0x7F && u.value < 0xD800 && rng.chance(0.3)) {
                    out += String(format: "\\u%04x", u.value)
                } else if u == "/" && rng.chance(0.5) {
                    out += "\\/"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func makeJSONL(seed: UInt64) -> Case {
        var rng = ReaderTestRandom(seed: seed)
        var c = Case()
        let style = rng.int(0...3)
        func newline(_ rng: inout ReaderTestRandom) -> String { style < 3 ? newlines[style] : rng.pick(newlines) }
        var out: [UInt8] = rng.chance(0.3) ? [0xEF, 0xBB, 0xBF] : []
        func put(_ s: String) { out += Array(s.utf8) }
        func ws(_ rng: inout ReaderTestRandom) -> String { rng.chance(0.3) ? rng.pick([" ", "\t", "  "]) : "" }
        let alphabet: [Character] = Array("abc019 -:.\"\\/\n\r\té日\u{1}")
        let lineCount = rng.int(0...25)
        for l in 0..<lineCount {
            if rng.chance(0.15) { put((rng.chance(0.5) ? "" : " \t") + newline(&rng)) }
            let start = out.count
            c.recordStarts.append(start)
            let end = l == lineCount - 1 && rng.chance(0.3) ? "" : newline(&rng)
            let kind = rng.int(0...19)
            switch kind {
            case 0:
                put("{\"customer_id\": \"x\", " + end)
                c.expected.rejects.append((start, "bad_json"))
            case 1:
                put("[1, 2]" + end)
                c.expected.rejects.append((start, "bad_json"))
            case 2:
                put("{\"customer_id\": \"x\", \"amount\": \"1\"}" + end)  // no recorded_at
                c.expected.rejects.append((start, "missing_value"))
            case 3:
                out += Array("{\"".utf8) + [0xFF] + Array("\": 1}".utf8) + Array(end.utf8)  // not UTF-8
                c.expected.rejects.append((start, "invalid_utf8"))
            default:
                var values = jsonKeys.map { _ -> String in
                    var s = ""
                    for _ in 0..<rng.int(0...8) { s.append(rng.pick(alphabet)) }
                    return s
                }
                if kind == 4 { values[0] = "!" + values[0] }
                let categoryNull = rng.chance(0.2)
                let categoryMissing = !categoryNull && rng.chance(0.2)
                var members: [String] = []
                for (i, key) in jsonKeys.enumerated() {
                    if i == 3 && categoryMissing { continue }
                    let value = i == 3 && categoryNull ? "null" : jsonString(values[i], &rng)
                    members.append(ws(&rng) + "\"\(key)\"" + ws(&rng) + ":" + ws(&rng) + value + ws(&rng))
                }
                if rng.chance(0.3) { members.append("\"extra\": {\"nested\": [1, \"two\", null]}") }
                members.shuffle(using: &rng)
                put(ws(&rng) + "{" + members.joined(separator: ",") + "}" + ws(&rng) + end)
                if categoryNull || categoryMissing { values[3] = "" }
                if kind == 4 {
                    c.expected.rejects.append((start, "bad_value"))
                } else {
                    c.expected.rows.append(values)
                    c.expected.rowOffsets.append(start)
                }
            }
        }
        c.bytes = out
        return c
    }

    private func checkJSONL(
        _ c: Case, parts: [[UInt8]], gzip: Bool, label: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let f = scratch!
        let name = gzip ? "table.jsonl.gz" : "table.jsonl"
        if gzip {
            try ReaderFiles.gzip(parts, to: f.path(name))
        } else {
            try f.write(name, bytes: parts.flatMap { $0 })
        }
        let out = try ReaderFiles.read(f.path(name), settings: ExportSettings(kind: .savings))
        let starts = physicalLineStarts(c.bytes)
        let context = "\(label): \(c.description)"
        XCTAssertEqual(out.rows, c.expected.rows, context, file: file, line: line)
        XCTAssertEqual(
            out.lines, c.expected.rowOffsets.map { lineNumber(startingAt: $0, in: starts) ?? -1 }, "lines: \(context)",
            file: file, line: line)
        let got = out.report.rejects.map { "\($0.code)@\($0.line):\($0.byteOffset)" }
        let want = c.expected.rejects.map {
            "\($0.code)@\(lineNumber(startingAt: $0.offset, in: starts) ?? -1):\($0.offset)"
        }
        XCTAssertEqual(got, want, "rejects: \(context)", file: file, line: line)
    }

    func testJSONLRowsReadBackAsWritten() throws {
        for seed in 0..<400 {
            let c = Self.makeJSONL(seed: UInt64(seed) + 20_000)
            try checkJSONL(c, parts: [c.bytes], gzip: false, label: "seed \(seed), plain")
            var rng = ReaderTestRandom(seed: UInt64(seed) &+ 2_000_000)
            var cuts = (0..<rng.int(0...3)).map { _ in rng.int(0...c.bytes.count) }
            cuts.sort()
            var parts: [[UInt8]] = []
            var from = 0
            for cut in cuts + [c.bytes.count] {
                parts.append(Array(c.bytes[from..<cut]))
                from = cut
            }
            try checkJSONL(c, parts: parts, gzip: true, label: "seed \(seed), gzip cut at \(cuts)")
        }
    }

    func testJSONLCutIntoTwoGzipMembersAtEveryByte() throws {
        var done = 0
        var seed: UInt64 = 30_000
        while done < 8 {
            seed += 1
            let c = Self.makeJSONL(seed: seed)
            guard c.bytes.count <= 500, c.expected.rows.count >= 2 else { continue }
            done += 1
            for cut in 0...c.bytes.count {
                try checkJSONL(
                    c, parts: [Array(c.bytes[..<cut]), Array(c.bytes[cut...])], gzip: true,
                    label: "seed \(seed), cut at \(cut)")
            }
        }
    }

    /// JSON Lines need no header: cut at any line boundary into two files.
    func testJSONLCutIntoTwoFilesAtALineBoundary() throws {
        for seed in 0..<100 {
            let c = Self.makeJSONL(seed: UInt64(seed) + 40_000)
            guard !c.recordStarts.isEmpty else { continue }
            var rng = ReaderTestRandom(seed: UInt64(seed))
            let cut = rng.pick(c.recordStarts)
            let f = try ExportsFolder()
            try f.write("a.jsonl", bytes: Array(c.bytes[..<cut]))
            try f.write("b.jsonl", bytes: Array(c.bytes[cut...]))
            let a = try ReaderFiles.read(f.path("a.jsonl"), settings: ExportSettings(kind: .savings))
            let b = try ReaderFiles.read(f.path("b.jsonl"), settings: ExportSettings(kind: .savings))
            XCTAssertEqual(a.rows + b.rows, c.expected.rows, "seed \(seed), cut at \(cut): \(c.description)")
            XCTAssertEqual(a.report.rejects.count + b.report.rejects.count, c.expected.rejects.count, "seed \(seed)")
        }
    }
}
