import Foundation

/// One record of an export, fields addressed by contract column index.
///
/// Valid only during the handler call: the bytes live in the reader's buffers.
struct RowView {
    let bytes: UnsafeRawBufferPointer
    let starts: UnsafeBufferPointer<Int>
    let ends: UnsafeBufferPointer<Int>
    /// Contract column index -> field index in this record, or -1 when absent.
    let columnMap: UnsafeBufferPointer<Int>
    /// Whether this run owns the row's customer: false only in a sharded
    /// run, for another shard's customer. Such a row may change only what
    /// spans all customers (ShardSpec), never a customer's totals or counts.
    var isOwned = true

    init(
        bytes: UnsafeRawBufferPointer, starts: UnsafeBufferPointer<Int>, ends: UnsafeBufferPointer<Int>,
        columnMap: UnsafeBufferPointer<Int>
    ) {
        self.bytes = bytes
        self.starts = starts
        self.ends = ends
        self.columnMap = columnMap
    }

    func owned(_ owned: Bool) -> RowView {
        var row = self
        row.isOwned = owned
        return row
    }

    @inline(__always)
    func field(_ column: Int) -> UnsafeRawBufferPointer {
        let index = columnMap[column]
        if index < 0 || index >= starts.count { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: bytes[starts[index]..<ends[index]])
    }

    @inline(__always)
    func has(_ column: Int) -> Bool { columnMap[column] >= 0 }
}

/// Why a row was not used: the column (by contract name) and a sentence.
struct RowRejection: Error {
    enum Code: String, Sendable {
        case badValue = "bad_value"
        case missingValue = "missing_value"
        case fieldCount = "field_count"
        case badQuoting = "bad_quoting"
        case rowTooLong = "row_too_long"
        case badJSON = "bad_json"
        case invalidUTF8 = "invalid_utf8"
        case unknownCustomer = "unknown_customer"
        case duplicate = "duplicate"
    }
    var column: String?
    var code: Code
    var message: String
}

/// Receives parsed rows of one export kind. Returning a rejection sends the row
/// to the rejects file; nothing is thrown across the C callbacks that call it.
protocol RowHandler: AnyObject {
    func handle(_ row: RowView, line: Int) -> RowRejection?
    /// Called once the file has been read completely.
    func finish()
    /// A problem that stops the whole run (checked after each block of rows).
    var failure: CustomerHealthError? { get }
}

extension RowHandler {
    func finish() {}
    var failure: CustomerHealthError? { nil }
}

/// A rejected row as it appears in rejects.jsonl.
public struct RejectRecord: Sendable {
    public var file: String
    public var line: Int
    public var byteOffset: Int
    public var column: String?
    public var code: String
    public var reason: String
    public var raw: String?

    func json() -> JSONValue {
        .object([
            ("file", .string(file)),
            ("line", .int(line)),
            ("byte_offset", .int(byteOffset)),
            ("column", .optionalString(column)),
            ("code", .string(code)),
            ("reason", .string(reason)),
            ("raw", .optionalString(raw)),
        ])
    }
}

extension RejectRecord {
    private struct Line: Decodable {
        var file: String
        var line: Int
        var byte_offset: Int
        var column: String?
        var code: String
        var reason: String
        var raw: String?
    }

    /// The rejects in a rejects.jsonl written by customer-health (a shard's,
    /// or a partition's records without a customer); none when it is absent.
    static func readLines(path: String) throws -> [RejectRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        var out: [RejectRecord] = []
        var number = 0
        for line in data.split(separator: 0x0A) {
            number += 1
            guard let r = try? decoder.decode(Line.self, from: Data(line)) else {
                throw CustomerHealthError.features(
                    file: path, line: number, message: "not a rejects line written by customer-health")
            }
            out.append(
                RejectRecord(
                    file: r.file, line: r.line, byteOffset: r.byte_offset, column: r.column, code: r.code,
                    reason: r.reason, raw: r.raw))
        }
        return out
    }
}

/// What reading one input file produced, for the manifest.
public struct FileReport: Sendable {
    public var export: ExportKind
    public var path: String
    public var name: String
    public var size: Int
    public var sha256: String
    public var rowsRead = 0
    public var rowsAccepted = 0
    public var rowsRejected = 0
    /// Rows about customers absent from accounts: in rejects, counted apart.
    public var rowsUnknownCustomer = 0
    public var skipped: String? = nil
    public var rejects: [RejectRecord] = []

    /// Which file this is (what shards and training parts must agree on): export, name, size, SHA-256, skipped.
    var identityJSON: JSONValue {
        .object([
            ("export", .string(export.rawValue)), ("file", .string(name)), ("size", .int(size)),
            ("sha256", sha256.isEmpty ? .null : .string(sha256)), ("skipped", .optionalString(skipped)),
        ])
    }
}
