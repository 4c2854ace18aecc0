import Foundation
import XCTest

@testable import CustomerHealth

/// The settings tables of docs/pipeline.md, docs/scoring.md and the README
/// list exactly the keys the parser declares (`PipelineConfig.declaredSettings`,
/// see Pipeline/SettingsDeclarations.swift), with the declared defaults, so
/// the docs cannot drift from the code.
final class SettingsDocsTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The doc that is the full reference of each declared section: every
    /// key of it has a row (with its default) there.
    static func referenceDoc(of section: String) -> String {
        section == "scoring" || section.hasPrefix("scoring.") || section == "kpis"
            ? "docs/scoring.md" : "docs/pipeline.md"
    }

    // MARK: - Reading the docs' tables

    struct Table {
        var file: String
        /// The heading above the table, or the `scoring.x` line that labels it.
        var section: String
        var line: Int
        var header: [String]
        var rows: [(line: Int, cells: [String])]

        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
    }

    /// One key as a doc states it.
    struct Entry {
        var path: String
        var defaultText: String?
        /// The cell that states the allowed values (`Range`, or `Type`: "whole number, 1-3650").
        var rangeCell: String? = nil
        var file: String
        var section: String
        var line: Int

        var place: String { "\(file), section \"\(section)\", line \(line)" }
    }

    static func cells(_ line: String) -> [String] {
        let escaped = line.replacingOccurrences(of: "\\|", with: "\u{1}")
        var parts = escaped.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "\u{1}", with: "|").trimmingCharacters(in: .whitespaces)
        }
        if parts.first == "" { parts.removeFirst() }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    /// Every table of a doc whose first column is `Key` (or `headerStart`).
    static func tables(in file: String, headerStart: String = "Key") throws -> [Table] {
        let text = try String(contentsOf: repo.appendingPathComponent(file), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var tables: [Table] = []
        var heading = ""
        var label = ""
        var inCode = false
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.hasPrefix("```") {
                inCode.toggle()
                i += 1
                continue
            }
            if inCode {
                i += 1
                continue
            }
            if line.hasPrefix("#") {
                heading = line.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces)
                label = ""
            } else if line.hasPrefix("`"), line.hasSuffix("`"), !line.contains(" ") {
                label = String(line.dropFirst().dropLast())
            }
            if line.hasPrefix("|"), i + 1 < lines.count, lines[i + 1].hasPrefix("|-") {
                let header = cells(line)
                var table = Table(
                    file: file, section: label.isEmpty ? heading : label, line: i + 1, header: header, rows: [])
                i += 2
                while i < lines.count, lines[i].hasPrefix("|") {
                    table.rows.append((i + 1, cells(lines[i])))
                    i += 1
                }
                if header.first == headerStart { tables.append(table) }
                label = ""
                continue
            }
            i += 1
        }
        return tables
    }

    /// The backticked names in a cell.
    static func codeSpans(_ cell: String) -> [String] {
        let parts = cell.components(separatedBy: "`")
        return stride(from: 1, to: parts.count, by: 2).map { parts[$0] }
    }

    /// A default written plainly: `value`, `value` (a remark), or a bare number or word.
    static func plainDefault(_ cell: String) -> String? {
        let c = cell.trimmingCharacters(in: .whitespaces)
        if c.hasPrefix("`"), let end = c.dropFirst().firstIndex(of: "`") {
            let rest = c[c.index(after: end)...].trimmingCharacters(in: .whitespaces)
            if rest.isEmpty || (rest.hasPrefix("(") && rest.hasSuffix(")")) {
                return String(c[c.index(after: c.startIndex)..<end])
            }
            return nil
        }
        if !c.isEmpty, c.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) { return c }
        return nil
    }

    /// The keys the Meaning cell of a mapping's row lists: `key` (default, range ...).
    static func inlineKeys(_ meaning: String) -> [(key: String, defaultText: String, inside: String)] {
        let parts = meaning.components(separatedBy: "`")
        var out: [(String, String, String)] = []
        for k in stride(from: 1, to: parts.count - 1, by: 2) where parts[k + 1].hasPrefix(" (") {
            let inside = parts[k + 1].dropFirst(2).prefix { $0 != ")" }
            let value = inside.prefix { $0 != "," && $0 != ":" }.trimmingCharacters(in: .whitespaces)
            out.append((parts[k], value, String(inside)))
        }
        return out
    }

    /// The first range a cell states, `low-high` (numbers such as 0.01 or 1e6).
    static func range(in cell: String) -> (Double, Double)? {
        let pattern = try! NSRegularExpression(pattern: "(?<![\\w.])([0-9][0-9.e]*)-([0-9][0-9.e]*)(?![\\w.])")
        guard let m = pattern.firstMatch(in: cell, range: NSRange(cell.startIndex..., in: cell)),
            let a = Range(m.range(at: 1), in: cell), let b = Range(m.range(at: 2), in: cell),
            let low = Double(cell[a]), let high = Double(cell[b])
        else { return nil }
        return (low, high)
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The keys docs/pipeline.md and docs/scoring.md document, with the sections they document.
    static func referenceEntries() throws -> [Entry] {
        let declared = PipelineConfig.declaredSettings
        let sectionPaths = Set(declared.map(\.path))
        let keyPaths = Set(declaredKeys().map(\.path))
        var entries: [Entry] = []
        for file in ["docs/pipeline.md", "docs/scoring.md"] {
            for table in try tables(in: file) {
                // A section's own table: under its heading (pipeline.md) or its label (scoring.md).
                let name = table.section == "Top-level keys" ? "" : table.section
                let path = sectionPaths.contains(name + ".<name>") ? name + ".<name>" : name
                // Other tables (the KPIs' fields, ...) are not settings.
                guard sectionPaths.contains(path) || keyPaths.contains(path) else { continue }
                if keyPaths.contains(path) {
                    entries.append(
                        Entry(path: path, defaultText: nil, file: file, section: table.section, line: table.line))
                }
                // A table of a mapping keyed by names (scoring.parts) documents the mapping, not settings.
                guard sectionPaths.contains(path) else { continue }
                let defaultColumn = table.column("Default")
                let rangeColumn = table.column("Range") ?? table.column("Type")
                for (line, cells) in table.rows {
                    guard let key = codeSpans(cells[0]).first else { continue }
                    let full = join(path, key)
                    let def = defaultColumn.flatMap { $0 < cells.count ? plainDefault(cells[$0]) : nil }
                    entries.append(
                        Entry(
                            path: full, defaultText: def,
                            rangeCell: rangeColumn.flatMap { $0 < cells.count ? cells[$0] : nil },
                            file: file, section: table.section, line: line))
                    if sectionPaths.contains(full), let meaning = table.column("Meaning"), meaning < cells.count {
                        for (k, d, inside) in inlineKeys(cells[meaning]) {
                            entries.append(
                                Entry(
                                    path: join(full, k), defaultText: d, rangeCell: inside, file: file,
                                    section: table.section, line: line))
                        }
                    }
                }
            }
        }
        return entries
    }

    /// The README's "Pipeline file" table: rows of one or more keys
    /// (`a.b` / `c`: `c` is `a.c`), defaults separated by " / " alike.
    static func readmeEntries() throws -> [Entry] {
        var entries: [Entry] = []
        for table in try tables(in: "README.md") where table.section == "Pipeline file" {
            for (line, cells) in table.rows {
                let keys = codeSpans(cells[0])
                guard let first = keys.first else { continue }
                let parent = first.split(separator: ".").dropLast().joined(separator: ".")
                let paths = [first] + keys.dropFirst().map { $0.contains(".") ? $0 : join(parent, $0) }
                let defaults = cells.count > 1 ? cells[1].components(separatedBy: " / ") : []
                for (i, path) in paths.enumerated() {
                    let def =
                        paths.count == 1
                        ? plainDefault(cells.count > 1 ? cells[1] : "")
                        : defaults.count == paths.count ? plainDefault(defaults[i]) : nil
                    entries.append(
                        Entry(path: path, defaultText: def, file: "README.md", section: table.section, line: line))
                }
            }
        }
        return entries
    }

    /// Every declared key that the docs should list, by its full path.
    static func declaredKeys() -> [(path: String, key: DeclaredKey, section: String)] {
        PipelineConfig.declaredSettings.flatMap { s in
            s.keys.filter(\.documented).map { (join(s.path, $0.name), $0, s.path) }
        }
    }

    static func sameDefault(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        if let x = Double(a), let y = Double(b) { return x == y }
        return false
    }

    // MARK: - The checks

    func testEveryDeclaredKeyIsDocumented() throws {
        let entries = try Self.referenceEntries()
        for (path, key, section) in Self.declaredKeys() {
            let doc = Self.referenceDoc(of: section)
            let documented = entries.contains { e in
                e.file == doc && (e.path == path || (key.isSection && e.path.hasPrefix(path + ".")))
            }
            XCTAssertTrue(
                documented,
                "\(doc) does not document `\(path)`, which the parser reads: add a row for `\(key.name)` (with its default\(key.defaultText.map { ", \($0)" } ?? "")) to the table of `\(section.isEmpty ? "Top-level keys" : section)`"
            )
        }
    }

    func testEveryDocumentedKeyIsDeclared() throws {
        let declared = Set(Self.declaredKeys().map(\.path))
        for e in try Self.referenceEntries() + Self.readmeEntries() {
            if e.path.hasSuffix(".*") {
                let prefix = String(e.path.dropLast(2))
                XCTAssertTrue(
                    PipelineConfig.declaredSettings.contains { $0.path == prefix },
                    "\(e.place) documents `\(e.path)`, but the parser has no section `\(prefix)`: fix or remove the row"
                )
                continue
            }
            XCTAssertTrue(
                declared.contains(e.path),
                "\(e.place) documents `\(e.path)`, which the parser does not know: remove the row, or, if the setting should exist, declare it in its section (see Pipeline/SettingsDeclarations.swift)"
            )
        }
    }

    func testDocumentedDefaultsAreTheDeclaredOnes() throws {
        let declared = Dictionary(Self.declaredKeys().map { ($0.path, $0.key) }, uniquingKeysWith: { a, _ in a })
        for e in try Self.referenceEntries() + Self.readmeEntries() {
            guard let documented = e.defaultText, let key = declared[e.path], let actual = key.defaultText else {
                continue
            }
            XCTAssertTrue(
                Self.sameDefault(documented, actual),
                "\(e.place) gives `\(e.path)` the default \(documented), but the parser's default is \(actual): correct the doc (if the doc is right, the code's default is the bug)"
            )
        }
    }

    func testDocumentedRangesAreTheDeclaredOnes() throws {
        let declared = Dictionary(Self.declaredKeys().map { ($0.path, $0.key) }, uniquingKeysWith: { a, _ in a })
        var checked = 0
        for e in try Self.referenceEntries() {
            guard let cell = e.rangeCell, let documented = Self.range(in: cell),
                let actualText = declared[e.path]?.rangeText, let actual = Self.range(in: actualText)
            else { continue }
            checked += 1
            XCTAssertTrue(
                documented == actual,
                "\(e.place) gives `\(e.path)` the range \(cell), but the parser accepts \(actualText): correct the doc (if the doc is right, the code's range is the bug)"
            )
        }
        XCTAssertGreaterThan(checked, 50, "the docs' ranges were not found")
    }

    /// The README's table is a summary: each declared key appears in it, on
    /// a row of its own or under a row of a mapping that holds it (`scoring.*`).
    func testReadmeTableMentionsEveryKey() throws {
        let entries = try Self.readmeEntries()
        XCTAssertFalse(entries.isEmpty, "README.md has no \"Pipeline file\" table of keys")
        for (path, key, _) in Self.declaredKeys() {
            let covered = entries.contains { e in
                let p = e.path.hasSuffix(".*") ? String(e.path.dropLast(2)) : e.path
                return p == path || path.hasPrefix(p + ".") || (key.isSection && p.hasPrefix(path + "."))
            }
            XCTAssertTrue(
                covered,
                "README.md, table \"Pipeline file\": `\(path)` is missing; add it to the row of its section or give it a row"
            )
        }
    }

    /// `scoring.parts` takes the parts of the "When data is missing" table of docs/scoring.md.
    func testScorePartsTableListsEveryPart() throws {
        let tables = try Self.tables(in: "docs/scoring.md", headerStart: "Part").filter {
            $0.section.hasPrefix("When data is missing") && $0.header.count > 1
                && $0.header[1].hasPrefix("Applies when")
        }
        XCTAssertEqual(tables.count, 1, "docs/scoring.md: the table of parts under \"When data is missing\" is gone")
        let documented = tables.flatMap { $0.rows.flatMap { Self.codeSpans($0.cells[0]) } }
        let parts = ScorePart.allCases.map(\.key)
        for part in parts where !documented.contains(part) {
            XCTFail(
                "docs/scoring.md, section \"When data is missing\": score part `\(part)` (a key of scoring.parts) has no row; add one"
            )
        }
        for name in documented where !parts.contains(name) {
            XCTFail(
                "docs/scoring.md, section \"When data is missing\": `\(name)` is not a score part; remove it or fix its name"
            )
        }
    }

    /// The full example of docs/pipeline.md, which shows every key with its
    /// default (unless its comment says otherwise): each key is in it,
    /// written or commented out (`# key: ...`).
    func testTheFullExampleShowsEveryKey() throws {
        let text = try String(contentsOf: Self.repo.appendingPathComponent("docs/pipeline.md"), encoding: .utf8)
        guard let start = text.range(of: "## Full example"),
            let open = text.range(of: "```yaml\n", range: start.upperBound..<text.endIndex),
            let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex)
        else { return XCTFail("docs/pipeline.md has no YAML block under \"## Full example\"") }
        let yaml = String(text[open.upperBound..<close.lowerBound])
        let lines = yaml.components(separatedBy: "\n")
        // Every key path written, with its value when it is a single one.
        var written: [String: String?] = [:]
        func walk(_ node: ConfigNode, _ path: String) {
            for key in node.keys() {
                let name = path == "exports" ? "<name>" : key
                let full = Self.join(path, name)
                if let child = try? node.child(key), !child.keys().isEmpty {
                    walk(child, full)
                } else {
                    written[full] = (try? node.string(key)) ?? nil
                }
            }
        }
        walk(try ConfigNode.load(file: "pipeline.md", text: yaml), "")
        for (path, key, _) in Self.declaredKeys() where !key.isSection {
            let commented = lines.contains { $0.contains("# \(key.name):") }
            guard let value = written[path] else {
                XCTAssertTrue(
                    commented,
                    "docs/pipeline.md, section \"Full example\": `\(path)` is missing; add it with its default (or commented out, with why)"
                )
                continue
            }
            // A value other than the default must say so in its line's comment.
            if let value, let def = key.defaultText, !Self.sameDefault(value, def) {
                let explained = lines.contains { $0.contains("\(key.name):") && $0.contains("#") }
                XCTAssertTrue(
                    explained,
                    "docs/pipeline.md, section \"Full example\": `\(path)` is \(value), not its default \(def), and no comment says why: write the default"
                )
            }
        }
    }

    /// The docs' tables were found at all (a renamed heading would otherwise pass silently).
    func testTheTablesAreFound() throws {
        let entries = try Self.referenceEntries()
        for section in PipelineConfig.declaredSettings {
            let doc = Self.referenceDoc(of: section.path)
            XCTAssertTrue(
                section.keys.contains { k in entries.contains { $0.path == Self.join(section.path, k.name) } },
                "\(doc) has no table for section `\(section.path.isEmpty ? "Top-level keys" : section.path)`: its heading or label must be the section's path"
            )
        }
    }
}
