import Foundation

/// The CSV layer of reading an input file: physical lines go to libcsv
/// (through `CSVRecordReader`, which assembles records and knows where each
/// began); the first record is the header, mapped to the export contract's
/// columns (or taken as it is), and each record after it goes to the row
/// handler as a `RowView`. A record with another field count than the
/// header's, or that libcsv cannot read, is rejected; a header that cannot
/// be read or lacks a column stops the file.
final class CSVRecordDecoder: RecordDecoder {
    /// What the header is read for.
    enum Columns {
        /// The export contract's columns, found by name in the header.
        case contract
        /// Whatever the header names, in its order (`train --table`).
        case any
        /// As `any`, and the read stops after the header (to learn a table's columns).
        case headerOnly
    }

    /// The read this decoder belongs to: rows are counted, and rejects and
    /// stops reported, there.
    private let file: InputFileReader
    private let csv: CSVRecordReader
    private let settings: ExportSettings
    private let handler: RowHandler
    private let rows: RowOwnership
    private let customerColumn: Int
    private let maxRowBytes: Int
    private let columns: Columns

    private var headerSeen = false
    private var headerFieldCount = 0
    private var headerNames: [String] = []
    /// Per contract column (or header column, for `any`), its field in the record; -1: absent.
    private var columnMap: [Int] = []
    /// For `any` and `headerOnly`: the header's names.
    private(set) var capturedHeader: [String]? = nil

    /// What stops a `headerOnly` read once the header is known.
    struct HeaderOnlyStop: Error {}

    init(file: InputFileReader, columns: Columns) throws {
        self.file = file
        self.settings = file.settings
        self.handler = file.handler
        self.rows = file.options.rows
        self.customerColumn = file.customerColumn
        self.maxRowBytes = file.maxRowBytes
        self.columns = columns
        csv = try CSVRecordReader(delimiter: file.settings.delimiter, maxRowBytes: file.maxRowBytes)
        csv.onRecord = { [unowned self] reader in self.record(reader) }
        csv.onMalformed = { [unowned self] problem in
            // Before the header, the header itself is what cannot be read:
            // the file stops there (the next line is not a header).
            guard self.headerSeen else {
                if self.file.fatal == nil { self.file.stop(self.headerProblem(problem)) }
                return
            }
            self.file.reject(
                line: problem.line, offset: problem.offset, column: nil, code: problem.code, message: problem.message,
                raw: problem.raw)
        }
    }

    // MARK: Lines from the splitter

    @inline(__always)
    func decode(line: UnsafeRawBufferPointer, number: Int, offset: Int) throws {
        try csv.feed(line: line, number: number, offset: offset)
    }

    var isIdle: Bool { csv.isIdle }

    func feedLineBreaks(_ run: UnsafeRawBufferPointer, firstNumber: Int, offset: Int) throws -> Bool {
        try csv.feedLineBreaks(run, firstNumber: firstNumber, offset: offset)
    }

    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws {
        try csv.rejectOverlongLine(number: number, offset: offset, prefix: prefix)
    }

    var openRecordStart: (line: Int, offset: Int)? { csv.openRecordStart }

    var stopped: Bool { file.fatal != nil }

    var awaitsHeader: Bool { !headerSeen }

    func finish() throws {
        try csv.finish()
        if file.fatal != nil { return }
        if !headerSeen {
            throw CustomerHealthError.input(
                file: file.name,
                message:
                    "has no header row: the first line must name the columns (\(settings.kind.columns.joined(separator: ",")))"
            )
        }
    }

    // MARK: Records

    private func record(_ reader: CSVRecordReader) {
        guard file.fatal == nil else { return }
        if !headerSeen {
            headerSeen = true
            readHeader(reader)
            if file.fatal == nil, case .partition(let splitter) = rows { splitter.header(reader.rawText()) }
            return
        }
        if reader.fieldCount != headerFieldCount {
            file.reject(
                line: reader.recordStartLine, offset: reader.recordStartOffset, column: nil, code: .fieldCount,
                message: "expected \(headerFieldCount) fields as in the header, found \(reader.fieldCount)",
                raw: reader.rawText())
            return
        }
        var owned = true
        let rejection: RowRejection? = reader.withFields { bytes, starts, ends in
            columnMap.withUnsafeBufferPointer { map in
                let row = RowView(bytes: bytes, starts: starts, ends: ends, columnMap: map)
                owned = rows.owns(
                    row, customerColumn: customerColumn, raw: { reader.rawText() }, line: reader.recordStartLine,
                    offset: reader.recordStartOffset)
                return handler.handle(row.owned(owned), line: reader.recordStartLine)
            }
        }
        guard owned else { return }
        file.report.rowsRead += 1
        if let rejection {
            file.reject(
                line: reader.recordStartLine, offset: reader.recordStartOffset,
                column: rejection.column.map(settings.exportName(of:)),
                code: rejection.code, message: rejection.message, raw: reader.rawText(), counted: false, placed: true)
        } else {
            file.report.rowsAccepted += 1
        }
    }

    // MARK: The header

    private func readHeader(_ reader: CSVRecordReader) {
        headerFieldCount = reader.fieldCount
        if columns != .contract {
            let names = (0..<reader.fieldCount).map { reader.fieldString($0).trimmingCharacters(in: .whitespaces) }
            capturedHeader = names
            columnMap = Array(0..<names.count)
            if columns == .headerOnly { file.stop(HeaderOnlyStop()) }
            return
        }
        var positions: [String: Int] = [:]
        for i in 0..<reader.fieldCount {
            let nameText = reader.fieldString(i).trimmingCharacters(in: .whitespaces)
            headerNames.append(nameText)
            if positions[nameText] == nil { positions[nameText] = i }
        }
        columnMap = []
        var missing: [String] = []
        for column in settings.kind.columns {
            let exportName = settings.exportName(of: column)
            if let p = positions[exportName] {
                columnMap.append(p)
            } else {
                columnMap.append(-1)
                if settings.requiredColumns.contains(column) {
                    missing.append(exportName == column ? column : "\(exportName) (mapped to \(column))")
                }
            }
        }
        if !missing.isEmpty {
            let churnColumns = settings.kind.contract.columns.filter {
                if case .requiredByChurnDefinition = $0.header {
                    return missing.contains($0.name)
                } else {
                    return false
                }
            }
            let churnHint = churnColumns.map {
                " \($0.name) is read by the pipeline's churn definition (\($0.header.docText)); for exports without it, set `churn_definition` (docs/pipeline.md#churn_definition)."
            }.joined()
            let found = headerNames.joined(separator: ",")
            let delimiterHint =
                headerNames.count == 1 && found.contains(where: { $0 == ";" || $0 == "\t" })
                ? " The header looks like it uses another delimiter: set `delimiter` for this export in the pipeline file."
                : ""
            // A header "record" over several lines is most often a quote never closed on the header line.
            var spanHint = ""
            if reader.recordLineCount > 1 {
                let first = reader.recordFirstLine()
                let at = CSVRecordReader.openingQuote(in: first, delimiter: settings.delimiter)
                spanHint =
                    " The header runs over lines \(reader.recordStartLine)-\(reader.recordStartLine + reader.recordLineCount - 1)"
                    + (at.map {
                        ": the quote at line \(reader.recordStartLine), column \($0 + 1) (byte offset \(reader.recordStartOffset + $0)) opens a field that closes only on a later line"
                    } ?? "")
                    + "; the header line is: \(Self.lineText(first))."
            }
            file.stop(
                CustomerHealthError.input(
                    file: file.name,
                    message:
                        "line \(reader.recordStartLine): the header has no column \(missing.joined(separator: ", ")); found: \(found). Rename it in the export or map it with `columns:` in the pipeline file.\(delimiterHint)\(churnHint)\(spanHint)"
                ))
        }
    }

    /// A line as text for a message: without its line break, at most 2 KiB.
    private static func lineText(_ bytes: [UInt8]) -> String {
        var cut = Array(bytes.prefix(2048))
        while let last = cut.last, last == 0x0A || last == 0x0D { cut.removeLast() }
        return String(decoding: cut, as: UTF8.self) + (bytes.count > 2048 ? "..." : "")
    }

    /// The header cannot be read: say where and show it. (Rejecting it as a
    /// row would make the next line the header, and the error would then
    /// show that line as the header found.)
    private func headerProblem(_ p: CSVRecordReader.Malformed) -> CustomerHealthError {
        let text = Self.lineText(p.raw)
        let quote = UInt8(ascii: "\"")
        func at(_ i: Int) -> String { "line \(p.line), column \(i + 1) (byte offset \(p.offset + i))" }
        let message: String
        switch p.detail {
        case .lineTooLong:
            message =
                "line \(p.line): the header line is longer than \(maxRowBytes) bytes (max_row_bytes), so it cannot be read; it begins: \(text)"
        case .stoppedAt(let i):
            if i < p.raw.count && p.raw[i] == quote && !(p.raw[..<i].last(where: { $0 != 0x20 && $0 != 0x09 }) == quote)
            {
                message =
                    "\(at(i)): malformed quoting in the header: a quote inside a field that does not start with one (RFC 4180: quote the whole name and double the quote, or remove it); the header line is: \(text)"
            } else {
                // Text after the quote that closed a quoted field: point at that quote.
                let closing = p.raw[..<min(i, p.raw.count)].lastIndex(of: quote) ?? i
                message =
                    "\(at(closing)): malformed quoting in the header: the quote here closes a quoted field, but text follows it at column \(i + 1) (RFC 4180: a quoted field ends at its closing quote); the header line is: \(text)"
            }
        case .unclosedQuote:
            let why =
                p.code == .rowTooLong
                ? "it would run on past max_row_bytes (\(maxRowBytes) bytes)" : p.message
            if let i = CSVRecordReader.openingQuote(in: p.raw, delimiter: settings.delimiter) {
                message =
                    "\(at(i)): malformed quoting in the header: the quote here opens a field that is not closed on the header line, so the header would swallow the rows after it (\(why)); the header line is: \(text)"
            } else {
                message =
                    "line \(p.line): malformed quoting in the header: a quote opens a field that is not closed on the header line (\(why)); the header line is: \(text)"
            }
        }
        return CustomerHealthError.input(file: file.name, message: message)
    }

}
