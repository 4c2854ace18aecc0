import Foundation
@testable import CustomerHealth

/// What one read of an export file gave.
public struct ReadOutcome: Equatable, CustomStringConvertible {
    public var rowsRead = 0
    public var rowsAccepted = 0
    public var rowsRejected = 0
    public var rowsUnknownCustomer = 0
    public var rejectCodes: [String] = []
    /// The error `read()` threw (a problem with the file itself), if any.
    public var error: String?
    /// After a watch-mode read: where the next read starts.
    public var consumedOffset = 0
    public var consumedLines = 0
    public var consumedInsideRejectedLine = false

    public var description: String {
        "read \(rowsRead), accepted \(rowsAccepted), rejected \(rowsRejected), unknown \(rowsUnknownCustomer), codes \(rejectCodes), error \(error ?? "none")"
    }
}

/// The export reading path as a run (or the watch mode) uses it:
/// `InputFileReader` with the real row handler of the export, under the
/// settings of a real pipeline file (pipelines/nightly.yaml and every
/// pipelines/examples/*.yaml: their column maps, JSONL key paths, timestamp
/// formats, delimiters, event vocabularies and churn definitions).
public enum IngestHarness {
    struct Setup {
        let name: String
        let config: PipelineConfig
    }

    static let setups: [Setup] = {
        let repo = FuzzSupport.repository
        var paths = [(repo as NSString).appendingPathComponent("pipelines/nightly.yaml")]
        let examples = (repo as NSString).appendingPathComponent("pipelines/examples")
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []).sorted() where name.hasSuffix(".yaml") {
            paths.append((examples as NSString).appendingPathComponent(name))
        }
        var out: [Setup] = []
        for path in paths {
            do {
                out.append(Setup(name: (path as NSString).lastPathComponent, config: try PipelineConfig.load(path: path)))
            } catch {
                FileHandle.standardError.write(Data("fuzz: skipping \(path): \(error)\n".utf8))
            }
        }
        if out.isEmpty {
            // Outside the repository: the built-in defaults.
            out.append(Setup(name: "defaults", config: try! PipelineConfig.parse(text: "input: exports\n", file: "defaults.yaml", baseDirectory: "/")))
        }
        return out
    }()

    public static var setupCount: Int { setups.count }
    public static func setupName(_ i: Int) -> String { setups[i % setups.count].name }

    static let directory: CustomerDirectory = {
        var table = ByteKeyTable(capacity: 64)
        for id in FuzzSupport.customerIDs { _ = table.findOrInsert(id) }
        return CustomerDirectory(table: table, count: FuzzSupport.customerIDs.count)
    }()

    public static let kindNames = ExportKind.allCases.map(\.rawValue)

    /// Reads the file at `path` as an export of kind `kind` (index into
    /// `ExportKind.allCases`) under pipeline setup `setup`.
    /// - smallRows: max_row_bytes 1024 (the pipeline's minimum) instead of the setup's.
    /// - watch: the watch mode's read (whole records only), resumed at `resume` when given.
    public static func read(path: String, setup: Int, kind: Int, smallRows: Bool,
                            watch: Bool = false, resume: (offset: Int, lines: Int, insideRejectedLine: Bool)? = nil) -> ReadOutcome {
        let config = setups[setup % setups.count].config
        let kind = ExportKind.allCases[kind % ExportKind.allCases.count]
        let settings = config.exportSettings(kind)
        let fieldReader = FieldReader(settings: settings, dateFormat: config.dateFormat)
        let handler: RowHandler
        if kind == .accounts {
            handler = AccountsRowHandler(reader: fieldReader, seen: [])
        } else {
            let context = RowHandlerContext(reader: fieldReader, customers: directory,
                accumulator: IngestAccumulator(customerCount: directory.count), fileRank: 0, events: config.events,
                registry: ProductEventRegistry())
            handler = kind.makeHandler(context)!
        }
        var outcome = ReadOutcome()
        do {
            let mode: ReadMode = watch
                ? .watch(resume: resume.map { InputFileReader.Resume(offset: $0.offset, linesBefore: $0.lines, insideRejectedLine: $0.insideRejectedLine) }, stopAt: nil)
                : .whole(pipelined: false)
            let reader = try InputFileReader(path: path, settings: settings, handler: handler,
                maxRowBytes: smallRows ? 1024 : config.maxRowBytes, includeRaw: true, mode: mode)
            let report = try reader.read()
            outcome.rowsRead = report.rowsRead
            outcome.rowsAccepted = report.rowsAccepted
            outcome.rowsRejected = report.rowsRejected
            outcome.rowsUnknownCustomer = report.rowsUnknownCustomer
            outcome.rejectCodes = report.rejects.map(\.code)
            for r in report.rejects {
                require(r.line >= 1 && r.byteOffset >= 0, "reject at line \(r.line), byte \(r.byteOffset)")
                _ = r.json().serialized()
            }
            // Every row read is accepted, rejected or about an unknown customer.
            require(report.rowsRead == report.rowsAccepted + report.rowsRejected + report.rowsUnknownCustomer,
                "row counts do not add up: \(outcome)")
            require(report.rejects.count == report.rowsRejected + report.rowsUnknownCustomer,
                "\(report.rejects.count) reject records for \(report.rowsRejected + report.rowsUnknownCustomer) rejected rows")
            outcome.consumedOffset = reader.consumed.offset
            outcome.consumedLines = reader.consumed.linesBefore
            outcome.consumedInsideRejectedLine = reader.consumed.insideRejectedLine
        } catch let error as CustomerHealthError {
            outcome.error = "\(error)"
        } catch {
            fatalError("read() threw something other than a CustomerHealthError: \(type(of: error)): \(error)")
        }
        if kind == .accounts, let accounts = handler as? AccountsRowHandler {
            for (_, record) in accounts.records { _ = record.customerID.utf8.count }
        }
        return outcome
    }
}

extension IngestHarness {
    /// The file with its first line, then enough empty lines that the bytes
    /// after the first line start `straddle` bytes before the 1 MiB mark,
    /// where InputFileReader's first read block ends (and the gzip path's
    /// fourth 256 KiB block): whatever follows crosses a block boundary.
    /// Empty lines are skipped by both readers, so the rows must read the
    /// same. Nil when there is no first line end, or (CSV) the first line
    /// holds a quote (the empty lines could land inside a quoted field).
    public static func padded(_ bytes: UnsafeRawBufferPointer, straddle: Int, csv: Bool) -> [UInt8]? {
        guard let end = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) else { return nil }
        let headerEnd = end + 1
        if csv && bytes[0..<headerEnd].contains(UInt8(ascii: "\"")) { return nil }
        let filler = (1 << 20) - headerEnd - straddle
        guard filler > 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + filler)
        out.append(contentsOf: bytes[0..<headerEnd])
        out.append(contentsOf: repeatElement(0x0A, count: filler))
        out.append(contentsOf: bytes[headerEnd...])
        return out
    }

    /// Writes `bytes` gzipped (by the library's GzipFileWriter) to scratch/<name> and returns the path.
    public static func writeGzip(_ name: String, _ bytes: [UInt8]) -> String {
        let path = (FuzzSupport.scratch as NSString).appendingPathComponent(name)
        do {
            let writer = try GzipFileWriter(path: path, level: 1)
            try writer.write(bytes: bytes)
            try writer.close()
        } catch {
            fatalError("GzipFileWriter: \(error)")
        }
        return path
    }
}

extension ReadOutcome {
    /// The same rows read, accepted and rejected (with the same codes), and a failure or not: what the
    /// line numbers and byte offsets aside must not depend on how the bytes reach the reader.
    public func sameRows(as other: ReadOutcome) -> Bool {
        rowsRead == other.rowsRead && rowsAccepted == other.rowsAccepted && rowsRejected == other.rowsRejected
            && rowsUnknownCustomer == other.rowsUnknownCustomer && rejectCodes == other.rejectCodes && (error == nil) == (other.error == nil)
    }
}
