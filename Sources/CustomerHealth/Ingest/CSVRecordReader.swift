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

    // Fields of the record being assembled.
    private var fieldBytes: [UInt8] = []
    private var fieldStarts: [Int] = []
    private var fieldEnds: [Int] = []

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
        parser = .allocate(capacity: 1)
        try resetParser()
    }

    deinit {
        if parserLive { csv_free(parser) }
        parser.deallocate()
    }

    private func resetParser() throws {
        if parserLive { csv_free(parser); parserLive = false }
        guard csv_init(parser, ch_csv_options_strict()) == 0 else {
            throw CustomerHealthError.output(path: "libcsv", message: "csv_init failed: out of memory")
        }
        csv_set_delim(parser, delimiter)
        parserLive = true
        fieldBytes.removeAll(keepingCapacity: true)
        fieldStarts.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
    }

    var fieldCount: Int { fieldStarts.count }

    func withFields<R>(_ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>) -> R) -> R {
        fieldBytes.withUnsafeBytes { b in
            fieldStarts.withUnsafeBufferPointer { s in
                fieldEnds.withUnsafeBufferPointer { e in body(b, s, e) }
            }
        }
    }

    func fieldString(_ i: Int) -> String {
        String(decoding: fieldBytes[fieldStarts[i]..<fieldEnds[i]], as: UTF8.self)
    }

    /// The raw text of the record just completed (or still open).
    func rawText() -> [UInt8] {
        var raw: [UInt8] = []
        for l in pendingLines { raw.append(contentsOf: l.bytes) }
        raw.append(contentsOf: currentLine)
        return raw
    }

    fileprivate func appendField(_ data: UnsafeMutableRawPointer?, _ length: Int) {
        fieldStarts.append(fieldBytes.count)
        if let data, length > 0 {
            fieldBytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
        }
        fieldEnds.append(fieldBytes.count)
    }

    fileprivate func endRecord() {
        onRecord?(self)
        fieldBytes.removeAll(keepingCapacity: true)
        fieldStarts.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
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
                let raw = rawText()
                onMalformed?(recordStartLine, recordStartOffset, .badQuoting,
                    "malformed quoting: a quote inside an unquoted field, or text after a closing quote (RFC 4180)", raw)
                try resetParser()
                atRecordStart = true
                pendingLines.removeAll(keepingCapacity: true)
                pendingBytes = 0
                currentLine = UnsafeRawBufferPointer(start: nil, count: 0)
                return
            }
            throw CustomerHealthError.output(path: "libcsv", message: String(cString: csv_strerror(status)))
        }
        if atRecordStart {
            pendingLines.removeAll(keepingCapacity: true)
            pendingBytes = 0
        } else if isBlankRemainder(line) && pendingLines.isEmpty && fieldStarts.isEmpty && !recordOpenInsideQuotes {
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
        atRecordStart = true
        pendingLines.removeAll(keepingCapacity: true)
        pendingBytes = 0
        for l in lines.dropFirst() {
            try l.bytes.withUnsafeBytes { try feed(line: $0, number: l.line, offset: l.offset) }
        }
    }

    /// Ends the input: a record still open at end of file is reported.
    func finish() throws {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = csv_fini(parser, csvFieldCallback, csvRecordCallback, context)
        if status != 0 {
            let raw = rawText()
            onMalformed?(recordStartLine, recordStartOffset, .badQuoting,
                "a quote opened on line \(recordStartLine) is never closed before the end of the file", raw)
        }
        try resetParser()
        atRecordStart = true
    }

    /// True when a physical line is too long to hold: the splitter calls this
    /// and then drops the rest of that line.
    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws {
        if !pendingLines.isEmpty {
            // The overlong line belongs to a record already open; reject that record.
            onMalformed?(recordStartLine, recordStartOffset, .rowTooLong,
                "record is longer than \(maxRowBytes) bytes: a quote opened on line \(recordStartLine) is probably never closed", pendingLines[0].bytes)
        } else {
            onMalformed?(number, offset, .rowTooLong, "line is longer than \(maxRowBytes) bytes", prefix)
        }
        try resetParser()
        atRecordStart = true
        pendingLines.removeAll(keepingCapacity: true)
        pendingBytes = 0
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
