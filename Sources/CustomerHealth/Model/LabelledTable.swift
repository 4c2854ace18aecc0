import Foundation

/// Reads any labelled CSV table (plain or gzipped) into a training table, so
/// that the ensemble can be checked on data the pipeline did not make.
/// Numeric columns stay numbers (blank or malformed cells are missing);
/// text columns are one-hot encoded on their most frequent categories.
public struct LabelledTableSchema: Sendable, Equatable {
    public var label: String
    public var id: String?
    public var numeric: [String]
    /// Categorical column -> its categories, in feature order.
    public var categorical: [(String, [String])]

    public static func == (a: Self, b: Self) -> Bool {
        a.label == b.label && a.id == b.id && a.numeric == b.numeric
            && a.categorical.map(\.0) == b.categorical.map(\.0) && a.categorical.map(\.1) == b.categorical.map(\.1)
    }

    public var featureNames: [String] {
        numeric + categorical.flatMap { (column, values) in values.map { "\(column)=\($0)" } }
    }

    public func json() -> JSONValue {
        .object([
            ("label", .string(label)),
            ("id", .optionalString(id)),
            ("numeric", .array(numeric.map { .string($0) })),
            ("categorical", .array(categorical.map { c in .object([("column", .string(c.0)), ("categories", .array(c.1.map { .string($0) }))]) })),
        ])
    }

    public static func from(_ any: Any?) -> LabelledTableSchema? {
        guard let o = any as? [String: Any], let label = o["label"] as? String, let numeric = o["numeric"] as? [String],
            let cats = o["categorical"] as? [[String: Any]] else { return nil }
        let categorical: [(String, [String])] = cats.compactMap { c in
            guard let column = c["column"] as? String, let values = c["categories"] as? [String] else { return nil }
            return (column, values)
        }
        return LabelledTableSchema(label: label, id: o["id"] as? String, numeric: numeric, categorical: categorical)
    }
}

public enum LabelledTableReader {
    /// Rows of a CSV file as strings, header first.
    public static func readCSV(path: String) throws -> (header: [String], rows: [[String]]) {
        final class Collector: RowHandler {
            var rows: [[String]] = []
            let count: Int
            init(count: Int) { self.count = count }
            func handle(_ row: RowView, line: Int) -> RowRejection? {
                rows.append((0..<count).map { i in
                    let f = row.field(i)
                    return String(decoding: UnsafeBufferPointer(start: f.baseAddress?.assumingMemoryBound(to: UInt8.self), count: f.count),
                        as: UTF8.self)
                })
                return nil
            }
        }
        // Read the header with a first pass over the first line.
        let header = try firstLine(path: path)
        var settings = ExportSettings(kind: .savings)
        settings.globs = []
        let collector = Collector(count: header.count)
        let reader = try InputFileReader(path: path, settings: settings, handler: collector, maxRowBytes: 1 << 20, includeRaw: true,
            genericColumns: header)
        let report = try reader.read()
        if let bad = report.rejects.first {
            throw CustomerHealthError.input(file: (path as NSString).lastPathComponent, message: "line \(bad.line): \(bad.reason)")
        }
        return (header, collector.rows)
    }

    /// The column names of a CSV table (its first line).
    public static func header(path: String) throws -> [String] { try firstLine(path: path) }

    private static func firstLine(path: String) throws -> [String] {
        final class HeaderGrab: RowHandler {
            func handle(_ row: RowView, line: Int) -> RowRejection? { nil }
        }
        var settings = ExportSettings(kind: .savings)
        settings.globs = []
        let reader = try InputFileReader(path: path, settings: settings, handler: HeaderGrab(), maxRowBytes: 1 << 20, includeRaw: false,
            genericColumns: [])
        reader.headerOnly = true
        _ = try? reader.read()
        guard let header = reader.capturedHeader, !header.isEmpty else {
            throw CustomerHealthError.input(file: (path as NSString).lastPathComponent, message: "has no header row")
        }
        return header
    }

    /// A finite decimal number ("inf", "nan" and hex floats are malformed cells).
    static func number(_ text: String) -> Double? {
        // Double(text) only reads ASCII, so looking for x and X byte-wise is the same as lowercased().contains("x").
        guard let d = Double(text), d.isFinite, !text.utf8.contains(where: { $0 == 0x78 || $0 == 0x58 }) else { return nil }
        return d
    }

    /// `text.trimmingCharacters(in: .whitespaces)`, without Foundation when
    /// the text starts and ends with ASCII other than space or tab (the only
    /// ASCII characters in that set): then there is nothing to trim.
    @inline(__always)
    static func trimmed(_ text: String) -> String {
        let u = text.utf8
        guard let first = u.first, let last = u.last else { return text }
        if first < 0x80 && first != 0x20 && first != 0x09 && last < 0x80 && last != 0x20 && last != 0x09 { return text }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// `number(_:)` on the bytes of a cell, without making a String of it.
    static func number(bytes: UnsafeRawBufferPointer) -> Double? {
        let cell = trimmed(bytes: bytes)
        guard !cell.isEmpty, cell.count < 64 else { return cell.isEmpty ? nil : number(String(decoding: cell, as: UTF8.self)) }
        for b in cell where b == 0x78 || b == 0x58 || b >= 0x80 { return nil }
        // Swift's Double(String) reads the same grammar as strtod in the C locale.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Double? in
            for (i, b) in cell.enumerated() { buffer[i] = CChar(bitPattern: b) }
            buffer[cell.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let d = strtod(buffer.baseAddress!, &end)
            guard let end, end - buffer.baseAddress! == cell.count, d.isFinite else { return nil }
            return d
        }
    }

    /// A cell's bytes without leading and trailing spaces and tabs.
    static func trimmed(bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer.SubSequence {
        var lo = 0, hi = bytes.count
        while lo < hi && (bytes[lo] == 0x20 || bytes[lo] == 0x09) { lo += 1 }
        while hi > lo && (bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09) { hi -= 1 }
        return bytes[lo..<hi]
    }

    static func parseLabel(bytes: UnsafeRawBufferPointer) -> UInt8? {
        if bytes.count == 1 {
            if bytes[0] == 0x30 { return 0 }
            if bytes[0] == 0x31 { return 1 }
        }
        return parseLabel(String(decoding: bytes, as: UTF8.self))
    }

    static func parseLabel(_ text: String) -> UInt8? {
        if text == "0" { return 0 }
        if text == "1" { return 1 }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true", "yes", "y", "t", "1.0": return 1
        case "0", "false", "no", "n", "f", "0.0": return 0
        default: return nil
        }
    }

    /// Decides column types and categories from a table (training).
    public static func schema(header: [String], rows: [[String]], label: String, id: String?, maxCategories: Int = 32) throws -> LabelledTableSchema {
        guard header.contains(label) else {
            throw CustomerHealthError.input(file: "table", message: "has no label column \"\(label)\"; its columns are \(header.joined(separator: ", "))")
        }
        if let id, !header.contains(id) {
            throw CustomerHealthError.input(file: "table", message: "has no id column \"\(id)\"")
        }
        var numeric: [String] = []
        var categorical: [(String, [String])] = []
        for (j, name) in header.enumerated() where name != label && name != id {
            var numbers = 0, texts = 0
            var counts: [String: Int] = [:]
            for r in rows {
                let v = trimmed(r[j])
                if v.isEmpty { continue }
                if LabelledTableReader.number(v) != nil { numbers += 1 } else { texts += 1; counts[v, default: 0] += 1 }
            }
            // Mostly numbers: numeric, the odd malformed cell is missing.
            if numbers > 0 && texts * 10 <= numbers {
                numeric.append(name)
            } else if texts > 0 {
                let top = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(maxCategories).map(\.key)
                categorical.append((name, top.sorted()))
            }
        }
        return LabelledTableSchema(label: label, id: id, numeric: numeric, categorical: categorical)
    }

    /// Applies a schema to rows: the training table (rows with an unreadable label are an error).
    public static func table(header: [String], rows: [[String]], schema: LabelledTableSchema, file: String) throws -> TrainingTable {
        let index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        guard let labelIndex = index[schema.label] else {
            throw CustomerHealthError.input(file: file, message: "has no label column \"\(schema.label)\"")
        }
        for name in schema.numeric + schema.categorical.map(\.0) where index[name] == nil {
            throw CustomerHealthError.input(file: file, message: "has no column \"\(name)\", which the model was trained with")
        }
        var columns = [[Double]](repeating: [], count: schema.featureNames.count)
        for f in columns.indices { columns[f].reserveCapacity(rows.count) }
        var labels: [UInt8] = []
        var ids: [String] = []
        labels.reserveCapacity(rows.count)
        ids.reserveCapacity(rows.count)
        let idIndex = schema.id.flatMap { index[$0] }
        let numericIndex = schema.numeric.map { index[$0]! }
        let categoricalIndex = schema.categorical.map { index[$0.0]! }
        for (k, r) in rows.enumerated() {
            guard let y = parseLabel(r[labelIndex]) else {
                throw CustomerHealthError.input(file: file, message: "line \(k + 2), column \(schema.label): \"\(r[labelIndex])\" is not a label (0/1, true/false, yes/no)")
            }
            labels.append(y)
            ids.append(idIndex.map { r[$0] } ?? String(k + 1))
            var f = 0
            for j in numericIndex {
                columns[f].append(LabelledTableReader.number(trimmed(r[j])) ?? .nan)
                f += 1
            }
            for (c, (_, categories)) in schema.categorical.enumerated() {
                let v = trimmed(r[categoricalIndex[c]])
                for c in categories { columns[f].append(v.isEmpty ? .nan : (v == c ? 1 : 0)); f += 1 }
            }
        }
        return TrainingTable(featureNames: schema.featureNames, columns: columns, labels: labels, rowIDs: ids)
    }

    /// A seeded split that keeps the churn rate of both parts equal.
    public static func stratifiedSplit(_ table: TrainingTable, validationShare: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        var rng = SeededGenerator.derive(seed, 0x5717)
        var train: [Int] = []
        var validation: [Int] = []
        for label in [UInt8(0), 1] {
            var rows = (0..<table.rowCount).filter { table.labels[$0] == label }
            rows.shuffle(using: &rng)
            let k = Int((Double(rows.count) * validationShare).rounded())
            validation += rows.prefix(k)
            train += rows.dropFirst(k)
        }
        return (train.sorted(), validation.sorted())
    }
}
