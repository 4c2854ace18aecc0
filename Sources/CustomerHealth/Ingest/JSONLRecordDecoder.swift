import Foundation

/// The JSONL layer of reading an input file: each physical line holds one
/// JSON object, whose values under the export's keys (a key may be a dotted
/// path into nested objects and arrays) become the fields of a `RowView` for
/// the row handler. A line that is not valid UTF-8, not one JSON object, or
/// lacks a required key is rejected; blank lines are skipped.
final class JSONLRecordDecoder: RecordDecoder {
    /// The read this decoder belongs to: rows are counted, and rejects reported, there.
    private let file: InputFileReader
    private let settings: ExportSettings
    private let handler: RowHandler
    private let rows: RowOwnership
    private let customerColumn: Int

    /// Per contract column, the key the export uses.
    private let keys: [String]
    /// Each key split at its dots, for keys that name a path into nested objects.
    private let paths: [[String]]
    /// Per contract column, its field (all of them; -1 where a line lacks the key).
    private let keyMap: [Int]
    // The fields of the line being decoded, as text.
    private var fieldBytes: [UInt8] = []
    private var fieldStarts: [Int] = []
    private var fieldEnds: [Int] = []

    init(file: InputFileReader) {
        let settings = file.settings
        self.file = file
        self.settings = settings
        self.handler = file.handler
        self.rows = file.options.rows
        self.customerColumn = file.customerColumn
        let keys = settings.kind.columns.map { settings.exportName(of: $0) }
        self.keys = keys
        paths = keys.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        keyMap = Array(0..<keys.count)
    }

    // MARK: Lines from the splitter

    /// Every line is a record of its own: none is ever open across lines.
    var isIdle: Bool { true }

    func feedLineBreaks(_ run: UnsafeRawBufferPointer, firstNumber: Int, offset: Int) throws -> Bool { false }

    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws {
        file.reject(
            line: number, offset: offset, column: nil, code: .rowTooLong,
            message: "line is longer than \(file.maxRowBytes) bytes", raw: prefix)
    }

    var openRecordStart: (line: Int, offset: Int)? { nil }

    var stopped: Bool { file.fatal != nil }

    var awaitsHeader: Bool { false }

    func finish() throws {}

    func decode(line bytes: UnsafeRawBufferPointer, number: Int, offset: Int) {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D) { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        if FieldParser.isBlank(content) { return }
        file.report.rowsRead += 1
        guard let dict = object(content, number: number, offset: offset),
            let map = fields(of: dict, content: content, number: number, offset: offset)
        else { return }
        for (i, column) in settings.kind.columns.enumerated()
        where map[i] < 0 && settings.requiredColumns.contains(column) {
            let key = settings.exportName(of: column)
            file.reject(
                line: number, offset: offset, column: key, code: .missingValue,
                message: "the object has no key \"\(key)\"", raw: Array(content), counted: false)
            return
        }
        var owned = true
        let rejection: RowRejection? = fieldBytes.withUnsafeBytes { b in
            fieldStarts.withUnsafeBufferPointer { s in
                fieldEnds.withUnsafeBufferPointer { e in
                    map.withUnsafeBufferPointer { m in
                        let row = RowView(bytes: b, starts: s, ends: e, columnMap: m)
                        owned = rows.owns(
                            row, customerColumn: customerColumn, raw: { Array(bytes) }, line: number, offset: offset)
                        return handler.handle(row.owned(owned), line: number)
                    }
                }
            }
        }
        guard owned else {
            file.report.rowsRead -= 1
            return
        }
        if let rejection {
            file.reject(
                line: number, offset: offset, column: rejection.column.map(settings.exportName(of:)),
                code: rejection.code, message: rejection.message, raw: Array(content), counted: false, placed: true)
        } else {
            file.report.rowsAccepted += 1
        }
    }

    /// The line as a JSON object; nil (rejected) when it is not valid UTF-8,
    /// not JSON, or not an object.
    private func object(_ content: UnsafeRawBufferPointer, number: Int, offset: Int) -> [String: Any]? {
        guard FieldParser.isValidUTF8(content) else {
            file.reject(
                line: number, offset: offset, column: nil, code: .invalidUTF8, message: "the line is not valid UTF-8",
                raw: Array(content), counted: false)
            return nil
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(content), options: [])
        } catch {
            file.reject(
                line: number, offset: offset, column: nil, code: .badJSON,
                message: "not a JSON object: \(Self.jsonErrorText(error))", raw: Array(content), counted: false)
            return nil
        }
        guard let dict = object as? [String: Any] else {
            file.reject(
                line: number, offset: offset, column: nil, code: .badJSON, message: "expected one JSON object per line",
                raw: Array(content), counted: false)
            return nil
        }
        return dict
    }

    /// The contract's columns of `dict` as row fields (in `fieldBytes`,
    /// `fieldStarts`, `fieldEnds`), and the column map with -1 for each key
    /// the object lacks; nil (rejected) when a value is a list or an object.
    private func fields(of dict: [String: Any], content: UnsafeRawBufferPointer, number: Int, offset: Int) -> [Int]? {
        fieldBytes.removeAll(keepingCapacity: true)
        fieldStarts.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        var map = keyMap
        for (i, key) in keys.enumerated() {
            fieldStarts.append(fieldBytes.count)
            if var value = JSONLRecordDecoder.value(in: dict, key: key, path: paths[i]) {
                // A one-element list stands for its element: Amplitude writes group ids
                // as lists, Mixpanel as a value or a list.
                if let list = value as? [Any], list.count == 1, !(list[0] is [Any]), !(list[0] is [String: Any]) {
                    value = list[0]
                }
                switch value {
                case is NSNull: break
                case let s as String: fieldBytes.append(contentsOf: s.utf8)
                case let list as [Any]:
                    file.reject(
                        line: number, offset: offset, column: key, code: .badValue,
                        message:
                            "\(key) is a list of \(list.count) values, not one value; map one element with a path such as \(key).0",
                        raw: Array(content), counted: false)
                    return nil
                case is [String: Any]:
                    file.reject(
                        line: number, offset: offset, column: key, code: .badValue,
                        message:
                            "\(key) is an object, not a value; map the value inside it with a dotted path such as \(key).id",
                        raw: Array(content), counted: false)
                    return nil
                case let n as NSNumber:
                    // Foundation on Linux hands JSON true/false back as NSNumber of type "c".
                    if String(cString: n.objCType) == "c" {
                        fieldBytes.append(contentsOf: (n.boolValue ? "true" : "false").utf8)
                    } else {
                        fieldBytes.append(contentsOf: n.description.utf8)
                    }
                default:
                    fieldBytes.append(contentsOf: String(describing: value).utf8)
                }
            } else {
                map[i] = -1
            }
            fieldEnds.append(fieldBytes.count)
        }
        return map
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
}
