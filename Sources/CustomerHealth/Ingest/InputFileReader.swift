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
/// A physical line ends at LF, at CRLF (one line end) or at a CR not followed
/// by LF (old Mac exports): the same bytes libcsv ends an unquoted record at,
/// so that line numbers, byte offsets and the records agree whatever the
/// file uses. Only regular files (or symlinks to them) are opened, never
/// blocking (a FIFO would block open(2) until a writer came).
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
    /// `carry` is a whole line ending in a CR that ended a read block: an LF
    /// at the start of the next block belongs to the same line end.
    private var carryEndsWithCR = false
    private var skippingOverlongLine = false
    /// The overlong line being skipped ended in a CR that ended a block: skip an LF after it.
    private var skipLFAfterCR = false
    private var lineNumber = 0
    private var streamOffset = 0
    private var sawFirstBytes = false
    /// The first bytes of the stream, while fewer than 3 of them have come
    /// (a block can be that short, e.g. a gzip member of 1 byte): enough to
    /// tell a byte-order mark.
    private var bomProbe: [UInt8] = []

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

    /// `displayName`: the file's name in messages and rejects when it is not the
    /// path's own (a bucket file of `partition` stands for its original).
    init(path: String, settings: ExportSettings, handler: RowHandler, maxRowBytes: Int, includeRaw: Bool, displayName: String? = nil) throws {
        self.path = path
        self.name = displayName ?? (path as NSString).lastPathComponent
        self.settings = settings
        self.handler = handler
        self.maxRowBytes = maxRowBytes
        self.includeRaw = includeRaw
        guard let (format, compressed) = InputFileReader.format(ofName: (path as NSString).lastPathComponent) else {
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
    /// In a sharded run, the shard reading: rows of other shards' customers
    /// still go through the handler (for what spans all customers: the
    /// newest activity day, ticket versions, event names) but are neither
    /// counted nor rejected here; their own shard counts them.
    var shard: ShardSpec? = nil
    /// `partition`: each record that reaches the row handler goes to the
    /// splitter with its bucket, and then through the handler as another
    /// shard's row (what spans all customers is all it changes). Records
    /// rejected before that have no customer: they stay in the report.
    var splitter: RecordSplitter? = nil
    /// Reading a bucket file of `partition`: where its records were in the
    /// original file, for the rejects (loaded at the first reject).
    var positions: (() throws -> PartitionPositions)? = nil
    private var loadedPositions: PartitionPositions? = nil
    /// The contract column holding the customer id (ownership of a row).
    private lazy var customerColumn: Int = settings.kind.contract.columns.firstIndex { $0.name == "customer_id" } ?? 0
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
        let fd = try InputFileReader.openRegularFile(path: path, name: name)
        defer { close(fd) }
        if format == .csv {
            csv = try CSVRecordReader(delimiter: settings.delimiter, maxRowBytes: maxRowBytes)
            csv?.onRecord = { [unowned self] reader in self.csvRecord(reader) }
            csv?.onMalformed = { [unowned self] problem in
                // Before the header, the header itself is what cannot be read:
                // the file stops there (the next line is not a header).
                guard self.headerSeen else {
                    if self.fatal == nil { self.fatal = self.headerProblem(problem) }
                    return
                }
                self.reject(line: problem.line, offset: problem.offset, column: nil, code: problem.code, message: problem.message, raw: problem.raw)
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

    /// Opens `path` for reading when it is a regular file or a symlink to
    /// one, and throws an input error naming the file otherwise: a FIFO, a
    /// socket, a device or a directory matched by a glob is an unreadable file
    /// (exit 3, or skipped under `on_corrupt_file: skip`). stat(2) first, so
    /// that nothing else is ever opened (opening a FIFO blocks until a writer
    /// comes; opening a device can do things); then open(2) with O_NONBLOCK
    /// and fstat(2) of what was opened, in case the name was replaced in
    /// between; then O_NONBLOCK is cleared.
    static func openRegularFile(path: String, name: String) throws -> Int32 {
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            var link = stat()
            if e == ENOENT, lstat(path, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw CustomerHealthError.input(file: name, message: "cannot be opened: it is a symlink to \(target), which does not exist")
            }
            throw CustomerHealthError.input(file: name, message: e == ENOENT
                ? "no longer exists: it was listed but deleted or moved before it could be read"
                : "cannot be opened: \(String(cString: strerror(e)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path: path, name: name, mode: st.st_mode) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            throw CustomerHealthError.input(file: name, message: e == ENOENT
                ? "no longer exists: it was listed but deleted or moved before it could be read"
                : "cannot be opened: \(String(cString: strerror(e)))")
        }
        var opened = stat()
        guard fstat(fd, &opened) == 0 else {
            let e = errno
            close(fd)
            throw CustomerHealthError.input(file: name, message: "cannot be read: fstat failed: \(String(cString: strerror(e)))")
        }
        guard (opened.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw notRegular(path: path, name: name, mode: opened.st_mode)
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return fd
    }

    private static func notRegular(path: String, name: String, mode: mode_t) -> CustomerHealthError {
        let what: String
        switch mode & S_IFMT {
        case S_IFIFO: what = "a FIFO (named pipe)"
        case S_IFSOCK: what = "a socket"
        case S_IFCHR: what = "a character device"
        case S_IFBLK: what = "a block device"
        case S_IFDIR: what = "a directory"
        default: what = "a special file"
        }
        var link = stat()
        let viaLink = lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK
        let target = viaLink ? " (\((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"))" : ""
        return CustomerHealthError.input(file: name,
            message: "is \(viaLink ? "a symlink to " : "")\(what)\(target), not a regular file: only regular files and symlinks to them are read")
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
        if !sawFirstBytes {
            // A UTF-8 byte order mark is not part of the first column's name.
            // It may come split over blocks: hold the first bytes until three.
            let take = min(3 - bomProbe.count, data.count)
            bomProbe.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<take]))
            if bomProbe.count < 3 && bomProbe.elementsEqual(InputFileReader.bom.prefix(bomProbe.count)) { return }
            try endBOMProbe()
            try split(UnsafeRawBufferPointer(rebasing: data[take...]))
        } else {
            try split(data)
        }
        if fatal == nil, let failure = handler.failure {
            if case .input(_, let message) = failure { fatal = CustomerHealthError.input(file: name, message: message) } else { fatal = failure }
        }
    }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The first bytes are known: skip a byte-order mark, or read them as text.
    private func endBOMProbe() throws {
        sawFirstBytes = true
        let probe = bomProbe
        bomProbe = []
        if probe == InputFileReader.bom {
            streamOffset += 3
        } else {
            try probe.withUnsafeBytes { try split($0) }
        }
    }

    /// Splits decompressed bytes into physical lines (ending at LF, CRLF or
    /// a lone CR) and hands each to `line`. A line that goes on past the
    /// block waits in `carry`; so does one ending in a CR that ends the block,
    /// until the next block tells whether an LF follows.
    private func split(_ data: UnsafeRawBufferPointer) throws {
        guard let base = data.baseAddress, data.count > 0 else { return }
        let count = data.count
        var start = 0
        if carryEndsWithCR {
            carryEndsWithCR = false
            if base.load(as: UInt8.self) == 0x0A {
                carry.append(0x0A)
                start = 1
            }
            try lineFromCarry()
            if fatal != nil { return }
        } else if skipLFAfterCR {
            skipLFAfterCR = false
            if base.load(as: UInt8.self) == 0x0A {
                streamOffset += 1
                start = 1
            }
        }
        // Where the next LF and CR are (count: none in the rest of the block),
        // found with memchr and kept until passed, so that a file without CRs
        // (or LFs) is not searched for them again on every line.
        var nextLF = -1
        var nextCR = -1
        while start < count {
            let first = base.load(fromByteOffset: start, as: UInt8.self)
            if (first == 0x0A || first == 0x0D) && carry.isEmpty && !skippingOverlongLine {
                if recordsIdle {
                    // Blank lines between records: counted, not parsed. libcsv would skip them.
                    let end = InputFileReader.blankRun(base, from: start, count: count, lines: &lineNumber)
                    if end > start {
                        streamOffset += end - start
                        start = end
                        continue
                    }
                    // Only a CR at the end of the block: the general case below holds it.
                } else if let csv {
                    // Line breaks inside a quoted field: one call to libcsv for the run.
                    var lines = 0
                    let end = InputFileReader.blankRun(base, from: start, count: count, lines: &lines)
                    if end > start,
                       try csv.feedLineBreaks(UnsafeRawBufferPointer(rebasing: data[start..<end]), firstNumber: lineNumber + 1, offset: streamOffset) {
                        lineNumber += lines
                        streamOffset += end - start
                        start = end
                        if fatal != nil { return }
                        continue
                    }
                }
            }
            if nextLF < start { nextLF = InputFileReader.find(0x0A, base, from: start, count: count) }
            if nextCR < start { nextCR = InputFileReader.find(0x0D, base, from: start, count: count) }
            let end: Int
            if nextCR < nextLF {
                guard nextCR + 1 < count else {
                    // A CR ends the block: whether an LF follows is for the next block to say.
                    if skippingOverlongLine {
                        skippingOverlongLine = false
                        skipLFAfterCR = true
                        streamOffset += count - start
                    } else {
                        carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<count]))
                        carryEndsWithCR = true
                    }
                    return
                }
                end = nextCR + 1 == nextLF ? nextLF + 1 : nextCR + 1
            } else if nextLF < count {
                end = nextLF + 1
            } else {
                // No line end in the rest of the block.
                if !skippingOverlongLine {
                    carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<count]))
                    if carry.count > maxRowBytes {
                        try overlongLine()
                    }
                } else {
                    streamOffset += count - start
                }
                return
            }
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
                try lineFromCarry()
            }
            start = end
            if fatal != nil { return }
        }
    }

    /// True when no record is open: a blank line is then nothing but a line.
    private var recordsIdle: Bool { format == .jsonl || csv?.isIdle == true }

    private func lineFromCarry() throws {
        let whole = carry
        carry.removeAll(keepingCapacity: true)
        try whole.withUnsafeBytes { try line($0) }
    }

    @inline(__always)
    private static func find(_ byte: UInt8, _ base: UnsafeRawPointer, from: Int, count: Int) -> Int {
        guard let p = memchr(base + from, Int32(byte), count - from) else { return count }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// The end of the run of line breaks at `from`, counting its lines (LF,
    /// CRLF and CR each end one). Stops before a CR that is the block's last
    /// byte. Eight bytes at a time through runs of one kind.
    @inline(__always)
    private static func blankRun(_ base: UnsafeRawPointer, from: Int, count: Int, lines: inout Int) -> Int {
        let lf8: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        let cr8: UInt64 = 0x0D0D_0D0D_0D0D_0D0D
        let crlf4: UInt64 = 0x0A0D_0A0D_0A0D_0A0D  // "\r\n" four times, little-endian
        var i = from
        var n = 0
        while i < count {
            if i + 8 < count {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                if word == lf8 { n += 8; i += 8; continue }
                if word == crlf4 { n += 4; i += 8; continue }
                if word == cr8 {
                    // Eight line ends; the last CR's may be a CRLF (i + 8 < count: its next byte is here).
                    n += 8; i += 8
                    if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { i += 1 }
                    continue
                }
            }
            let b = base.load(fromByteOffset: i, as: UInt8.self)
            if b == 0x0A {
                n += 1; i += 1
            } else if b == 0x0D {
                guard i + 1 < count else { break }
                n += 1
                i += base.load(fromByteOffset: i + 1, as: UInt8.self) == 0x0A ? 2 : 1
            } else {
                break
            }
        }
        lines += n
        return i
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
        var end: Int? = nil
        while true {
            // The header ends at its first LF, CRLF or lone CR (a CR needs the byte after it).
            if let i = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
                if bytes[i] == 0x0A { end = i; break }
                if i + 1 < bytes.count { end = bytes[i + 1] == 0x0A ? i + 1 : i; break }
            }
            if bytes.count > maxRowBytes { break }
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                // The end of the file: a CR as its last byte still ends the line.
                if let i = bytes.firstIndex(of: 0x0D), i == bytes.count - 1 { end = i }
                break
            }
            bytes += block[0..<n]
        }
        guard let end else {
            throw CustomerHealthError.input(file: name, message: "has no complete header line to resume after")
        }
        try bytes[...end].withUnsafeBytes { try consume($0) }
        if carryEndsWithCR {
            // The line is known to end there: no LF follows its CR.
            carryEndsWithCR = false
            try lineFromCarry()
        }
        if let fatal { throw fatal }
        guard headerSeen else {
            throw CustomerHealthError.input(file: name, message: "the header line could not be read again to resume")
        }
    }

    /// The end of what is there now, in watch mode: the complete lines and
    /// records were taken; the rest is left for the next read (a line ending
    /// in a CR at the very end too, as its LF may still come).
    private func endOfWholeRecords() throws {
        carry.removeAll()
        carryEndsWithCR = false
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
        if !sawFirstBytes && !bomProbe.isEmpty {
            // Fewer than three bytes in all, the start of a byte-order mark: text after all.
            try endBOMProbe()
        }
        carryEndsWithCR = false
        skipLFAfterCR = false
        if !carry.isEmpty {
            try lineFromCarry()
        }
        if format == .csv {
            try csv?.finish()
            if fatal != nil { return }
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
            if fatal == nil { splitter?.header(reader.rawText()) }
            return
        }
        if reader.fieldCount != headerFieldCount {
            reject(line: reader.recordStartLine, offset: reader.recordStartOffset, column: nil, code: .fieldCount,
                message: "expected \(headerFieldCount) fields as in the header, found \(reader.fieldCount)", raw: reader.rawText())
            return
        }
        var owned = true
        let rejection: RowRejection? = reader.withFields { bytes, starts, ends in
            columnMap.withUnsafeBufferPointer { map in
                let row = RowView(bytes: bytes, starts: starts, ends: ends, columnMap: map)
                if let splitter {
                    splitter.record(reader.rawText(), line: reader.recordStartLine, offset: reader.recordStartOffset,
                        bucket: ShardSpec.bucket(ofRowField: row.field(customerColumn)))
                    owned = false
                } else if let shard {
                    owned = shard.ownsRow(customerField: row.field(customerColumn))
                }
                return handler.handle(row.owned(owned), line: reader.recordStartLine)
            }
        }
        guard owned else { return }
        report.rowsRead += 1
        if let rejection {
            reject(line: reader.recordStartLine, offset: reader.recordStartOffset, column: rejection.column.map(settings.exportName(of:)),
                code: rejection.code, message: rejection.message, raw: reader.rawText(), counted: false, placed: true)
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
            // A header "record" over several lines is most often a quote never closed on the header line.
            var spanHint = ""
            if reader.recordLineCount > 1 {
                let first = reader.recordFirstLine()
                let at = CSVRecordReader.openingQuote(in: first, delimiter: settings.delimiter)
                spanHint = " The header runs over lines \(reader.recordStartLine)-\(reader.recordStartLine + reader.recordLineCount - 1)"
                    + (at.map { ": the quote at line \(reader.recordStartLine), column \($0 + 1) (byte offset \(reader.recordStartOffset + $0)) opens a field that closes only on a later line" } ?? "")
                    + "; the header line is: \(Self.lineText(first))."
            }
            fatal = CustomerHealthError.input(
                file: name,
                message: "line \(reader.recordStartLine): the header has no column \(missing.joined(separator: ", ")); found: \(found). Rename it in the export or map it with `columns:` in the pipeline file.\(delimiterHint)\(churnHint)\(spanHint)")
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
            message = "line \(p.line): the header line is longer than \(maxRowBytes) bytes (max_row_bytes), so it cannot be read; it begins: \(text)"
        case .stoppedAt(let i):
            if i < p.raw.count && p.raw[i] == quote && !(p.raw[..<i].last(where: { $0 != 0x20 && $0 != 0x09 }) == quote) {
                message = "\(at(i)): malformed quoting in the header: a quote inside a field that does not start with one (RFC 4180: quote the whole name and double the quote, or remove it); the header line is: \(text)"
            } else {
                // Text after the quote that closed a quoted field: point at that quote.
                let closing = p.raw[..<min(i, p.raw.count)].lastIndex(of: quote) ?? i
                message = "\(at(closing)): malformed quoting in the header: the quote here closes a quoted field, but text follows it at column \(i + 1) (RFC 4180: a quoted field ends at its closing quote); the header line is: \(text)"
            }
        case .unclosedQuote:
            let why = p.code == .rowTooLong
                ? "it would run on past max_row_bytes (\(maxRowBytes) bytes)" : p.message
            if let i = CSVRecordReader.openingQuote(in: p.raw, delimiter: settings.delimiter) {
                message = "\(at(i)): malformed quoting in the header: the quote here opens a field that is not closed on the header line, so the header would swallow the rows after it (\(why)); the header line is: \(text)"
            } else {
                message = "line \(p.line): malformed quoting in the header: a quote opens a field that is not closed on the header line (\(why)); the header line is: \(text)"
            }
        }
        return CustomerHealthError.input(file: name, message: message)
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
        var owned = true
        let rejection: RowRejection? = jsonBytes.withUnsafeBytes { b in
            jsonStarts.withUnsafeBufferPointer { s in
                jsonEnds.withUnsafeBufferPointer { e in
                    map.withUnsafeBufferPointer { m in
                        let row = RowView(bytes: b, starts: s, ends: e, columnMap: m)
                        if let splitter {
                            splitter.record(Array(bytes), line: number, offset: offset, bucket: ShardSpec.bucket(ofRowField: row.field(customerColumn)))
                            owned = false
                        } else if let shard {
                            owned = shard.ownsRow(customerField: row.field(customerColumn))
                        }
                        return handler.handle(row.owned(owned), line: number)
                    }
                }
            }
        }
        guard owned else {
            report.rowsRead -= 1
            return
        }
        if let rejection {
            reject(line: number, offset: offset, column: rejection.column.map(settings.exportName(of:)), code: rejection.code, message: rejection.message, raw: Array(content), counted: false, placed: true)
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

    /// `counted`: the row is not yet in rowsRead. `placed`: the row reached
    /// its handler, so its shard is known (and is this one).
    private func reject(line: Int, offset: Int, column: String?, code: RowRejection.Code, message: String, raw: [UInt8], counted: Bool = true,
                        placed: Bool = false) {
        // Records rejected before their fields were read have no customer to
        // place them by: in a sharded run they are shard 0's.
        if !placed, let shard, !shard.ownsRowsWithoutCustomer {
            if !counted { report.rowsRead -= 1 }
            return
        }
        // Malformed records never reached the handler, so they are counted here.
        if counted { report.rowsRead += 1 }
        var line = line
        var offset = offset
        if let positions {
            if loadedPositions == nil {
                do { loadedPositions = try positions() } catch { if fatal == nil { fatal = error } }
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
