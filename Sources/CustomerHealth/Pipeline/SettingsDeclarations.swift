import Foundation

/// One key of a section of the pipeline file, declared once: its name, how it
/// is read (type, range, and default), and the default as the docs state it.
/// The parser reads the section through its declaration, `ConfigNode` lists
/// the declared keys when it meets an unknown one, and `SettingsDocsTests`
/// checks docs/pipeline.md, docs/scoring.md and the README against it. Adding
/// a setting: a property with its default on the settings type, and one
/// `Setting` in its section.
struct Setting<Target> {
    let key: String
    /// False for a key the parser knows only to say where it has moved: the
    /// docs do not list it as a setting.
    var documented = true
    /// The default as the docs state it, from a `Target` nothing has been
    /// read into; nil when there is none to state plainly (required, a path,
    /// derived from other settings).
    let defaultText: (Target) -> String?
    /// The values allowed, as the docs write a range (`0-100`); nil when not a range.
    var rangeText: String? = nil
    /// The declarations of the mapping this key holds, when its keys are
    /// settings of their own, given its path and a fresh `Target`.
    var nested: ((String, Target) -> [DeclaredSection])? = nil
    let read: (ConfigNode, inout Target) throws -> Void
}

/// The keys of one section, in the order the parser reads them (which is the
/// order in which problems are reported).
struct SettingsSection<Target> {
    let settings: [Setting<Target>]

    init(_ settings: [Setting<Target>]) { self.settings = settings }

    var keys: [String] { settings.map(\.key) }

    /// Reads every key of the section from `node` into `target`.
    func read(_ node: ConfigNode, into target: inout Target) throws {
        node.declare(keys)
        for setting in settings { try setting.read(node, &target) }
    }

    /// This section and the sections below it, as the docs check sees them.
    func declared(path: String, defaults: Target) -> [DeclaredSection] {
        let own = DeclaredSection(
            path: path,
            keys: settings.map { s in
                DeclaredKey(
                    name: s.key, defaultText: s.defaultText(defaults), rangeText: s.rangeText,
                    documented: s.documented, isSection: s.nested != nil)
            })
        return [own]
            + settings.flatMap { s in
                s.nested.map { $0(path.isEmpty ? s.key : "\(path).\(s.key)", defaults) } ?? []
            }
    }
}

/// A section's keys, as the docs check sees them: `path` is the section's
/// dotted path in the pipeline file ("" for the top level, `<name>` for a
/// mapping keyed by names, e.g. `exports.<name>`).
struct DeclaredSection: Equatable, Sendable {
    var path: String
    var keys: [DeclaredKey]
}

struct DeclaredKey: Equatable, Sendable {
    var name: String
    var defaultText: String?
    var rangeText: String? = nil
    var documented = true
    /// The key holds a mapping whose keys are declared as a section of their own.
    var isSection = false
}

/// A number as the docs write it: `30`, not `30.0`.
func settingText(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
}

extension Setting {
    static func number(_ key: String, _ field: WritableKeyPath<Target, Double>, _ range: ClosedRange<Double>)
        -> Setting
    {
        Setting(
            key: key, defaultText: { settingText($0[keyPath: field]) },
            rangeText: "\(settingText(range.lowerBound))-\(settingText(range.upperBound))",
            read: { node, t in
                t[keyPath: field] = try node.double(key, default: t[keyPath: field], range: range)
            })
    }

    static func whole(_ key: String, _ field: WritableKeyPath<Target, Int>, _ range: ClosedRange<Int>) -> Setting {
        Setting(
            key: key, defaultText: { "\($0[keyPath: field])" }, rangeText: "\(range.lowerBound)-\(range.upperBound)",
            read: { node, t in
                t[keyPath: field] = try node.int(key, default: t[keyPath: field], range: range)
            })
    }

    static func flag(_ key: String, _ field: WritableKeyPath<Target, Bool>) -> Setting {
        Setting(
            key: key, defaultText: { "\($0[keyPath: field])" },
            read: { node, t in
                t[keyPath: field] = try node.bool(key, default: t[keyPath: field])
            })
    }

    /// One of the values of a string enum; `expected` names them for the error.
    static func choice<Value: RawRepresentable<String>>(
        _ key: String, _ field: WritableKeyPath<Target, Value>, expected: String
    ) -> Setting {
        Setting(
            key: key, defaultText: { $0[keyPath: field].rawValue },
            read: { node, t in
                let text = try node.string(key, default: t[keyPath: field].rawValue)
                guard let value = Value(rawValue: text) else {
                    throw node.failure("expected \(expected), found \"\(text)\"", key: key)
                }
                t[keyPath: field] = value
            })
    }

    /// A key read by `read`, with the default the docs state (if any).
    static func custom(
        _ key: String, default defaultText: @escaping (Target) -> String? = { _ in nil },
        read: @escaping (ConfigNode, inout Target) throws -> Void
    ) -> Setting {
        Setting(key: key, defaultText: defaultText, read: read)
    }

    /// A mapping of settings of the same `Target`, then `check` on what it read.
    static func section(
        _ key: String, _ section: SettingsSection<Target>,
        check: ((ConfigNode, Target) throws -> Void)? = nil
    ) -> Setting {
        Setting(
            key: key, defaultText: { _ in nil }, nested: { path, t in section.declared(path: path, defaults: t) },
            read: { node, t in
                let child = try node.child(key)
                try section.read(child, into: &t)
                try check?(child, t)
            })
    }

    /// A mapping of settings of another type: `declared` gives its
    /// declarations (under the path it is given), `read` reads the mapping.
    static func mapping(
        _ key: String, declared: @escaping (String) -> [DeclaredSection],
        read: @escaping (ConfigNode, inout Target) throws -> Void
    ) -> Setting {
        Setting(
            key: key, defaultText: { _ in nil }, nested: { path, _ in declared(path) },
            read: { node, t in
                try read(try node.child(key), &t)
            })
    }
}

// MARK: - Sections read by functions of their own

extension ChurnDefinition {
    /// The keys `ChurnDefinition.load` reads (Features/CustomerLifecycle.swift);
    /// `ConfigNode` checks that it reads exactly these.
    static var declaredKeys: [DeclaredKey] {
        [
            DeclaredKey(name: "from", defaultText: ChurnDefinition().source.rawValue),
            DeclaredKey(name: "inactivity_days", defaultText: nil),
            DeclaredKey(name: "activity_events", defaultText: nil),
        ]
    }
}

extension Setting {
    /// A mapping read by a function outside the declarations (`keys` are
    /// what it reads; `ConfigNode` holds it to them).
    static func mapping(
        _ key: String, keys: [DeclaredKey], read: @escaping (ConfigNode, inout Target) throws -> Void
    ) -> Setting {
        .mapping(
            key, declared: { path in [DeclaredSection(path: path, keys: keys)] },
            read: { node, t in
                node.declare(keys.map(\.name))
                try read(node, &t)
            })
    }
}
