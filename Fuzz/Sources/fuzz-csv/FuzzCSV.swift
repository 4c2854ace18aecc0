// Fuzz target `csv`: the CSV record reader (Sources/CustomerHealth/Ingest/CSVRecordReader.swift).
//
// Input: one control byte, then CSV text. The control byte picks the
// delimiter (bits 0-1: comma, semicolon, tab, pipe). The text is split into
// physical lines as InputFileReader hands them to the reader (a line ends at
// LF, CRLF or a lone CR and keeps its line break; a line longer than
// max_row_bytes is rejected whole through `rejectOverlongLine`), fed to
// libcsv through `CSVRecordReader.feed`, and ended with `finish()`.
// max_row_bytes is 1024, the smallest the pipeline file allows, so that the
// overflow and re-read paths are reachable.
//
// Checks (a failure traps, which libFuzzer reports as a crash):
// - field ranges lie inside the record's byte buffer, in order;
// - every record and every rejection starts at a line and byte offset that
//   exist in the input, and record start lines never go backwards;
// - nothing is thrown but libcsv's own out-of-memory.
import FuzzSupport
@testable import CustomerHealth

private let maxRowBytes = 1024

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let control = input.byte()
    let delimiter: UInt8 = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")][Int(control & 3)]
    let text = input.rest
    // Physical lines as InputFileReader hands them to the reader (CSVRecordReader's
    // input contract): a line ends at LF, at CRLF or at a lone CR, and keeps its line break.
    var lines: [Range<Int>] = []
    var from = 0
    while from < text.count {
        var end = from
        while end < text.count && text[end] != 0x0A && text[end] != 0x0D { end += 1 }
        if end < text.count {
            end += (text[end] == 0x0D && end + 1 < text.count && text[end + 1] == 0x0A) ? 2 : 1
        }
        lines.append(from..<end)
        from = end
    }
    let lineStarts = lines.map(\.lowerBound)

    let reader: CSVRecordReader
    do { reader = try CSVRecordReader(delimiter: delimiter, maxRowBytes: maxRowBytes) } catch { fatalError("init: \(error)") }
    var lastRecordLine = 0
    var records = 0
    func checkPosition(_ line: Int, _ offset: Int, _ what: String) {
        require(line >= 1 && line <= lineStarts.count, "\(what) at line \(line) of \(lineStarts.count)")
        require(lineStarts[line - 1] == offset, "\(what) at line \(line) reports byte offset \(offset), the line starts at \(lineStarts[line - 1])")
    }
    reader.onRecord = { r in
        records += 1
        checkPosition(r.recordStartLine, r.recordStartOffset, "record")
        require(r.recordStartLine >= lastRecordLine, "record at line \(r.recordStartLine) after one at line \(lastRecordLine)")
        lastRecordLine = r.recordStartLine
        r.withFields { bytes, starts, ends in
            require(starts.count == ends.count, "\(starts.count) field starts, \(ends.count) ends")
            var previous = 0
            for i in 0..<starts.count {
                require(starts[i] >= previous && starts[i] <= ends[i] && ends[i] <= bytes.count, "field \(i) out of range")
                previous = ends[i]
            }
        }
        for i in 0..<r.fieldCount { _ = r.fieldString(i) }
        _ = r.rawText()
        _ = r.openRecordStart
    }
    reader.onMalformed = { m in
        checkPosition(m.line, m.offset, "rejection (\(m.code.rawValue): \(m.message))")
        require(m.raw.count <= text.count, "a rejection quotes \(m.raw.count) bytes of a \(text.count)-byte input")
        if case .stoppedAt(let at) = m.detail {
            require(at >= 0 && at <= m.raw.count, "libcsv stopped at byte \(at) of a \(m.raw.count)-byte line")
        }
    }

    // A line longer than max_row_bytes is rejected whole, as InputFileReader does.
    do {
        for (i, range) in lines.enumerated() {
            let line = UnsafeRawBufferPointer(rebasing: text[range])
            if line.count > maxRowBytes {
                try reader.rejectOverlongLine(number: i + 1, offset: range.lowerBound, prefix: Array(line.prefix(1024)))
            } else {
                try reader.feed(line: line, number: i + 1, offset: range.lowerBound)
            }
        }
        try reader.finish()
    } catch {
        fatalError("CSVRecordReader threw: \(error)")
    }
    return 0
}
