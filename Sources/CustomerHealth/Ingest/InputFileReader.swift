import Foundation

/// Settings that say how to read one export's files.
public struct ExportSettings: Sendable {
    public var kind: ExportKind
    public var globs: [String]
    public var delimiter: UInt8 = UInt8(ascii: ",")
    public var timestampFormat: TimestampFormat = .iso8601
    /// For date-only columns; nil means the pipeline's `date_format`.
    public var dateFormat: TimestampFormat? = nil
    /// Contract column name -> the name the export uses (a CSV header, or a
    /// JSONL key, which may be a dotted path into nested objects).
    public var columnNames: [String: String] = [:]
    /// The contract columns the header must have under the pipeline's churn definition.
    public var requiredColumns: Set<String>

    public init(kind: ExportKind, churn: ChurnDefinition = ChurnDefinition()) {
        self.kind = kind
        self.globs = kind.defaultGlobs
        requiredColumns = Set(kind.contract.columns.filter { $0.isRequired(churn: churn) }.map(\.name))
    }

    func exportName(of column: String) -> String { columnNames[column] ?? column }
}

/// Reads one input file to rows, as a pipeline of layers: a `ByteSource`
/// (read(2), SHA-256, gzip) hands decompressed blocks to a `LineSplitter`,
/// which hands physical lines to the record decoder of the file's format
/// (`CSVRecordDecoder` on libcsv, or `JSONLRecordDecoder`), which hands rows
/// to the export's `RowHandler`. This class only joins them: it owns the
/// file's report and its rejects (where a record belongs in a sharded or
/// partitioned run, and where it was in the original file), progress, and
/// where a watch-mode read stops.
///
/// Memory is bounded by the block size plus the longest record allowed
/// (`maxRowBytes`): nothing here holds more than one record of the file.
final class InputFileReader {
    enum Format { case csv, jsonl }

    let path: String
    let name: String
    let settings: ExportSettings
    let handler: RowHandler
    let maxRowBytes: Int
    let includeRaw: Bool
    let compressed: Bool
    let format: Format
    let mode: ReadMode
    let options: ReadOptions
    /// The file's rows and rejects; the decoders count rows into it.
    var report: FileReport
    /// A problem with the file itself that stops the read (set once, thrown by `read()`).
    private(set) var fatal: Error?
    /// The contract column holding the customer id (ownership of a row).
    let customerColumn: Int

    static func format(ofName name: String) -> (Format, Bool)? {
        let lower = name.lowercased()
        if lower.hasSuffix(".csv.gz") { return (.csv, true) }
        if lower.hasSuffix(".jsonl.gz") { return (.jsonl, true) }
        if lower.hasSuffix(".csv") { return (.csv, false) }
        if lower.hasSuffix(".jsonl") { return (.jsonl, false) }
        return nil
    }

    /// After `read()` in `.anyColumns` or `.headerOnly` mode: the CSV header's names.
    private(set) var capturedHeader: [String]? = nil
    /// After `read()` in `.watch` mode: where the rows taken end, for the next read.
    private(set) var consumed = Resume(offset: 0, linesBefore: 0)

    /// Watch mode: a plain file read on from where an earlier read stopped.
    /// The header comes from the file's first line; rows start at `offset`,
    /// which follows `linesBefore` lines.
    struct Resume: Sendable, Equatable {
        var offset: Int
        var linesBefore: Int
        /// The read stopped inside a line already rejected as too long: skip to its end.
        var insideRejectedLine = false
    }

    private var loadedPositions: PartitionPositions? = nil
    private var progressBytes = 0
    private var progressRows = 0

    init(
        path: String, settings: ExportSettings, handler: RowHandler, maxRowBytes: Int, includeRaw: Bool,
        mode: ReadMode = .whole(pipelined: false), options: ReadOptions = ReadOptions()
    ) throws {
        self.path = path
        self.name = options.bucket?.originalName ?? (path as NSString).lastPathComponent
        self.settings = settings
        self.handler = handler
        self.maxRowBytes = maxRowBytes
        self.includeRaw = includeRaw
        self.mode = mode
        self.options = options
        guard let (format, compressed) = InputFileReader.format(ofName: (path as NSString).lastPathComponent) else {
            throw CustomerHealthError.input(
                file: name, message: "unknown format: the name must end in .csv, .csv.gz, .jsonl or .jsonl.gz")
        }
        self.format = format
        self.compressed = compressed
        self.report = FileReport(export: settings.kind, path: path, name: name, size: 0, sha256: "")
        self.customerColumn = settings.kind.contract.columns.firstIndex { $0.name == "customer_id" } ?? 0
    }

    /// Reads the file (all of it, or what the mode takes). Row problems
    /// become rejects; problems with the file itself (missing, unreadable,
    /// corrupt gzip, bad header) throw.
    func read() throws -> FileReport {
        let source = try ByteSource(path: path, name: name, compressed: compressed)
        switch format {
        case .csv:
            let decoder = try CSVRecordDecoder(file: self, columns: mode.csvColumns)
            defer { capturedHeader = decoder.capturedHeader }
            return try read(source, LineSplitter(decoder: decoder, maxRowBytes: maxRowBytes))
        case .jsonl:
            return try read(source, LineSplitter(decoder: JSONLRecordDecoder(file: self), maxRowBytes: maxRowBytes))
        }
    }

    /// Source -> lines -> records -> the handler.
    private func read<Decoder: RecordDecoder>(_ source: ByteSource, _ lines: LineSplitter<Decoder>) throws -> FileReport
    {
        let resume = mode.resume
        let start = resume?.offset ?? 0
        if let resume, resume.offset > 0 {
            guard !compressed else {
                throw CustomerHealthError.input(
                    file: name, message: "a gzip file is read whole, not resumed at byte \(resume.offset)")
            }
            if lines.decoder.awaitsHeader { try readHeaderLine(source, lines) }
            try source.seek(to: resume.offset)
            lines.resume(
                offset: resume.offset, linesBefore: resume.linesBefore, insideOverlongLine: resume.insideRejectedLine)
        }
        let decoded: (size: Int, sha256: String)
        if case .whole(pipelined: true) = mode {
            decoded = try source.readPipelined { block in try take(block, lines) }
        } else {
            decoded = try source.read(limit: mode.stopAt.map { $0 - start }) { block in try take(block, lines) }
        }
        report.size = start + decoded.size
        // A resumed read hashed only the bytes after `start`: no file hash to report.
        report.sha256 = start > 0 ? "" : decoded.sha256
        if case .watch = mode, !compressed {
            consumed = endOfWholeRecords(lines)
            if let fatal { throw fatal }
            handler.finish()
            return report
        }
        if !compressed && decoded.size == 0 && format == .csv {
            throw CustomerHealthError.input(file: name, message: "the file is empty (0 bytes): expected a header row")
        }
        try lines.finish()
        try lines.decoder.finish()
        if let fatal { throw fatal }
        handler.finish()
        options.progress?(report.rowsRead - progressRows, progressBytes)
        // A gzip file is read whole, in watch mode too: the next read starts at its end.
        if case .watch = mode { consumed = Resume(offset: report.size, linesBefore: 0) }
        return report
    }

    /// One block of the decompressed stream, to the lines; stops at a problem with the file.
    private func take<Decoder>(_ block: UnsafeRawBufferPointer, _ lines: LineSplitter<Decoder>) throws {
        try consume(block, lines)
        if let fatal { throw fatal }
    }

    private func consume<Decoder>(_ block: UnsafeRawBufferPointer, _ lines: LineSplitter<Decoder>) throws {
        if let progress = options.progress {
            progressBytes += block.count
            if progressBytes >= 8 << 20 {
                progress(report.rowsRead - progressRows, progressBytes)
                progressRows = report.rowsRead
                progressBytes = 0
            }
        }
        try lines.take(block)
        if fatal == nil, let failure = handler.failure {
            if case .input(_, let message) = failure {
                fatal = CustomerHealthError.input(file: name, message: message)
            } else {
                fatal = failure
            }
        }
    }

    /// Reads the first line of the file (the header) and decodes it, before
    /// reading on from the middle.
    private func readHeaderLine<Decoder>(_ source: ByteSource, _ lines: LineSplitter<Decoder>) throws {
        let header = try source.headerLine(maxBytes: maxRowBytes)
        try header.withUnsafeBytes { try consume($0, lines) }
        try lines.endLineAtCR()
        if let fatal { throw fatal }
        guard !lines.decoder.awaitsHeader else {
            throw CustomerHealthError.input(file: name, message: "the header line could not be read again to resume")
        }
    }

    /// The end of what is there now, in watch mode: the complete lines and
    /// records were taken; the rest is left for the next read (a line ending
    /// in a CR at the very end too, as its LF may still come).
    private func endOfWholeRecords<Decoder>(_ lines: LineSplitter<Decoder>) -> Resume {
        lines.dropPartialLine()
        var next: Resume
        if let open = lines.decoder.openRecordStart {
            next = Resume(offset: open.offset, linesBefore: open.line)
        } else {
            next = Resume(offset: lines.streamOffset, linesBefore: lines.lineNumber)
        }
        if lines.skippingOverlongLine {
            next = Resume(offset: lines.streamOffset, linesBefore: lines.lineNumber, insideRejectedLine: true)
        }
        // No header yet (the first line is still being written): nothing taken.
        if lines.decoder.awaitsHeader { next = Resume(offset: 0, linesBefore: 0) }
        return next
    }

    /// Stops the read at a problem with the file itself (the first one stands).
    func stop(_ error: Error) {
        if fatal == nil { fatal = error }
    }

    // MARK: Rejects

    /// `counted`: the row is not yet in rowsRead. `placed`: the row reached
    /// its handler, so its shard is known (and is this one).
    func reject(
        line: Int, offset: Int, column: String?, code: RowRejection.Code, message: String, raw: [UInt8],
        counted: Bool = true,
        placed: Bool = false
    ) {
        // Records rejected before their fields were read have no customer to
        // place them by: in a sharded run they are shard 0's.
        if !placed, case .shard(let shard) = options.rows, !shard.ownsRowsWithoutCustomer {
            if !counted { report.rowsRead -= 1 }
            return
        }
        // Malformed records never reached the handler, so they are counted here.
        if counted { report.rowsRead += 1 }
        var line = line
        var offset = offset
        if let bucket = options.bucket {
            if loadedPositions == nil {
                do { loadedPositions = try bucket.positions() } catch { stop(error) }
            }
            if let map = loadedPositions { (line, offset) = map.original(offset: offset) }
        }
        if code == .unknownCustomer { report.rowsUnknownCustomer += 1 } else { report.rowsRejected += 1 }
        var rawText: String? = nil
        if includeRaw {
            var cut = Array(raw.prefix(1024))
            while let last = cut.last, last == 0x0A || last == 0x0D { cut.removeLast() }
            rawText = String(decoding: cut, as: UTF8.self)
        }
        report.rejects.append(
            RejectRecord(
                file: name, line: line, byteOffset: offset, column: column, code: code.rawValue, reason: message,
                raw: rawText))
    }
}

/// How much of a file one read takes, and what its CSV header is read for:
/// one value given to the reader at init, so that no setting can be
/// changed after another or against it.
enum ReadMode: Sendable {
    /// The whole file, to its end (a run). `pipelined`: the reading and
    /// inflating run on a thread of their own, so that one large file uses
    /// both cores.
    case whole(pipelined: Bool)
    /// Watch mode. A plain file is read on from `resume` (nil: its start) up
    /// to `stopAt` (nil: its end; else where an earlier read stopped, as when
    /// the state is rebuilt after a restart), and only to the end of its last
    /// complete line or record: a line without its newline, or a quoted field
    /// still open, is being written and is left for the next read. A gzip
    /// file is read whole (up to `stopAt`), never resumed part-way.
    /// `consumed` says where the next read starts.
    case watch(resume: InputFileReader.Resume?, stopAt: Int?)
    /// `train --table`: the whole file, with any CSV header, columns in header order.
    case anyColumns
    /// Only a CSV header's names (`capturedHeader`), to learn a table's columns.
    case headerOnly

    var resume: InputFileReader.Resume? {
        if case .watch(let resume, _) = self { return resume } else { return nil }
    }

    var stopAt: Int? {
        if case .watch(_, let stopAt) = self { return stopAt } else { return nil }
    }

    var csvColumns: CSVRecordDecoder.Columns {
        switch self {
        case .whole, .watch: return .contract
        case .anyColumns: return .any
        case .headerOnly: return .headerOnly
        }
    }
}

/// What the reads of a run share beyond each file's mode: whose rows they
/// count, what file a bucket file stands for, and progress.
struct ReadOptions {
    /// Which rows a read counts and rejects as its own.
    var rows: RowOwnership = .all
    /// Reading a bucket file of `partition`: the original file it stands for.
    var bucket: BucketOrigin? = nil
    /// Called every few MB of decompressed input with (rows, bytes) since the last call.
    var progress: (@Sendable (Int, Int) -> Void)? = nil
}

/// Which rows a read counts as its own. Every row still goes through the
/// handler, for what spans all customers (the newest activity day, ticket
/// versions, event names).
enum RowOwnership {
    /// All of them.
    case all
    /// In a sharded run, the shard reading: rows of other shards' customers
    /// are neither counted nor rejected here; their own shard counts them.
    case shard(ShardSpec)
    /// `partition`: each record that reaches the row handler goes to the
    /// splitter with its bucket, and then through the handler as another
    /// shard's row. Records rejected before that have no customer: they
    /// stay in the report.
    case partition(RecordSplitter)

    /// Every row, or in a sharded run the shard's.
    init(_ shard: ShardSpec?) {
        self = shard.map { .shard($0) } ?? .all
    }

    /// Whether `row` is this read's own, handing it to the splitter first
    /// when partitioning. `raw`: the record as written (only the splitter asks for it).
    @inline(__always)
    func owns(_ row: RowView, customerColumn: Int, raw: () -> [UInt8], line: Int, offset: Int) -> Bool {
        switch self {
        case .all:
            return true
        case .shard(let shard):
            return shard.ownsRow(customerField: row.field(customerColumn))
        case .partition(let splitter):
            splitter.record(
                raw(), line: line, offset: offset, bucket: ShardSpec.bucket(ofRowField: row.field(customerColumn)))
            return false
        }
    }
}

/// A bucket file of `partition` stands for its original file.
struct BucketOrigin {
    /// The original's name, in messages and rejects.
    var originalName: String
    /// Where the bucket file's records were in the original, for the
    /// rejects (loaded at the first reject).
    var positions: () throws -> PartitionPositions
}
