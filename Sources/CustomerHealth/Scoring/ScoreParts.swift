import Foundation

/// What the exports hold as of a day: the built-in event kinds with at least
/// one event on or before it, and the exports with at least one row on or
/// before it. Point in time, so that a replayed day sees what that night saw.
public struct DataSources: Sendable, Equatable {
    public var eventKinds: Set<EventKind> = []
    public var exports: Set<ExportKind> = []

    public init() {}

    /// Every source, as the seed's own exports have them.
    public static var all: DataSources {
        var s = DataSources()
        s.eventKinds = Set(EventKind.allCases)
        s.exports = Set(ExportKind.allCases)
        return s
    }

    func json() -> JSONValue {
        .object([
            ("event_kinds", .array(EventKind.allCases.filter(eventKinds.contains).map { .string($0.name) })),
            ("exports", .array(ExportKind.allCases.filter(exports.contains).map { .string($0.rawValue) })),
        ])
    }

    /// Reads `json()` back (rescore reads it from the run's manifest).
    init?(json: Any?) {
        guard let object = json as? [String: Any], let kinds = object["event_kinds"] as? [String],
            let exports = object["exports"] as? [String]
        else { return nil }
        for k in kinds { guard let kind = EventKind(name: k) else { return nil }; eventKinds.insert(kind) }
        for e in exports { guard let kind = ExportKind(rawValue: e) else { return nil }; self.exports.insert(kind) }
    }
}

/// The four components of the health score.
public enum ScoreComponent: String, CaseIterable, Sendable {
    case usage, engagement, satisfaction
    case valueRealization = "value_realization"
}

/// An account value a score part divides by or compares with.
public enum AccountValue: String, Sendable {
    case seats, mrr
    case featuresAvailable = "features_available"
    case trainingModules = "training_modules"

    func isKnown(_ a: AccountRecord) -> Bool {
        switch self {
        case .seats: return a.seats != nil
        case .mrr: return a.mrr != nil
        case .featuresAvailable: return a.featuresAvailable != nil
        case .trainingModules: return a.trainingModules != nil
        }
    }
}

/// The parts of the component scores, each declared once with the data it
/// reads: a part whose data the pipeline does not have is *not applicable*,
/// and its points go to the other parts of its component (docs/scoring.md,
/// "When data is missing").
public enum ScorePart: String, CaseIterable, Sendable {
    case recency, activity
    case dailyUsers = "daily_users"
    case adoption, api, mobile, training
    case tickets, response, uptime
    case roi
    case workOrders = "work_orders"
    case timeToValue = "time_to_value"

    public var component: ScoreComponent {
        switch self {
        case .recency, .activity, .dailyUsers: return .usage
        case .adoption, .api, .mobile, .training: return .engagement
        case .tickets, .response, .uptime: return .satisfaction
        case .roi, .workOrders, .timeToValue: return .valueRealization
        }
    }

    /// `component.part`, as in `scoring.parts` and the outputs.
    public var key: String { "\(component.rawValue).\(rawValue)" }

    /// The event kinds of which at least one must have been seen (empty: none needed).
    var eventKinds: [EventKind] {
        switch self {
        case .recency: return [.login]
        case .adoption: return [.featureUse]
        case .api: return [.apiCall]
        case .mobile: return [.mobileSession]
        case .training: return [.trainingCompleted]
        case .workOrders: return [.workOrderCompleted]
        case .timeToValue: return [.workOrderCompleted]
        default: return []
        }
    }

    /// The export that must have rows.
    var export: ExportKind? {
        switch self {
        case .tickets, .response: return .tickets
        case .uptime: return .uptime
        case .roi: return .savings
        default: return nil
        }
    }

    /// The account values it needs, customer by customer.
    var accountValues: [AccountValue] {
        switch self {
        case .adoption: return [.featuresAvailable]
        case .api, .mobile, .tickets, .workOrders: return [.seats]
        case .training: return [.trainingModules]
        case .roi: return [.mrr]
        default: return []
        }
    }

    /// Whether the sources hold what the part reads. Time to value reads
    /// either source of a first value: a work order or a recorded saving.
    func isBacked(by sources: DataSources) -> Bool {
        if self == .timeToValue { return sources.eventKinds.contains(.workOrderCompleted) || sources.exports.contains(.savings) }
        if !eventKinds.isEmpty && !eventKinds.contains(where: sources.eventKinds.contains) { return false }
        if let export, !sources.exports.contains(export) { return false }
        return true
    }

    /// Why a part lacks its data, for the manifest.
    func missing(in sources: DataSources, asOf: CalendarDay) -> String? {
        if isBacked(by: sources) { return nil }
        if self == .timeToValue { return "no work_order_completed event and no savings row on or before \(asOf)" }
        if let export, !sources.exports.contains(export) { return "no \(export.rawValue) row on or before \(asOf)" }
        return "no \(eventKinds.map(\.name).joined(separator: " or ")) event on or before \(asOf)"
    }
}

/// What `scoring.parts` says of a part.
public enum PartSetting: String, Sendable {
    /// Applicable when its data exists (the default).
    case auto
    /// Always applicable, as in the seed: missing data scores as the seed scored it.
    case on
    /// Never applicable.
    case off
}

/// Which score parts apply on a day: the pipeline-wide answer from the data
/// sources and `scoring.parts`, narrowed per customer by the account values
/// the customer's record lacks.
public struct ScoreApplicability: Sendable, Equatable {
    public var parts: Set<ScorePart>
    /// Parts forced on: they apply even to customers lacking their account values.
    public var forced: Set<ScorePart>

    public init(sources: DataSources, settings: [ScorePart: PartSetting]) {
        var parts = Set<ScorePart>()
        var forced = Set<ScorePart>()
        for p in ScorePart.allCases {
            switch settings[p] ?? .auto {
            case .auto: if p.isBacked(by: sources) { parts.insert(p) }
            case .on: parts.insert(p); forced.insert(p)
            case .off: break
            }
        }
        self.parts = parts
        self.forced = forced
    }

    /// Every part, as the seed scored (and as customer-health scored before parts could be left out).
    public static var all: ScoreApplicability { ScoreApplicability(sources: .all, settings: [:]) }

    /// The parts that apply to one customer.
    public func parts(for account: AccountRecord) -> Set<ScorePart> {
        parts.filter { p in forced.contains(p) || p.accountValues.allSatisfy { $0.isKnown(account) } }
    }

    /// The parts that apply to at least one of `accounts`.
    public func inEffect(for accounts: [AccountRecord]) -> Set<ScorePart> {
        parts.filter { p in forced.contains(p) || accounts.contains { a in p.accountValues.allSatisfy { $0.isKnown(a) } } }
    }

    /// kpis.json's `score_parts`: each component's parts, true when the part
    /// applies to at least one of the scored customers.
    func json(accounts: [AccountRecord]) -> JSONValue {
        let used = inEffect(for: accounts)
        return .object(ScoreComponent.allCases.map { c in
            (c.rawValue, .object(ScorePart.allCases.filter { $0.component == c }.map { ($0.rawValue, .bool(used.contains($0))) }))
        })
    }

    /// The manifest's account of each part: applicable or not, and why.
    func manifestJSON(sources: DataSources, settings: [ScorePart: PartSetting], asOf: CalendarDay, accounts: [AccountRecord]) -> JSONValue {
        .array(ScorePart.allCases.map { p in
            let setting = settings[p] ?? .auto
            var why: String
            switch setting {
            case .on: why = "forced on by scoring.parts"
            case .off: why = "forced off by scoring.parts"
            case .auto: why = p.missing(in: sources, asOf: asOf) ?? "its data is in the exports"
            }
            var members: [(String, JSONValue)] = [("part", .string(p.key)), ("applicable", .bool(parts.contains(p))), ("why", .string(why))]
            if parts.contains(p) && !forced.contains(p) {
                let lacking = accounts.filter { a in !p.accountValues.allSatisfy { $0.isKnown(a) } }.count
                if lacking > 0 {
                    members.append(("customers_without_it", .int(lacking)))
                    members.append(("because", .string("their account has no \(p.accountValues.map(\.rawValue).joined(separator: " or "))")))
                }
            }
            return .object(members)
        })
    }
}
