import CCSV
import Foundation

/// Feeds physical lines to libcsv and hands complete records to a handler,
/// keeping track of the line and byte offset where each record started.
///
/// libcsv does not report positions, so we call `csv_parse` one physical line
/// at a time: a record can only end at the end of a line, which tells us where
/// the next one starts. A physical line ends at LF, CRLF or a lone CR, the
/// three terminators libcsv ends an unquoted record at (LineSplitter splits
/// them so), so each line holds at most one record end, at its end. Its
/// callbacks reach this object through an `Unmanaged` context and never
/// throw; errors are recorded and surfaced after the call.
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
    /// Lines of a record still open, kept for raw text and for re-reading
    /// after an overflow: their bytes one after another, and where each starts.
    /// No allocation per line, so a quoted field of many line breaks costs
    /// what its bytes cost.
    private var pending = Lines()
    private var currentLine: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)

    struct Lines {
        var text: [UInt8] = []
        var index: [(line: Int, offset: Int, start: Int)] = []

        var isEmpty: Bool { index.isEmpty }
        var count: Int { index.count }

        func bytes(_ i: Int) -> ArraySlice<UInt8> {
            text[index[i].start..<(i + 1 < index.count ? index[i + 1].start : text.count)]
        }

        mutating func append(line: Int, offset: Int, _ bytes: UnsafeRawBufferPointer) {
            index.append((line, offset, text.count))
            text.append(contentsOf: bytes)
        }

        mutating func removeAll() {
            guard !index.isEmpty else { return }
            text.removeAll(keepingCapacity: true)
            index.removeAll(keepingCapacity: true)
        }
    }

    /// A record that cannot be read (quoting, length), with where it started.
    struct Malformed {
        enum Detail: Equatable {
            /// libcsv stopped at this byte of `raw`, the record's only line:
            /// a quote inside an unquoted field, or text after a closing quote.
            case stoppedAt(Int)
            /// A quote opened in `raw`, the record's first line, is not closed before the record had to end.
            case unclosedQuote
            /// One physical line longer than the limit; `raw` is its beginning.
            case lineTooLong
        }
        var line: Int
        var offset: Int
        var code: RowRejection.Code
        var message: String
        /// The record's first line (at most its first 1 KiB for `lineTooLong`).
        var raw: [UInt8]
        var detail: Detail
    }

    /// Called with each complete record: fields, start line, start offset, raw text.
    var onRecord: ((CSVRecordReader) -> Void)?
    /// Called when a record cannot be read at all (quoting, length).
    var onMalformed: ((Malformed) -> Void)?

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
        if parserLive {
            csv_free(parser)
            parserLive = false
        }
        guard csv_init(parser, ch_csv_options_strict()) == 0 else {
            throw CustomerHealthError.output(path: "libcsv", message: "csv_init failed: out of memory")
        }
        csv_set_delim(parser, delimiter)
        // libcsv grows its field buffer by this much at a time (128 bytes by
        // default): long fields would otherwise cost a realloc every 128 bytes.
        csv_set_blk_size(parser, 16 << 10)
        parserLive = true
        byteCount = 0
        fieldCount = 0
        atRecordStart = true
        pending.removeAll()
    }

    /// Takes the lines of the open record out (the parser is reset next).
    private func takePending() -> Lines {
        let lines = pending
        pending = Lines()
        return lines
    }

    /// Reads lines of an abandoned record again, as records of their own.
    private func refeed(_ lines: Lines, from first: Int) throws {
        guard first < lines.count else { return }
        for i in first..<lines.count {
            let entry = lines.index[i]
            try lines.bytes(i).withUnsafeBytes { try feed(line: $0, number: entry.line, offset: entry.offset) }
        }
    }

    func withFields<R>(_ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>) -> R) -> R {
        body(
            UnsafeRawBufferPointer(start: fieldBytes, count: byteCount),
            UnsafeBufferPointer(start: fieldStarts, count: fieldCount),
            UnsafeBufferPointer(start: fieldEnds, count: fieldCount))
    }

    func fieldString(_ i: Int) -> String {
        String(
            decoding: UnsafeBufferPointer(start: fieldBytes + fieldStarts[i], count: fieldEnds[i] - fieldStarts[i]),
            as: UTF8.self)
    }

    /// The raw text of the record just completed (or still open).
    func rawText() -> [UInt8] {
        var raw = pending.text
        raw.append(contentsOf: currentLine)
        return raw
    }

    /// Physical lines of the record just completed (1 unless a quoted field held line breaks).
    var recordLineCount: Int { pending.count + (currentLine.count > 0 ? 1 : 0) }

    /// The first physical line of the record just completed.
    func recordFirstLine() -> [UInt8] { pending.isEmpty ? Array(currentLine) : Array(pending.bytes(0)) }

    /// True between records: no record has started, no quote is open.
    var isIdle: Bool { atRecordStart }

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

    /// True when libcsv would skip the whole line between records: line
    /// breaks, and spaces and tabs that are not the delimiter.
    @inline(__always)
    private func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        for b in line {
            switch b {
            case 0x0A, 0x0D: continue
            case 0x20, 0x09: if b == delimiter { return false }
            default: return false
            }
        }
        return true
    }

    /// Feeds one physical line, including its terminating line break when present.
    func feed(line: UnsafeRawBufferPointer, number: Int, offset: Int) throws {
        if atRecordStart {
            // Between records a blank line is skipped by libcsv: no need to ask it.
            if isBlank(line) { return }
            recordStartLine = number
            recordStartOffset = offset
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
                var lines = takePending()
                lines.append(line: number, offset: offset, line)
                let multiLine = lines.count > 1
                onMalformed?(
                    Malformed(
                        line: recordStartLine, offset: recordStartOffset, code: .badQuoting,
                        message: multiLine
                            ? "malformed quoting: a quote opened on line \(recordStartLine) is not closed before line \(number)"
                            : "malformed quoting: a quote inside an unquoted field, or text after a closing quote (RFC 4180)",
                        raw: Array(lines.bytes(0)),
                        detail: multiLine ? .unclosedQuote : .stoppedAt(consumed)))
                currentLine = UnsafeRawBufferPointer(start: nil, count: 0)
                try resetParser()
                try refeed(lines, from: 1)
                return
            }
            throw CustomerHealthError.output(path: "libcsv", message: String(cString: csv_strerror(status)))
        }
        if atRecordStart {
            // The record ended with this line.
            pending.removeAll()
        } else if parser.pointee.pstate == 0 {
            // ROW_NOT_BEGUN: libcsv skipped the line (blank to it): no record started here.
            atRecordStart = true
        } else {
            // Inside a quoted field that goes on to the next line.
            pending.append(line: number, offset: offset, line)
            if pending.text.count > maxRowBytes {
                try overflow()
            }
        }
        currentLine = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// A run of bare line breaks (LF, CRLF or CR each ending one line) met
    /// inside a quoted field: libcsv takes them into the field in one call,
    /// as no record can end inside quotes, and each still counts as a line
    /// of the record. False when no quoted field is open: feed them line by line.
    func feedLineBreaks(_ run: UnsafeRawBufferPointer, firstNumber: Int, offset: Int) throws -> Bool {
        // An open record at a line's end is always inside a quoted field (FIELD_BEGUN, quoted).
        guard !atRecordStart, !pending.isEmpty, parser.pointee.pstate == 2, parser.pointee.quoted != 0 else {
            return false
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let consumed = csv_parse(parser, run.baseAddress, run.count, csvFieldCallback, csvRecordCallback, context)
        guard consumed == run.count else {
            throw CustomerHealthError.output(path: "libcsv", message: String(cString: csv_strerror(csv_error(parser))))
        }
        let base = pending.text.count
        pending.text.append(contentsOf: run)
        var i = 0
        var number = firstNumber
        while i < run.count {
            pending.index.append((number, offset + i, base + i))
            i += run[i] == 0x0D && i + 1 < run.count && run[i + 1] == 0x0A ? 2 : 1
            number += 1
        }
        if pending.text.count > maxRowBytes {
            try overflow()
        }
        return true
    }

    /// Where a record that spans lines and is not closed yet began (watch
    /// mode stops reading there and takes it whole on the next look).
    var openRecordStart: (line: Int, offset: Int)? { pending.index.first.map { ($0.line - 1, $0.offset) } }

    /// A record longer than the limit: most often a quote that was opened and
    /// never closed. Reject it where it started, then re-read the lines after
    /// its first one, so that one stray quote costs one row, not the file.
    private func overflow() throws {
        let lines = takePending()
        onMalformed?(
            Malformed(
                line: recordStartLine, offset: recordStartOffset, code: .rowTooLong,
                message:
                    "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed",
                raw: Array(lines.bytes(0)), detail: .unclosedQuote))
        try resetParser()
        try refeed(lines, from: 1)
    }

    /// Ends the input: a record still open at end of file is reported.
    func finish() throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = csv_fini(parser, csvFieldCallback, csvRecordCallback, context)
        if status != 0 {
            let lines = takePending()
            let raw = lines.isEmpty ? rawText() : Array(lines.bytes(0))
            onMalformed?(
                Malformed(
                    line: recordStartLine, offset: recordStartOffset, code: .badQuoting,
                    message: "a quote opened on line \(recordStartLine) is never closed before the end of the file",
                    raw: raw, detail: .unclosedQuote))
            try resetParser()
            // The lines after the one with the stray quote are rows of their own.
            if lines.count > 1 {
                try refeed(lines, from: 1)
                try finish()
            }
            return
        }
        try resetParser()
    }

    /// A physical line too long to hold: the splitter calls this and then
    /// drops the rest of that line.
    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws {
        let lines = takePending()
        if !lines.isEmpty {
            // The overlong line belongs to a record already open: reject that
            // record, read its other lines again, then the overlong line itself.
            onMalformed?(
                Malformed(
                    line: recordStartLine, offset: recordStartOffset, code: .rowTooLong,
                    message:
                        "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed",
                    raw: Array(lines.bytes(0)), detail: .unclosedQuote))
        }
        try resetParser()
        try refeed(lines, from: 1)
        if !pending.isEmpty {
            // Still inside a record opened by the re-read lines: it ends at the overlong line.
            onMalformed?(
                Malformed(
                    line: recordStartLine, offset: recordStartOffset, code: .rowTooLong,
                    message:
                        "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed",
                    raw: Array(pending.bytes(0)), detail: .unclosedQuote))
            try resetParser()
        }
        onMalformed?(
            Malformed(
                line: number, offset: offset, code: .rowTooLong, message: "line is longer than \(maxRowBytes) bytes",
                raw: prefix, detail: .lineTooLong))
    }

    /// Where, in `line` (one physical line that ends inside a quoted field),
    /// the quote that opened that field is: libcsv reads the line again, one
    /// byte at a time, and the last field it saw open with a quote is the
    /// one. Only used to word an error, never on the rows' path.
    static func openingQuote(in line: [UInt8], delimiter: UInt8) -> Int? {
        var p = csv_parser()
        guard csv_init(&p, ch_csv_options_strict()) == 0 else { return nil }
        defer { csv_free(&p) }
        csv_set_delim(&p, delimiter)
        var found: Int? = nil
        line.withUnsafeBytes { bytes in
            for i in 0..<bytes.count {
                let before = p.pstate
                let wasOpen = before == 2 && p.quoted != 0
                guard csv_parse(&p, bytes.baseAddress! + i, 1, nil, nil, nil) == 1 else { return }
                // FIELD_BEGUN with `quoted` from ROW_NOT_BEGUN or FIELD_NOT_BEGUN:
                // a quote opened a field (from FIELD_MIGHT_HAVE_ENDED it is a "" pair).
                if p.pstate == 2 && p.quoted != 0 && !wasOpen && (before == 0 || before == 1) { found = i }
            }
        }
        return found
    }
}

// The reader outlives every csv_parse call that passes it as the context, so
// the callbacks borrow it without retaining it: no reference counting per
// field (a row of a million empty fields is a million calls).
private func csvFieldCallback(_ data: UnsafeMutableRawPointer?, _ length: Int, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<CSVRecordReader>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.appendField(data, length) }
}

private func csvRecordCallback(_ terminator: Int32, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<CSVRecordReader>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.endRecord() }
}
