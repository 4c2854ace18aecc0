import CCSV
import Foundation

/// Feeds physical lines to libcsv and hands complete records to a handler,
/// keeping track of the line and byte offset where each record started.
///
/// libcsv does not report positions, so we call `csv_parse` one physical line
/// at a time: a record can only end at the end of a line, which tells us where
/// the next one starts. Its callbacks reach this object through an `Unmanaged`
/// context and never throw; errors are recorded and surfaced after the call.
final class CSVRecordReader {
    private let parser: UnsafeMutablePointer<csv_parser>
    private var parserLive = false
    let delimiter: UInt8
    let maxRowBytes: Int

    // Fields of the record being assembled, in raw storage: the field
    // callback runs for every field of every row.
    private var fieldBytes: UnsafeMutablePointer<UInt8>
    private var byteCapacity = 4096
    private var byteCount = 0
    private var fieldStarts: UnsafeMutablePointer<Int>
    private var fieldEnds: UnsafeMutablePointer<Int>
    private var fieldCapacity = 64
    private(set) var fieldCount = 0

    // Position bookkeeping.
    private var atRecordStart = true
    private(set) var recordStartLine = 0
    private(set) var recordStartOffset = 0
    /// Lines of a record still open, kept for raw text and for re-reading after an overflow.
    private var pendingLines: [(line: Int, offset: Int, bytes: [UInt8])] = []
    private var pendingBytes = 0
    private var currentLine: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)

    /// Called with each complete record: fields, start line, start offset, raw text.
    var onRecord: ((CSVRecordReader) -> Void)?
    /// Called when a record cannot be read at all (quoting, length).
    var onMalformed: ((_ line: Int, _ offset: Int, _ code: RowRejection.Code, _ message: String, _ raw: [UInt8]) -> Void)?

    init(delimiter: UInt8, maxRowBytes: Int) throws {
        self.delimiter = delimiter
        self.maxRowBytes = maxRowBytes
        fieldBytes = .allocate(capacity: byteCapacity)
        fieldStarts = .allocate(capacity: fieldCapacity)
        fieldEnds = .allocate(capacity: fieldCapacity)
        parser = .allocate(capacity: 1)
        try resetParser()
    }

    deinit {
        if parserLive { csv_free(parser) }
        parser.deallocate()
        fieldBytes.deallocate()
        fieldStarts.deallocate()
        fieldEnds.deallocate()
    }

    private func resetParser() throws {
        if parserLive { csv_free(parser); parserLive = false }
        guard csv_init(parser, ch_csv_options_strict()) == 0 else {
            throw CustomerHealthError.output(path: "libcsv", message: "csv_init failed: out of memory")
        }
        csv_set_delim(parser, delimiter)
        parserLive = true
        byteCount = 0
        fieldCount = 0
        atRecordStart = true
        pendingLines.removeAll(keepingCapacity: true)
        pendingBytes = 0
    }

    /// Reads lines of an abandoned record again, as records of their own.
    private func refeed(_ lines: ArraySlice<(line: Int, offset: Int, bytes: [UInt8])>) throws {
        for l in lines {
            try l.bytes.withUnsafeBytes { try feed(line: $0, number: l.line, offset: l.offset) }
        }
    }

    func withFields<R>(_ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>) -> R) -> R {
        body(UnsafeRawBufferPointer(start: fieldBytes, count: byteCount),
            UnsafeBufferPointer(start: fieldStarts, count: fieldCount),
            UnsafeBufferPointer(start: fieldEnds, count: fieldCount))
    }

    func fieldString(_ i: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: fieldBytes + fieldStarts[i], count: fieldEnds[i] - fieldStarts[i]), as: UTF8.self)
    }

    /// The raw text of the record just completed (or still open).
    func rawText() -> [UInt8] {
        var raw: [UInt8] = []
        for l in pendingLines { raw.append(contentsOf: l.bytes) }
        raw.append(contentsOf: currentLine)
        return raw
    }

    @inline(__always)
    fileprivate func appendField(_ data: UnsafeMutableRawPointer?, _ length: Int) {
        if fieldCount == fieldCapacity {
            let newCapacity = fieldCapacity * 2
            let s = UnsafeMutablePointer<Int>.allocate(capacity: newCapacity)
            let e = UnsafeMutablePointer<Int>.allocate(capacity: newCapacity)
            s.update(from: fieldStarts, count: fieldCount)
            e.update(from: fieldEnds, count: fieldCount)
            fieldStarts.deallocate()
            fieldEnds.deallocate()
            fieldStarts = s
            fieldEnds = e
            fieldCapacity = newCapacity
        }
        if byteCount + length > byteCapacity {
            var newCapacity = byteCapacity * 2
            while newCapacity < byteCount + length { newCapacity *= 2 }
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            b.update(from: fieldBytes, count: byteCount)
            fieldBytes.deallocate()
            fieldBytes = b
            byteCapacity = newCapacity
        }
        fieldStarts[fieldCount] = byteCount
        if let data, length > 0 {
            (fieldBytes + byteCount).update(from: data.assumingMemoryBound(to: UInt8.self), count: length)
            byteCount += length
        }
        fieldEnds[fieldCount] = byteCount
        fieldCount += 1
    }

    fileprivate func endRecord() {
        onRecord?(self)
        byteCount = 0
        fieldCount = 0
        atRecordStart = true
    }

    /// Feeds one physical line, including its terminating newline when present.
    func feed(line: UnsafeRawBufferPointer, number: Int, offset: Int) throws {
        if atRecordStart {
            recordStartLine = number
            recordStartOffset = offset
            pendingLines.removeAll(keepingCapacity: true)
            pendingBytes = 0
            // A record can only start here, so it has not started until libcsv sees content.
            atRecordStart = false
        }
        currentLine = line
        let context = Unmanaged.passUnretained(self).toOpaque()
        let consumed = csv_parse(parser, line.baseAddress, line.count, csvFieldCallback, csvRecordCallback, context)
        if consumed != line.count {
            let status = csv_error(parser)
            if status == CSV_EPARSE {
                // Reject the record where it started. When it spanned lines (a
                // quote opened earlier and never closed), read its later lines
                // again as rows of their own: one stray quote costs one row.
                let lines = pendingLines + [(number, offset, Array(line))]
                let multiLine = lines.count > 1
                onMalformed?(recordStartLine, recordStartOffset, .badQuoting,
                    multiLine
                        ? "malformed quoting: a quote opened on line \(recordStartLine) is not closed before line \(number)"
                        : "malformed quoting: a quote inside an unquoted field, or text after a closing quote (RFC 4180)",
                    multiLine ? lines[0].bytes : rawText())
                try resetParser()
                currentLine = UnsafeRawBufferPointer(start: nil, count: 0)
                try refeed(lines.dropFirst())
                return
            }
            throw CustomerHealthError.output(path: "libcsv", message: String(cString: csv_strerror(status)))
        }
        if atRecordStart {
            pendingLines.removeAll(keepingCapacity: true)
            pendingBytes = 0
        } else if isBlankRemainder(line) && pendingLines.isEmpty && fieldCount == 0 && !recordOpenInsideQuotes {
            // An empty line: libcsv skips it, so no record started here.
            atRecordStart = true
        } else {
            pendingLines.append((number, offset, Array(line)))
            pendingBytes += line.count
            if pendingBytes > maxRowBytes {
                try overflow()
            }
        }
        currentLine = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// Where a record that spans lines and is not closed yet began (watch
    /// mode stops reading there and takes it whole on the next look).
    var openRecordStart: (line: Int, offset: Int)? { pendingLines.first.map { ($0.line - 1, $0.offset) } }

    private var recordOpenInsideQuotes: Bool { parser.pointee.pstate != 0 || parser.pointee.entry_pos > 0 }

    private func isBlankRemainder(_ line: UnsafeRawBufferPointer) -> Bool {
        for b in line where b != 0x0A && b != 0x0D { return false }
        return true
    }

    /// A record longer than the limit: most often a quote that was opened and
    /// never closed. Reject it where it started, then re-read the lines after
    /// its first one, so that one stray quote costs one row, not the file.
    private func overflow() throws {
        let lines = pendingLines
        let raw = lines.first.map { $0.bytes } ?? []
        onMalformed?(recordStartLine, recordStartOffset, .rowTooLong,
            "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed", raw)
        try resetParser()
        try refeed(lines.dropFirst())
    }

    /// Ends the input: a record still open at end of file is reported.
    func finish() throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = csv_fini(parser, csvFieldCallback, csvRecordCallback, context)
        if status != 0 {
            let lines = pendingLines
            let raw = lines.first?.bytes ?? rawText()
            onMalformed?(recordStartLine, recordStartOffset, .badQuoting,
                "a quote opened on line \(recordStartLine) is never closed before the end of the file", raw)
            try resetParser()
            // The lines after the one with the stray quote are rows of their own.
            if lines.count > 1 {
                try refeed(lines.dropFirst())
                try finish()
            }
            return
        }
        try resetParser()
    }

    /// True when a physical line is too long to hold: the splitter calls this
    /// and then drops the rest of that line.
    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws {
        let lines = pendingLines
        if !lines.isEmpty {
            // The overlong line belongs to a record already open: reject that
            // record, read its other lines again, then the overlong line itself.
            onMalformed?(recordStartLine, recordStartOffset, .rowTooLong,
                "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed", lines[0].bytes)
        }
        try resetParser()
        try refeed(lines.dropFirst())
        if !pendingLines.isEmpty {
            // Still inside a record opened by the re-read lines: it ends at the overlong line.
            onMalformed?(recordStartLine, recordStartOffset, .rowTooLong,
                "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed", pendingLines[0].bytes)
            try resetParser()
        }
        onMalformed?(number, offset, .rowTooLong, "line is longer than \(maxRowBytes) bytes", prefix)
    }
}

private func csvFieldCallback(_ data: UnsafeMutableRawPointer?, _ length: Int, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<CSVRecordReader>.fromOpaque(context).takeUnretainedValue().appendField(data, length)
}

private func csvRecordCallback(_ terminator: Int32, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<CSVRecordReader>.fromOpaque(context).takeUnretainedValue().endRecord()
}
