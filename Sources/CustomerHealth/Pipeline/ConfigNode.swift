import Foundation
import Yams

/// A typed, path-aware view of a YAML mapping from the pipeline file.
///
/// Every read names its key path in errors (`scoring.engagement.adoption_target:
/// expected a number, found "high"`), and keys the section does not declare
/// (SettingsDeclarations.swift; without a declaration: keys nobody read) are
/// reported, so a misspelt setting is an error rather than a silently ignored
/// default.
final class ConfigNode {
    let file: String
    let path: String
    let node: Node?
    private var readKeys: Set<String> = []
    /// The keys this mapping accepts, from its section's declaration
    /// (SettingsDeclarations.swift); nil for a mapping keyed by names.
    private var declaredKeys: Set<String>?
    private var children: [ConfigNode] = []

    init(file: String, path: String, node: Node?) {
        self.file = file
        self.path = path
        self.node = node
    }

    static func load(file: String, text: String) throws -> ConfigNode {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw CustomerHealthError.pipeline(file: file, path: "", message: "is not valid YAML: \(error)")
        }
        let root = ConfigNode(file: file, path: "", node: node)
        if let node, node.mapping == nil {
            throw root.failure("the pipeline file must be a mapping of settings at its top level")
        }
        return root
    }

    func failure(_ message: String, key: String? = nil) -> CustomerHealthError {
        let full = key.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path
        var where_ = full
        if let key, let value = node?.mapping?[key], let mark = value.mark {
            where_ = "line \(mark.line), \(full)"
        } else if let mark = node?.mark, key == nil {
            where_ = "line \(mark.line)\(full.isEmpty ? "" : ", \(full)")"
        }
        return .pipeline(file: file, path: where_, message: message)
    }

    /// Names the keys this mapping accepts: `checkUnknownKeys` lists them,
    /// and reading any other is a programming error.
    func declare(_ keys: [String]) {
        declaredKeys = Set(keys)
    }

    private var fullPath: String { path.isEmpty ? "the top level" : path }

    private func value(_ key: String) -> Node? {
        assert(
            declaredKeys?.contains(key) ?? true,
            "\(fullPath) reads \"\(key)\", which its section does not declare: add it to the section's declaration")
        readKeys.insert(key)
        guard let mapping = node?.mapping else { return nil }
        guard let v = mapping[key] else { return nil }
        if case .scalar(let s) = v, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) {
            return nil
        }
        return v
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    func child(_ key: String) throws -> ConfigNode {
        let v = value(key)
        if let v, v.mapping == nil { throw failure("expected a mapping of settings", key: key) }
        let c = ConfigNode(file: file, path: path.isEmpty ? key : "\(path).\(key)", node: v)
        children.append(c)
        return c
    }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.scalar?.string else { throw failure("expected a single value", key: key) }
        return s
    }

    func string(_ key: String, default def: String) throws -> String { try string(key) ?? def }

    func double(_ key: String, default def: Double, range: ClosedRange<Double>? = nil) throws -> Double {
        guard let s = try string(key) else { return def }
        guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite else {
            throw failure("expected a number, found \"\(s)\"", key: key)
        }
        if let range, !range.contains(d) {
            throw failure("must be between \(range.lowerBound) and \(range.upperBound), found \(s)", key: key)
        }
        return d
    }

    func int(_ key: String, default def: Int, range: ClosedRange<Int>? = nil) throws -> Int {
        guard let s = try string(key) else { return def }
        guard let i = Int(s.trimmingCharacters(in: .whitespaces)) else {
            throw failure("expected a whole number, found \"\(s)\"", key: key)
        }
        if let range, !range.contains(i) {
            throw failure("must be between \(range.lowerBound) and \(range.upperBound), found \(i)", key: key)
        }
        return i
    }

    func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let s = try string(key) else { return def }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw failure("expected true or false, found \"\(s)\"", key: key)
        }
    }

    func stringList(_ key: String) throws -> [String]? {
        guard let v = value(key) else { return nil }
        if let s = v.scalar?.string { return [s] }
        guard let seq = v.sequence else { throw failure("expected a value or a list of values", key: key) }
        return try seq.map { item in
            guard let s = item.scalar?.string else { throw failure("expected a list of plain values", key: key) }
            return s
        }
    }

    func stringMap(_ key: String) throws -> [String: String] {
        guard let v = value(key) else { return [:] }
        guard let mapping = v.mapping else { throw failure("expected a mapping", key: key) }
        var out: [String: String] = [:]
        for (k, val) in mapping {
            guard let ks = k.scalar?.string, let vs = val.scalar?.string else {
                throw failure("expected plain names", key: key)
            }
            out[ks] = vs
        }
        return out
    }

    /// A mapping of plain values, in the order the file writes it (rules apply in that order).
    func orderedStringMap(_ key: String) throws -> [(String, String)] {
        guard let v = value(key) else { return [] }
        guard let mapping = v.mapping else { throw failure("expected a mapping", key: key) }
        return try mapping.map { (k, val) in
            guard let ks = k.scalar?.string, let vs = val.scalar?.string else {
                throw failure("expected plain names", key: key)
            }
            return (ks, vs)
        }
    }

    func keys() -> [String] {
        node?.mapping?.keys.compactMap { $0.scalar?.string } ?? []
    }

    /// Reports keys that the mapping's section does not declare (without a
    /// declaration: that nothing read), in this node and below.
    func checkUnknownKeys() throws {
        if let declaredKeys {
            assert(
                declaredKeys.isSubset(of: readKeys),
                "\(fullPath) declares \(declaredKeys.subtracting(readKeys).sorted()), which nothing reads: read them or remove them from the declaration"
            )
        }
        let known = declaredKeys ?? readKeys
        if let mapping = node?.mapping {
            for key in mapping.keys {
                guard let k = key.scalar?.string else { continue }
                if !known.contains(k) {
                    let known = known.sorted().joined(separator: ", ")
                    throw failure("unknown setting \"\(k)\"; known settings here: \(known)", key: k)
                }
            }
        }
        for c in children { try c.checkUnknownKeys() }
    }
}
