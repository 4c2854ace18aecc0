import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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

/// Reads one input file from disk to rows: read(2) in 1 MiB blocks, SHA-256 of
/// the bytes as stored, gzip members inflated in turn, physical lines split
/// out and handed to libcsv (CSV) or to the JSON parser (JSONL).
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
    private(set) var report: FileReport

    // Line splitting state.
    private var carry: [UInt8] = []
    private var skippingOverlongLine = false
    private var lineNumber = 0
    private var streamOffset = 0
    private var sawFirstBytes = false

    // CSV state.
    private var csv: CSVRecordReader?
    private var headerSeen = false
    private var columnMap: [Int] = []
    private var headerFieldCount = 0
    private var headerNames: [String] = []
    private var fatal: Error?

    // JSONL state.
    private var jsonKeys: [String] = []
    /// Each key split at its dots, for keys that name a path into nested objects.
    private var jsonPaths: [[String]] = []
    private var jsonBytes: [UInt8] = []
    private var jsonStarts: [Int] = []
    private var jsonEnds: [Int] = []
    private var jsonMap: [Int] = []

    static func format(ofName name: String) -> (Format, Bool)? {
        let lower = name.lowercased()
        if lower.hasSuffix(".csv.gz") { return (.csv, true) }
        if lower.hasSuffix(".jsonl.gz") { return (.jsonl, true) }
        if lower.hasSuffix(".csv") { return (.csv, false) }
        if lower.hasSuffix(".jsonl") { return (.jsonl, false) }
        return nil
    }

    /// For `train --table`: read any header, columns in header order.
    var genericColumns: [String]? = nil
    /// Stop after the header (to learn a table's columns).
    var headerOnly = false
    private(set) var capturedHeader: [String]? = nil

    convenience init(path: String, settings: ExportSettings, handler: RowHandler, maxRowBytes: Int, includeRaw: Bool, genericColumns: [String]) throws {
        try self.init(path: path, settings: settings, handler: handler, maxRowBytes: maxRowBytes, includeRaw: includeRaw)
        self.genericColumns = genericColumns
    }

    init(path: String, settings: ExportSettings, handler: RowHandler, maxRowBytes: Int, includeRaw: Bool) throws {
        self.path = path
        self.name = (path as NSString).lastPathComponent
        self.settings = settings
        self.handler = handler
        self.maxRowBytes = maxRowBytes
        self.includeRaw = includeRaw
        guard let (format, compressed) = InputFileReader.format(ofName: name) else {
            throw CustomerHealthError.input(file: name, message: "unknown format: the name must end in .csv, .csv.gz, .jsonl or .jsonl.gz")
        }
        self.format = format
        self.compressed = compressed
        self.report = FileReport(export: settings.kind, path: path, name: name, size: 0, sha256: "")
        let keys = settings.kind.columns.map { settings.exportName(of: $0) }
        jsonKeys = keys
        jsonPaths = keys.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        jsonMap = Array(0..<keys.count)
    }

    /// When true, inflating runs on a thread of its own and hands blocks to
    /// the parsing thread through a small bounded queue, so that one large
    /// file uses both cores. The queue holds at most a few MiB.
    var pipelined = false
    /// Called every few MB of decompressed input with (rows, bytes) since the last call.
    var progress: (@Sendable (Int, Int) -> Void)?
    private var progressBytes = 0
    private var progressRows = 0

    /// Watch mode: a plain file read on from where an earlier read stopped.
    /// The header comes from the file's first line; rows start at `offset`,
    /// which follows `linesBefore` lines.
    struct Resume: Sendable, Equatable {
        var offset: Int
        var linesBefore: Int
        /// The read stopped inside a line already rejected as too long: skip to its end.
        var insideRejectedLine = false
    }
    var resume: Resume? = nil
    /// Watch mode: stop at the end of the last complete line (or record): a
    /// line without its newline, or a quoted field still open, is being
    /// written and is left for the next read.
    var wholeRecordsOnly = false
    /// Watch mode: read a plain file only up to this byte (where an earlier
    /// read stopped), as when the state is rebuilt after a restart.
    var stopAt: Int? = nil
    /// After read(): where the rows taken end, for the next resume.
    private(set) var consumed = Resume(offset: 0, linesBefore: 0)

    /// Reads the whole file. Row problems become rejects; problems with the
    /// file itself (missing, unreadable, corrupt gzip, bad header) throw.
    func read() throws -> FileReport {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let reason = errno == ENOENT
                ? "no longer exists: it was listed but deleted or moved before it could be read"
                : "cannot be opened: \(String(cString: strerror(errno)))"
            throw CustomerHealthError.input(file: name, message: reason)
        }
        defer { close(fd) }
        if format == .csv {
            csv = try CSVRecordReader(delimiter: settings.delimiter, maxRowBytes: maxRowBytes)
            csv?.onRecord = { [unowned self] reader in self.csvRecord(reader) }
            csv?.onMalformed = { [unowned self] line, offset, code, message, raw in
                self.reject(line: line, offset: offset, column: nil, code: code, message: message, raw: raw)
            }
        }
        if let resume, resume.offset > 0 {
            guard !compressed else {
                throw CustomerHealthError.input(file: name, message: "a gzip file is read whole, not resumed at byte \(resume.offset)")
            }
            if format == .csv { try readHeaderLine(fd: fd) } else { sawFirstBytes = true }
            guard lseek(fd, off_t(resume.offset), SEEK_SET) == off_t(resume.offset) else {
                throw CustomerHealthError.input(file: name, message: "cannot seek to byte \(resume.offset): \(String(cString: strerror(errno)))")
            }
            lineNumber = resume.linesBefore
            streamOffset = resume.offset
            skippingOverlongLine = resume.insideRejectedLine
        }
        let decoded: (size: Int, sha256: String)
        if pipelined && stopAt == nil {
            let pipe = BlockPipe(capacity: 8)
            let producer = BlockProducer(fd: fd, name: name, compressed: compressed, pipe: pipe)
            let thread = Thread { producer.run() }
            thread.stackSize = 1 << 20
            thread.start()
            defer { pipe.cancel(); producer.finished.wait() }
            var result: (Int, String)? = nil
            loop: while true {
                switch pipe.take() {
                case .block(let bytes):
                    try bytes.withUnsafeBytes { try consume($0) }
                    if let fatal { throw fatal }
                case .end(let size, let sha):
                    result = (size, sha)
                    break loop
                case .failure(let error):
                    throw error
                }
            }
            decoded = result!
        } else {
            let limit = stopAt.map { $0 - (resume?.offset ?? 0) }
            decoded = try InputFileReader.decode(fd: fd, name: name, compressed: compressed, limit: limit) { block in
                try self.consume(block)
                if let fatal = self.fatal { throw fatal }
            }
        }
        let start = resume?.offset ?? 0
        report.size = start + decoded.size
        // A resumed read hashed only the bytes after `start`: no file hash to report.
        report.sha256 = start > 0 ? "" : decoded.sha256
        if wholeRecordsOnly {
            try endOfWholeRecords()
            if let fatal { throw fatal }
            handler.finish()
            return report
        }
        if !compressed && decoded.size == 0 && format == .csv {
            throw CustomerHealthError.input(file: name, message: "the file is empty (0 bytes): expected a header row")
        }
        try endOfInput()
        if let fatal { throw fatal }
        handler.finish()
        progress?(report.rowsRead - progressRows, progressBytes)
        return report
    }

    /// read(2) in 1 MiB blocks, SHA-256 of the stored bytes, gzip members
    /// inflated in turn; `sink` gets the decompressed bytes.
    static func decode(fd: Int32, name: String, compressed: Bool, limit: Int? = nil,
                       sink: (UnsafeRawBufferPointer) throws -> Void) throws -> (size: Int, sha256: String) {
        var hasher = SHA256()
        let blockSize = 1 << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { block.deallocate() }
        let inflater: GzipInflater? = compressed ? try GzipInflater() : nil
        defer { inflater?.close() }
        var size = 0
        while true {
            let want = limit.map { min(blockSize, $0 - size) } ?? blockSize
            if want <= 0 { break }
            let n = Glibc.read(fd, block.baseAddress, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw CustomerHealthError.input(file: name, message: "read failed at byte \(size): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: block[0..<n])
            hasher.update(bufferPointer: chunk)
            size += n
            if let inflater {
                do {
                    try inflater.feed(chunk, sink: sink)
                } catch let error as GzipError {
                    throw CustomerHealthError.input(file: name, message: "corrupt gzip data at byte offset \(error.offset): \(error.detail)")
                }
            } else {
                try sink(chunk)
            }
        }
        if let inflater {
            do { try inflater.finish() } catch {
                switch error.kind {
                case .empty: throw CustomerHealthError.input(file: name, message: "the file is empty (0 bytes): expected gzip data with a header row")
                default: throw CustomerHealthError.input(file: name, message: "truncated gzip file at byte offset \(error.offset): \(error.detail)")
                }
            }
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    // MARK: Lines

    private func consume(_ data: UnsafeRawBufferPointer) throws {
        if let progress {
            progressBytes += data.count
            if progressBytes >= 8 << 20 {
                progress(report.rowsRead - progressRows, progressBytes)
                progressRows = report.rowsRead
                progressBytes = 0
            }
        }
        var start = 0
        let count = data.count
        if !sawFirstBytes && count > 0 {
            sawFirstBytes = true
            // A UTF-8 byte order mark is not part of the first column's name.
            if count >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
                start = 3
                streamOffset = 3
            }
        }
        guard let base = data.baseAddress else { return }
        while start < count {
            let remaining = count - start
            let found = memchr(base + start, 0x0A, remaining)
            if let found {
                let end = base.distance(to: UnsafeRawPointer(found)) + 1
                if skippingOverlongLine {
                    skippingOverlongLine = false
                    streamOffset += end - start
                    start = end
                    continue
                }
                if carry.isEmpty {
                    try line(UnsafeRawBufferPointer(rebasing: data[start..<end]))
                } else {
                    carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<end]))
                    let whole = carry
                    carry.removeAll(keepingCapacity: true)
                    try whole.withUnsafeBytes { try line($0) }
                }
                start = end
                if fatal != nil { return }
            } else {
                if !skippingOverlongLine {
                    carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<count]))
                    if carry.count > maxRowBytes {
                        try overlongLine()
                    }
                } else {
                    streamOffset += count - start
                }
                start = count
            }
        }
        if fatal == nil, let failure = handler.failure {
            if case .input(_, let message) = failure { fatal = CustomerHealthError.input(file: name, message: message) } else { fatal = failure }
        }
    }

    /// A partial line past the limit: reject it now and drop the rest of it as it arrives.
    private func overlongLine() throws {
        try rejectOverlong(length: carry.count, prefix: Array(carry.prefix(1024)))
        carry.removeAll(keepingCapacity: false)
        skippingOverlongLine = true
    }

    /// Rejects a physical line over the limit, whether or not it spans read blocks.
    private func rejectOverlong(length: Int, prefix: [UInt8]) throws {
        lineNumber += 1
        if format == .csv, let csv {
            try csv.rejectOverlongLine(number: lineNumber, offset: streamOffset, prefix: prefix)
        } else {
            reject(line: lineNumber, offset: streamOffset, column: nil, code: .rowTooLong,
                message: "line is longer than \(maxRowBytes) bytes", raw: prefix)
        }
        streamOffset += length
    }

    private func line(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count > maxRowBytes {
            try rejectOverlong(length: bytes.count, prefix: Array(bytes.prefix(1024)))
            return
        }
        lineNumber += 1
        let offset = streamOffset
        streamOffset += bytes.count
        switch format {
        case .csv: try csv!.feed(line: bytes, number: lineNumber, offset: offset)
        case .jsonl: jsonLine(bytes, number: lineNumber, offset: offset)
        }
    }

    /// Reads the first line of the file (the header) and parses it.
    private func readHeaderLine(fd: Int32) throws {
        var bytes: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 64 << 10)
        while !bytes.contains(0x0A) {
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += block[0..<n]
            if bytes.count > maxRowBytes { break }
        }
        guard let end = bytes.firstIndex(of: 0x0A) else {
            throw CustomerHealthError.input(file: name, message: "has no complete header line to resume after")
        }
        try bytes[...end].withUnsafeBytes { try consume($0) }
        if let fatal { throw fatal }
        guard headerSeen else {
            throw CustomerHealthError.input(file: name, message: "the header line could not be read again to resume")
        }
    }

    /// The end of what is there now, in watch mode: the complete lines and
    /// records were taken; the rest is left for the next read.
    private func endOfWholeRecords() throws {
        carry.removeAll()
        if format == .csv, let open = csv?.openRecordStart {
            consumed = Resume(offset: open.offset, linesBefore: open.line)
        } else {
            consumed = Resume(offset: streamOffset, linesBefore: lineNumber)
        }
        if skippingOverlongLine { consumed = Resume(offset: streamOffset, linesBefore: lineNumber, insideRejectedLine: true) }
        // No header yet (the first line is still being written): nothing taken.
        if format == .csv && !headerSeen { consumed = Resume(offset: 0, linesBefore: 0) }
    }

    private func endOfInput() throws {
        if !carry.isEmpty {
            let whole = carry
            carry.removeAll()
            try whole.withUnsafeBytes { try line($0) }
        }
        if format == .csv {
            try csv?.finish()
            if !headerSeen {
                throw CustomerHealthError.input(file: name, message: "has no header row: the first line must name the columns (\(settings.kind.columns.joined(separator: ",")))")
            }
        }
    }

    // MARK: CSV records

    private func csvRecord(_ reader: CSVRecordReader) {
        guard fatal == nil else { return }
        if !headerSeen {
            headerSeen = true
            readHeader(reader)
            return
        }
        report.rowsRead += 1
        if reader.fieldCount != headerFieldCount {
            reject(line: reader.recordStartLine, offset: reader.recordStartOffset, column: nil, code: .fieldCount,
                message: "expected \(headerFieldCount) fields as in the header, found \(reader.fieldCount)", raw: reader.rawText(), counted: false)
            return
        }
        let rejection: RowRejection? = reader.withFields { bytes, starts, ends in
            columnMap.withUnsafeBufferPointer { map in
                handler.handle(RowView(bytes: bytes, starts: starts, ends: ends, columnMap: map), line: reader.recordStartLine)
            }
        }
        if let rejection {
            reject(line: reader.recordStartLine, offset: reader.recordStartOffset, column: rejection.column.map(settings.exportName(of:)),
                code: rejection.code, message: rejection.message, raw: reader.rawText(), counted: false)
        } else {
            report.rowsAccepted += 1
        }
    }

    private struct HeaderOnlyStop: Error {}

    private func readHeader(_ reader: CSVRecordReader) {
        headerFieldCount = reader.fieldCount
        if genericColumns != nil {
            let names = (0..<reader.fieldCount).map { reader.fieldString($0).trimmingCharacters(in: .whitespaces) }
            capturedHeader = names
            columnMap = Array(0..<names.count)
            if headerOnly { fatal = HeaderOnlyStop() }
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
                if case .requiredByChurnDefinition = $0.header { return missing.contains($0.name) } else { return false }
            }
            let churnHint = churnColumns.map {
                " \($0.name) is read by the pipeline's churn definition (\($0.header.docText)); for exports without it, set `churn_definition` (docs/pipeline.md#churn_definition)."
            }.joined()
            let found = headerNames.joined(separator: ",")
            let delimiterHint = headerNames.count == 1 && found.contains(where: { $0 == ";" || $0 == "\t" })
                ? " The header looks like it uses another delimiter: set `delimiter` for this export in the pipeline file." : ""
            fatal = CustomerHealthError.input(
                file: name,
                message: "line 1: the header has no column \(missing.joined(separator: ", ")); found: \(found). Rename it in the export or map it with `columns:` in the pipeline file.\(delimiterHint)\(churnHint)")
        }
    }

    // MARK: JSONL records

    private func jsonLine(_ bytes: UnsafeRawBufferPointer, number: Int, offset: Int) {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D) { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        if FieldParser.isBlank(content) { return }
        report.rowsRead += 1
        guard FieldParser.isValidUTF8(content) else {
            reject(line: number, offset: offset, column: nil, code: .invalidUTF8, message: "the line is not valid UTF-8", raw: Array(content), counted: false)
            return
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(content), options: [])
        } catch {
            reject(line: number, offset: offset, column: nil, code: .badJSON, message: "not a JSON object: \(Self.jsonErrorText(error))", raw: Array(content), counted: false)
            return
        }
        guard let dict = object as? [String: Any] else {
            reject(line: number, offset: offset, column: nil, code: .badJSON, message: "expected one JSON object per line", raw: Array(content), counted: false)
            return
        }
        jsonBytes.removeAll(keepingCapacity: true)
        jsonStarts.removeAll(keepingCapacity: true)
        jsonEnds.removeAll(keepingCapacity: true)
        var map = jsonMap
        for (i, key) in jsonKeys.enumerated() {
            jsonStarts.append(jsonBytes.count)
            if var value = InputFileReader.value(in: dict, key: key, path: jsonPaths[i]) {
                // A one-element list stands for its element: Amplitude writes group ids
                // as lists, Mixpanel as a value or a list.
                if let list = value as? [Any], list.count == 1, !(list[0] is [Any]), !(list[0] is [String: Any]) { value = list[0] }
                switch value {
                case is NSNull: break
                case let s as String: jsonBytes.append(contentsOf: s.utf8)
                case let list as [Any]:
                    reject(line: number, offset: offset, column: key, code: .badValue,
                        message: "\(key) is a list of \(list.count) values, not one value; map one element with a path such as \(key).0", raw: Array(content), counted: false)
                    return
                case is [String: Any]:
                    reject(line: number, offset: offset, column: key, code: .badValue,
                        message: "\(key) is an object, not a value; map the value inside it with a dotted path such as \(key).id", raw: Array(content), counted: false)
                    return
                case let n as NSNumber:
                    // Foundation on Linux hands JSON true/false back as NSNumber of type "c".
                    if String(cString: n.objCType) == "c" {
                        jsonBytes.append(contentsOf: (n.boolValue ? "true" : "false").utf8)
                    } else {
                        jsonBytes.append(contentsOf: n.description.utf8)
                    }
                default:
                    jsonBytes.append(contentsOf: String(describing: value).utf8)
                }
            } else {
                map[i] = -1
            }
            jsonEnds.append(jsonBytes.count)
        }
        for (i, column) in settings.kind.columns.enumerated() where map[i] < 0 && settings.requiredColumns.contains(column) {
            let key = settings.exportName(of: column)
            reject(line: number, offset: offset, column: key, code: .missingValue, message: "the object has no key \"\(key)\"", raw: Array(content), counted: false)
            return
        }
        let rejection: RowRejection? = jsonBytes.withUnsafeBytes { b in
            jsonStarts.withUnsafeBufferPointer { s in
                jsonEnds.withUnsafeBufferPointer { e in
                    map.withUnsafeBufferPointer { m in
                        handler.handle(RowView(bytes: b, starts: s, ends: e, columnMap: m), line: number)
                    }
                }
            }
        }
        if let rejection {
            reject(line: number, offset: offset, column: rejection.column.map(settings.exportName(of:)), code: rejection.code, message: rejection.message, raw: Array(content), counted: false)
        } else {
            report.rowsAccepted += 1
        }
    }

    /// The value under `key`: the key itself when the object has it, else
    /// the path of its dot-separated parts through nested objects (and
    /// arrays, by a whole-number part such as `groups.company.0`).
    static func value(in dict: [String: Any], key: String, path: [String]) -> Any? {
        if let v = dict[key] { return v }
        guard path.count > 1 else { return nil }
        var current: Any = dict
        for part in path {
            if let d = current as? [String: Any], let v = d[part] {
                current = v
            } else if let a = current as? [Any], let i = Int(part), i >= 0, i < a.count {
                current = a[i]
            } else {
                return nil
            }
        }
        return current
    }

    private static func jsonErrorText(_ error: Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        return text ?? "the JSON parser could not read it"
    }

    // MARK: Rejects

    private func reject(line: Int, offset: Int, column: String?, code: RowRejection.Code, message: String, raw: [UInt8], counted: Bool = true) {
        // Malformed records never reached the handler, so they are counted here.
        if counted { report.rowsRead += 1 }
        if code == .unknownCustomer { report.rowsUnknownCustomer += 1 } else { report.rowsRejected += 1 }
        var rawText: String? = nil
        if includeRaw {
            var cut = Array(raw.prefix(1024))
            while let last = cut.last, last == 0x0A || last == 0x0D { cut.removeLast() }
            rawText = String(decoding: cut, as: UTF8.self)
        }
        report.rejects.append(
            RejectRecord(file: name, line: line, byteOffset: offset, column: column, code: code.rawValue, reason: message, raw: rawText))
    }
}

/// A bounded queue of decompressed blocks between the inflating thread and
/// the parsing thread. A full queue blocks the producer: memory stays bounded.
final class BlockPipe: @unchecked Sendable {
    enum Item { case block([UInt8]), end(Int, String), failure(Error) }
    private let condition = NSCondition()
    private var items: [Item] = []
    private let capacity: Int
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// False when the consumer has gone away.
    func put(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func take() -> Item {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// The inflating side of a pipelined read.
final class BlockProducer: @unchecked Sendable {
    let fd: Int32
    let name: String
    let compressed: Bool
    let pipe: BlockPipe
    let finished = DispatchSemaphore(value: 0)

    init(fd: Int32, name: String, compressed: Bool, pipe: BlockPipe) {
        self.fd = fd
        self.name = name
        self.compressed = compressed
        self.pipe = pipe
    }

    struct Cancelled: Error {}

    func run() {
        defer { finished.signal() }
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 18)
        do {
            let result = try InputFileReader.decode(fd: fd, name: name, compressed: compressed) { block in
                pending.append(contentsOf: block)
                if pending.count >= 1 << 18 {
                    guard pipe.put(.block(pending)) else { throw Cancelled() }
                    pending = []
                    pending.reserveCapacity(1 << 18)
                }
            }
            if !pending.isEmpty { guard pipe.put(.block(pending)) else { return } }
            _ = pipe.put(.end(result.size, result.sha256))
        } catch is Cancelled {
            return
        } catch {
            _ = pipe.put(.failure(error))
        }
    }
}
