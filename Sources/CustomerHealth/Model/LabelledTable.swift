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
            (
                "categorical",
                .array(
                    categorical.map { c in
                        .object([("column", .string(c.0)), ("categories", .array(c.1.map { .string($0) }))])
                    })
            ),
        ])
    }

    public static func from(_ any: Any?) -> LabelledTableSchema? {
        guard let o = any as? [String: Any], let label = o["label"] as? String, let numeric = o["numeric"] as? [String],
            let cats = o["categorical"] as? [[String: Any]]
        else { return nil }
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
                rows.append(
                    (0..<count).map { i in
                        let f = row.field(i)
                        return String(
                            decoding: UnsafeBufferPointer(
                                start: f.baseAddress?.assumingMemoryBound(to: UInt8.self), count: f.count),
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
        let reader = try InputFileReader(
            path: path, settings: settings, handler: collector, maxRowBytes: 1 << 20, includeRaw: true,
            mode: .anyColumns)
        let report = try reader.read()
        if let bad = report.rejects.first {
            throw CustomerHealthError.input(
                file: (path as NSString).lastPathComponent, message: "line \(bad.line): \(bad.reason)")
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
        let reader = try InputFileReader(
            path: path, settings: settings, handler: HeaderGrab(), maxRowBytes: 1 << 20, includeRaw: false,
            mode: .headerOnly)
        _ = try? reader.read()
        guard let header = reader.capturedHeader, !header.isEmpty else {
            throw CustomerHealthError.input(file: (path as NSString).lastPathComponent, message: "has no header row")
        }
        return header
    }

    /// A finite decimal number ("inf", "nan" and hex floats are malformed cells).
    static func number(_ text: String) -> Double? {
        // Double(text) only reads ASCII, so looking for x and X byte-wise is the same as lowercased().contains("x").
        guard let d = Double(text), d.isFinite, !text.utf8.contains(where: { $0 == 0x78 || $0 == 0x58 }) else {
            return nil
        }
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
        guard !cell.isEmpty, cell.count < 64 else {
            return cell.isEmpty ? nil : number(String(decoding: cell, as: UTF8.self))
        }
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
        var lo = 0
        var hi = bytes.count
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
    public static func schema(header: [String], rows: [[String]], label: String, id: String?, maxCategories: Int = 32)
        throws -> LabelledTableSchema
    {
        guard header.contains(label) else {
            throw CustomerHealthError.input(
                file: "table",
                message: "has no label column \"\(label)\"; its columns are \(header.joined(separator: ", "))")
        }
        if let id, !header.contains(id) {
            throw CustomerHealthError.input(file: "table", message: "has no id column \"\(id)\"")
        }
        var numeric: [String] = []
        var categorical: [(String, [String])] = []
        for (j, name) in header.enumerated() where name != label && name != id {
            var numbers = 0
            var texts = 0
            var counts: [String: Int] = [:]
            for r in rows {
                let v = trimmed(r[j])
                if v.isEmpty { continue }
                if LabelledTableReader.number(v) != nil {
                    numbers += 1
                } else {
                    texts += 1
                    counts[v, default: 0] += 1
                }
            }
            // Mostly numbers: numeric, the odd malformed cell is missing.
            if numbers > 0 && texts * 10 <= numbers {
                numeric.append(name)
            } else if texts > 0 {
                let top = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(
                    maxCategories
                ).map(\.key)
                categorical.append((name, top.sorted()))
            }
        }
        return LabelledTableSchema(label: label, id: id, numeric: numeric, categorical: categorical)
    }

    /// Applies a schema to rows: the training table (rows with an unreadable label are an error).
    public static func table(header: [String], rows: [[String]], schema: LabelledTableSchema, file: String) throws
        -> TrainingTable
    {
        let index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        guard let labelIndex = index[schema.label] else {
            throw CustomerHealthError.input(file: file, message: "has no label column \"\(schema.label)\"")
        }
        for name in schema.numeric + schema.categorical.map(\.0) where index[name] == nil {
            throw CustomerHealthError.input(
                file: file, message: "has no column \"\(name)\", which the model was trained with")
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
                throw CustomerHealthError.input(
                    file: file,
                    message:
                        "line \(k + 2), column \(schema.label): \"\(r[labelIndex])\" is not a label (0/1, true/false, yes/no)"
                )
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
                for c in categories {
                    columns[f].append(v.isEmpty ? .nan : (v == c ? 1 : 0))
                    f += 1
                }
            }
        }
        return TrainingTable(featureNames: schema.featureNames, columns: columns, labels: labels, rowIDs: ids)
    }

    /// A seeded split that keeps the churn rate of both parts equal.
    public static func stratifiedSplit(_ table: TrainingTable, validationShare: Double, seed: UInt64) -> (
        train: [Int], validation: [Int]
    ) {
        stratifiedSplit(labels: table.labels, validationShare: validationShare, seed: seed)
    }

    /// The same split from the labels alone.
    public static func stratifiedSplit(labels: [UInt8], validationShare: Double, seed: UInt64) -> (
        train: [Int], validation: [Int]
    ) {
        var rng = SeededGenerator.derive(seed, 0x5717)
        var train: [Int] = []
        var validation: [Int] = []
        for label in [UInt8(0), 1] {
            var rows = (0..<labels.count).filter { labels[$0] == label }
            rows.shuffle(using: &rng)
            let k = Int((Double(rows.count) * validationShare).rounded())
            validation += rows.prefix(k)
            train += rows.dropFirst(k)
        }
        return (train.sorted(), validation.sorted())
    }
}

/// Reads a labelled CSV (plain or gzipped) straight into a training table,
/// in two passes over the file, without holding its text: the first pass
/// counts the rows, reads the labels and what decides each column's type
/// (and whether a 32-bit float holds every one of its numbers); the second
/// writes each value into its column, each row where the split puts it
/// (the training rows first, then the validation rows, each in file
/// order), so that the split needs no second copy of the table. The values
/// are those `LabelledTableReader.table` gives (the same parsing of each
/// cell), so a model trained from either is the same.
enum LabelledTableLoader {
    /// A table read from a file, with the schema it was read by.
    struct Loaded {
        var schema: LabelledTableSchema
        var table: TrainingTable
        /// Rows before this one are training rows, the others validation rows (nil: no split asked).
        var validationStart: Int?
    }

    /// Reads `path`: with `schema` nil, the schema comes from this table
    /// (training); `validationShare`, a seeded stratified split.
    static func load(
        path: String, label: String, id: String?, schema given: LabelledTableSchema?, validationShare: Double?,
        seed: UInt64
    ) throws -> Loaded {
        let name = (path as NSString).lastPathComponent
        let header = try LabelledTableReader.header(path: path)
        let index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // Pass 1: rows, labels, column statistics.
        let survey = Survey(
            header: header, label: index[given?.label ?? label], detect: given == nil,
            numeric: given.map { $0.numeric.compactMap { index[$0] } } ?? [],
            excluded: [label] + (id.map { [$0] } ?? []))
        try read(path: path, header: header, handler: survey)
        let schema: LabelledTableSchema
        if let given {
            guard index[given.label] != nil else {
                throw CustomerHealthError.input(file: name, message: "has no label column \"\(given.label)\"")
            }
            for column in given.numeric + given.categorical.map(\.0) where index[column] == nil {
                throw CustomerHealthError.input(
                    file: name, message: "has no column \"\(column)\", which the model was trained with")
            }
            schema = given
        } else {
            guard index[label] != nil else {
                throw CustomerHealthError.input(
                    file: "table",
                    message: "has no label column \"\(label)\"; its columns are \(header.joined(separator: ", "))")
            }
            if let id, index[id] == nil {
                throw CustomerHealthError.input(file: "table", message: "has no id column \"\(id)\"")
            }
            schema = survey.schema(label: label, id: id)
        }
        if let (line, text) = survey.badLabel {
            throw CustomerHealthError.input(
                file: name,
                message: "line \(line), column \(schema.label): \"\(text)\" is not a label (0/1, true/false, yes/no)")
        }
        let n = survey.labels.count
        // Where each row goes.
        var destination: [UInt32]? = nil
        var validationStart: Int? = nil
        if let share = validationShare {
            let split = LabelledTableReader.stratifiedSplit(labels: survey.labels, validationShare: share, seed: seed)
            var d = [UInt32](repeating: 0, count: n)
            for (k, row) in split.train.enumerated() { d[row] = UInt32(k) }
            for (k, row) in split.validation.enumerated() { d[row] = UInt32(split.train.count + k) }
            destination = d
            validationStart = split.train.count
        }
        var labels = [UInt8](repeating: 0, count: n)
        for i in 0..<n { labels[destination.map { Int($0[i]) } ?? i] = survey.labels[i] }
        // Pass 2: the values, each column as narrow as its numbers allow.
        let numericIndex = schema.numeric.map { index[$0]! }
        var storage: [FeatureValues.Storage] = numericIndex.map { survey.float32Holds[$0] ? .float32 : .float64 }
        for (_, categories) in schema.categorical {
            storage += [FeatureValues.Storage](repeating: .float32, count: categories.count)
        }
        let values = FeatureValues(rowCount: n, storage: storage)
        let filler = Filler(
            values: values, numeric: numericIndex, categorical: schema.categorical.map { (index[$0.0]!, $0.1) },
            id: schema.id.flatMap { index[$0] }, destination: destination, rows: n)
        try read(path: path, header: header, handler: filler)
        guard filler.row == n else {
            throw CustomerHealthError.input(
                file: name,
                message: "changed while it was read (\(n) rows, then \(filler.row)); read it again once it is complete")
        }
        let ids = RowIDs(names: schema.id == nil ? nil : filler.idNames, index: ArraySlice(filler.ids))
        return Loaded(
            schema: schema,
            table: TrainingTable(featureNames: schema.featureNames, values: values, labels: labels, rowIDs: ids),
            validationStart: validationStart)
    }

    private static func read(path: String, header: [String], handler: RowHandler) throws {
        var settings = ExportSettings(kind: .savings)
        settings.globs = []
        let reader = try InputFileReader(
            path: path, settings: settings, handler: handler, maxRowBytes: 1 << 20, includeRaw: true,
            mode: .anyColumns)
        let report = try reader.read()
        if let bad = report.rejects.first {
            throw CustomerHealthError.input(
                file: (path as NSString).lastPathComponent, message: "line \(bad.line): \(bad.reason)")
        }
    }

    @inline(__always)
    static func cell(_ row: RowView, _ j: Int) -> String {
        let f = row.field(j)
        return String(
            decoding: UnsafeBufferPointer(start: f.baseAddress?.assumingMemoryBound(to: UInt8.self), count: f.count),
            as: UTF8.self)
    }

    /// Pass 1.
    final class Survey: RowHandler {
        let header: [String]
        let labelIndex: Int?
        let detect: Bool
        /// Columns read as features: every column but the label and id (detect), or the schema's numeric ones.
        let columns: [Int]
        var labels: [UInt8] = []
        var badLabel: (Int, String)? = nil
        var numbers: [Int]
        var texts: [Int]
        var counts: [[String: Int]]
        var float32Holds: [Bool]

        init(header: [String], label: Int?, detect: Bool, numeric: [Int], excluded: [String]) {
            self.header = header
            labelIndex = label
            self.detect = detect
            columns = detect ? header.indices.filter { !excluded.contains(header[$0]) } : numeric
            numbers = [Int](repeating: 0, count: header.count)
            texts = numbers
            counts = [[String: Int]](repeating: [:], count: header.count)
            float32Holds = [Bool](repeating: true, count: header.count)
        }

        func handle(_ row: RowView, line: Int) -> RowRejection? {
            let k = labels.count
            if let labelIndex {
                let text = LabelledTableLoader.cell(row, labelIndex)
                if let y = LabelledTableReader.parseLabel(text) {
                    labels.append(y)
                } else {
                    // Lines counted as the reader of whole tables counts them (one a row).
                    if badLabel == nil { badLabel = (k + 2, text) }
                    labels.append(0)
                }
            } else {
                labels.append(0)
            }
            for j in columns {
                let v = LabelledTableReader.trimmed(LabelledTableLoader.cell(row, j))
                if v.isEmpty { continue }
                if let d = LabelledTableReader.number(v) {
                    numbers[j] += 1
                    if !FeatureValues.float32Holds(d) { float32Holds[j] = false }
                } else {
                    texts[j] += 1
                    if detect { counts[j][v, default: 0] += 1 }
                }
            }
            return nil
        }

        /// What `LabelledTableReader.schema` decides from the same cells.
        func schema(label: String, id: String?, maxCategories: Int = 32) -> LabelledTableSchema {
            var numeric: [String] = []
            var categorical: [(String, [String])] = []
            for (j, name) in header.enumerated() where name != label && name != id {
                if numbers[j] > 0 && texts[j] * 10 <= numbers[j] {
                    numeric.append(name)
                } else if texts[j] > 0 {
                    let top = counts[j].sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                        .prefix(maxCategories).map(\.key)
                    categorical.append((name, top.sorted()))
                }
            }
            return LabelledTableSchema(label: label, id: id, numeric: numeric, categorical: categorical)
        }
    }

    /// Pass 2.
    final class Filler: RowHandler {
        let columns: [FeatureValues.Column]
        let numeric: [Int]
        let categorical: [(Int, [String])]
        let idIndex: Int?
        let destination: [UInt32]?
        let rows: Int
        var row = 0
        var ids: [UInt32]
        var idNames: [String] = []
        var idNumbers: [String: UInt32] = [:]

        init(
            values: FeatureValues, numeric: [Int], categorical: [(Int, [String])], id: Int?, destination: [UInt32]?,
            rows: Int
        ) {
            columns = (0..<values.columnCount).map { values.column($0) }
            self.numeric = numeric
            self.categorical = categorical
            idIndex = id
            self.destination = destination
            self.rows = rows
            ids = [UInt32](repeating: 0, count: rows)
        }

        func handle(_ r: RowView, line: Int) -> RowRejection? {
            let k = row
            row += 1
            guard k < rows else { return nil }
            let at = destination.map { Int($0[k]) } ?? k
            if let idIndex {
                let id = LabelledTableLoader.cell(r, idIndex)
                if let known = idNumbers[id] {
                    ids[at] = known
                } else {
                    let number = UInt32(idNames.count)
                    idNumbers[id] = number
                    idNames.append(id)
                    ids[at] = number
                }
            } else {
                ids[at] = UInt32(k)
            }
            var f = 0
            for j in numeric {
                columns[f].set(
                    at, LabelledTableReader.number(LabelledTableReader.trimmed(LabelledTableLoader.cell(r, j))) ?? .nan)
                f += 1
            }
            for (j, categories) in categorical {
                let v = LabelledTableReader.trimmed(LabelledTableLoader.cell(r, j))
                for c in categories {
                    columns[f].set(at, v.isEmpty ? .nan : (v == c ? 1 : 0))
                    f += 1
                }
            }
            return nil
        }
    }
}
