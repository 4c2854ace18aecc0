import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The built-in event kinds: the ones the health score reads.
public enum EventKind: UInt8, CaseIterable, Sendable {
    case login, featureUse, apiCall, mobileSession, dashboardView, workOrderCompleted, trainingCompleted

    public var name: String {
        switch self {
        case .login: return "login"
        case .featureUse: return "feature_use"
        case .apiCall: return "api_call"
        case .mobileSession: return "mobile_session"
        case .dashboardView: return "dashboard_view"
        case .workOrderCompleted: return "work_order_completed"
        case .trainingCompleted: return "training_completed"
        }
    }

    public init?(name: String) {
        guard let k = EventKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }

    static let allNames = allCases.map { "`\($0.name)`" }.joined(separator: ", ")

    /// Whether an event of this kind names a feature or module (`feature` column).
    var namesSomething: Bool { self == .featureUse || self == .trainingCompleted }

    @inline(__always)
    static func parse(_ f: UnsafeRawBufferPointer) -> EventKind? {
        // Compare on length first: each name has a distinct length but two.
        switch f.count {
        case 5: return equal(f, "login") ? .login : nil
        case 11: return equal(f, "feature_use") ? .featureUse : nil
        case 8: return equal(f, "api_call") ? .apiCall : nil
        case 14:
            if equal(f, "mobile_session") { return .mobileSession }
            if equal(f, "dashboard_view") { return .dashboardView }
            return nil
        case 20: return equal(f, "work_order_completed") ? .workOrderCompleted : nil
        case 18: return equal(f, "training_completed") ? .trainingCompleted : nil
        default: return nil
        }
    }

    @inline(__always)
    private static func equal(_ f: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard f.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<f.count where f[i] != p[i] { return false }
        return true
    }
}

/// What becomes of an event name (the pipeline's `events:` section).
public enum EventTreatment: Sendable, Equatable {
    /// One of the built-in kinds.
    case kind(EventKind)
    /// Kept under its own name as a named product event, per customer and day.
    case keep
    /// Counted as `feature_use`, the event name being the feature.
    case feature
    /// Accepted and counted in the manifest, but used nowhere.
    case ignore
    /// A `bad_value` reject.
    case reject

    /// Parses a target written in the pipeline file.
    init?(setting: String) {
        switch setting {
        case "keep": self = .keep
        case "feature": self = .feature
        case "ignore": self = .ignore
        case "reject": self = .reject
        default:
            guard let k = EventKind(name: setting) else { return nil }
            self = .kind(k)
        }
    }

    static let settingNames = EventKind.allCases.map(\.name) + ["keep", "feature", "ignore", "reject"]
}

/// The product's event vocabulary: how the export's own event names map to
/// the built-in kinds. Exact names win over patterns, patterns apply in the
/// order written, the built-in names stand for themselves unless mapped, and
/// every other name gets `other`.
public struct EventVocabulary: Sendable, Equatable {
    /// (name or fnmatch pattern, treatment), in the pipeline file's order.
    public var rules: [(pattern: String, treatment: EventTreatment)] = []
    public var other: EventTreatment = .reject
    /// Every day with any accepted event is also a login day (for products without a login event).
    public var loginsFromActivity = false

    public init() {}

    public static func == (a: EventVocabulary, b: EventVocabulary) -> Bool {
        a.other == b.other && a.loginsFromActivity == b.loginsFromActivity && a.rules.count == b.rules.count
            && zip(a.rules, b.rules).allSatisfy { $0.pattern == $1.pattern && $0.treatment == $1.treatment }
    }

    /// True when no built-in name is mapped to something else, so that the
    /// fast check of the seven names can come first.
    var builtInNamesStand: Bool {
        EventKind.allCases.allSatisfy { treatment(of: $0.name) == (.kind($0), false) }
    }

    static func isPattern(_ s: String) -> Bool { s.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) }

    /// The treatment of one event name, and whether it came from a rule
    /// (a mapped name stands in for an empty `feature`).
    public func treatment(of name: String) -> (EventTreatment, mapped: Bool) {
        for rule in rules where !Self.isPattern(rule.pattern) && rule.pattern == name { return (rule.treatment, true) }
        for rule in rules where Self.isPattern(rule.pattern) && fnmatch(rule.pattern, name, 0) == 0 {
            return (rule.treatment, true)
        }
        if let k = EventKind(name: name) { return (.kind(k), false) }
        return (other, true)
    }

    static func load(_ node: ConfigNode) throws -> EventVocabulary {
        var v = EventVocabulary()
        try settings.read(node, into: &v)
        return v
    }

    static func declared(path: String) -> [DeclaredSection] {
        settings.declared(path: path, defaults: EventVocabulary())
    }

    /// The `events:` section, in the order it is read.
    static var settings: SettingsSection<EventVocabulary> {
        SettingsSection([
            .custom("map") { node, v in
                for (pattern, target) in try node.orderedStringMap("map") {
                    guard let t = EventTreatment(setting: target) else {
                        throw node.failure(
                            "\"\(pattern)\": \"\(target)\" is not a built-in kind or a treatment; expected one of \(EventTreatment.settingNames.joined(separator: ", "))",
                            key: "map")
                    }
                    v.rules.append((pattern, t))
                }
            },
            .custom("other", default: { describe($0.other) }) { node, v in
                let other = try node.string("other", default: describe(v.other))
                guard let o = EventTreatment(setting: other) else {
                    throw node.failure(
                        "expected keep, feature, ignore, reject or a built-in kind, found \"\(other)\"", key: "other")
                }
                v.other = o
            },
            .flag("logins_from_activity", \.loginsFromActivity),
        ])
    }

    /// The setting as it reads in the manifest and the training fingerprint.
    var summary: String {
        let mapped = rules.map { "\($0.pattern)=\(Self.describe($0.treatment))" }.joined(separator: ",")
        return "map[\(mapped)] other=\(Self.describe(other)) logins_from_activity=\(loginsFromActivity)"
    }

    static func describe(_ t: EventTreatment) -> String {
        switch t {
        case .kind(let k): return k.name
        case .keep: return "keep"
        case .feature: return "feature"
        case .ignore: return "ignore"
        case .reject: return "reject"
        }
    }
}

/// The named product events of one ingest (kept, or mapped to `feature`), numbered as they are first met.
/// Numbers depend on the order in which workers meet names, so nothing is
/// ever written by number: every output lists product events by name.
public final class ProductEventRegistry: @unchecked Sendable {
    /// Numbers are 16 bits in the per-customer series.
    public static let capacity = 65_535
    private let state = Mutex<(ids: [String: UInt16], names: [String])>(([:], []))

    public init() {}

    /// The number of a name, registering it; nil when the registry is full.
    func id(for name: String) -> UInt16? {
        state.withLock { s in
            if let id = s.ids[name] { return id }
            guard s.names.count < ProductEventRegistry.capacity else { return nil }
            let id = UInt16(s.names.count)
            s.ids[name] = id
            s.names.append(name)
            return id
        }
    }

    /// Names by number.
    public var names: [String] { state.withLock { $0.names } }

    public var count: Int { state.withLock { $0.names.count } }

    /// The number of a name already registered.
    public func id(of name: String) -> UInt16? { state.withLock { $0.ids[name] } }
}

/// What an activity row's event becomes, cached per distinct name.
enum EventAction: Equatable {
    /// A built-in kind; `mapped`: the name came through a rule and stands in for an empty feature.
    case kind(EventKind, mapped: Bool)
    case product(UInt16)
    /// feature_use with the event name as the feature; also counted by name
    /// (its registry number), so that the model can tell the names apart.
    case featureNamed(UInt16)
    case ignore
    case reject
}

/// Resolves event names for one worker: a small cache in front of the
/// vocabulary, so that each distinct name is matched against the rules once.
struct EventResolver {
    let vocabulary: EventVocabulary
    let registry: ProductEventRegistry
    let fastBuiltIns: Bool
    private var cache: [UInt64: EventAction] = [:]

    init(vocabulary: EventVocabulary, registry: ProductEventRegistry) {
        self.vocabulary = vocabulary
        self.registry = registry
        fastBuiltIns = vocabulary.builtInNamesStand
    }

    /// nil: the product-event registry is full.
    @inline(__always)
    mutating func action(_ f: UnsafeRawBufferPointer) -> EventAction? {
        if fastBuiltIns, let k = EventKind.parse(f) { return .kind(k, mapped: false) }
        let h = ByteKeyTable.hash(f)
        if let a = cache[h] { return a }
        let name = String(decoding: f, as: UTF8.self)
        let (t, mapped) = vocabulary.treatment(of: name)
        let a: EventAction
        switch t {
        case .kind(let k): a = .kind(k, mapped: mapped)
        case .keep:
            guard let id = registry.id(for: name) else { return nil }
            a = .product(id)
        case .feature:
            guard let id = registry.id(for: name) else { return nil }
            a = .featureNamed(id)
        case .ignore: a = .ignore
        case .reject: a = .reject
        }
        cache[h] = a
        return a
    }
}
