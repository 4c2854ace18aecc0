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
        for k in kinds {
            guard let kind = EventKind(name: k) else { return nil }
            eventKinds.insert(kind)
        }
        for e in exports {
            guard let kind = ExportKind(rawValue: e) else { return nil }
            self.exports.insert(kind)
        }
    }
}

/// The four components of the health score.
public enum ScoreComponent: String, CaseIterable, Sendable {
    case usage, engagement, satisfaction
    case valueRealization = "value_realization"

    static let ordered = allCases

    var index: Int {
        switch self {
        case .usage: return 0
        case .engagement: return 1
        case .satisfaction: return 2
        case .valueRealization: return 3
        }
    }

    /// This component's parts, in order.
    var parts: [ScorePart] { ScorePart.byComponent[index] }
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

    var bit: UInt8 {
        switch self {
        case .seats: return 1
        case .mrr: return 2
        case .featuresAvailable: return 4
        case .trainingModules: return 8
        }
    }

    /// The account values a record has, as bits (one test per customer, no allocation).
    static func known(_ a: AccountRecord) -> UInt8 {
        (a.seats != nil ? 1 : 0) | (a.mrr != nil ? 2 : 0) | (a.featuresAvailable != nil ? 4 : 0)
            | (a.trainingModules != nil ? 8 : 0)
    }
}

/// A set of score parts in 16 bits: asked for every customer, so it must not allocate.
public struct ScorePartMask: Sendable, Equatable {
    var bits: UInt16

    public init(_ parts: Set<ScorePart>) { bits = parts.reduce(0) { $0 | $1.bit } }
    init(bits: UInt16) { self.bits = bits }

    @inline(__always)
    public func contains(_ p: ScorePart) -> Bool { bits & p.bit != 0 }

    public var set: Set<ScorePart> { Set(ScorePart.allCases.filter(contains)) }
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

    /// Each component's parts, in order: built once (`allCases` makes a new
    /// array at every call, and scoring asks for them for every customer).
    static let byComponent: [[ScorePart]] = ScoreComponent.allCases.map { c in allCases.filter { $0.component == c } }

    var bit: UInt16 {
        switch self {
        case .recency: return 1 << 0
        case .activity: return 1 << 1
        case .dailyUsers: return 1 << 2
        case .adoption: return 1 << 3
        case .api: return 1 << 4
        case .mobile: return 1 << 5
        case .training: return 1 << 6
        case .tickets: return 1 << 7
        case .response: return 1 << 8
        case .uptime: return 1 << 9
        case .roi: return 1 << 10
        case .workOrders: return 1 << 11
        case .timeToValue: return 1 << 12
        }
    }

    /// `accountValues` as bits.
    var accountBits: UInt8 {
        switch self {
        case .adoption: return AccountValue.featuresAvailable.bit
        case .api, .mobile, .tickets, .workOrders: return AccountValue.seats.bit
        case .training: return AccountValue.trainingModules.bit
        case .roi: return AccountValue.mrr.bit
        default: return 0
        }
    }

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
        if self == .timeToValue {
            return sources.eventKinds.contains(.workOrderCompleted) || sources.exports.contains(.savings)
        }
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

/// How many active customers there are, and how many of them lack the
/// account values each part needs.
public struct PartCoverage: Sendable, Equatable {
    public var customers = 0
    public var lacking: [ScorePart: Int] = [:]
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
    /// For each combination of known account values (4 bits), the parts that apply.
    private var byKnownValues: [ScorePartMask] = []

    public init(sources: DataSources, settings: [ScorePart: PartSetting]) {
        var parts = Set<ScorePart>()
        var forced = Set<ScorePart>()
        for p in ScorePart.allCases {
            switch settings[p] ?? .auto {
            case .auto: if p.isBacked(by: sources) { parts.insert(p) }
            case .on:
                parts.insert(p)
                forced.insert(p)
            case .off: break
            }
        }
        self.parts = parts
        self.forced = forced
        byKnownValues = (0..<16).map { known in
            ScorePartMask(parts.filter { p in forced.contains(p) || p.accountBits & UInt8(known) == p.accountBits })
        }
    }

    /// Every part, as the seed scored (and as customer-health scored before parts could be left out).
    public static let all = ScoreApplicability(sources: .all, settings: [:])

    /// The parts that apply to one customer.
    @inline(__always)
    public func parts(for account: AccountRecord) -> ScorePartMask { byKnownValues[Int(AccountValue.known(account))] }

    /// How many of the active customers lack the account values of each
    /// part, in one pass (without copying the snapshots).
    public func coverage(of snapshots: [CustomerSnapshot]) -> PartCoverage {
        var c = PartCoverage()
        var byKnown = [Int](repeating: 0, count: 16)
        for i in snapshots.indices where snapshots[i].active {
            byKnown[Int(AccountValue.known(snapshots[i].account))] += 1
        }
        c.customers = byKnown.reduce(0, +)
        for p in ScorePart.allCases where p.accountBits != 0 {
            let lacking = (0..<16).filter { UInt8($0) & p.accountBits != p.accountBits }.reduce(0) { $0 + byKnown[$1] }
            if lacking > 0 { c.lacking[p] = lacking }
        }
        return c
    }

    /// The parts that apply to at least one customer.
    public func inEffect(_ coverage: PartCoverage) -> Set<ScorePart> {
        parts.filter { p in forced.contains(p) || (coverage.lacking[p] ?? 0) < coverage.customers }
    }

    /// kpis.json's `score_parts`: each component's parts, true when the part
    /// applies to at least one of the scored customers.
    func json(_ coverage: PartCoverage) -> JSONValue {
        let used = inEffect(coverage)
        return .object(
            ScoreComponent.allCases.map { c in
                (
                    c.rawValue,
                    .object(
                        ScorePart.allCases.filter { $0.component == c }.map { ($0.rawValue, .bool(used.contains($0))) })
                )
            })
    }

    /// The manifest's account of each part: applicable or not, and why.
    func manifestJSON(
        sources: DataSources, settings: [ScorePart: PartSetting], asOf: CalendarDay, coverage: PartCoverage
    ) -> JSONValue {
        .array(
            ScorePart.allCases.map { p in
                let setting = settings[p] ?? .auto
                var why: String
                switch setting {
                case .on: why = "forced on by scoring.parts"
                case .off: why = "forced off by scoring.parts"
                case .auto: why = p.missing(in: sources, asOf: asOf) ?? "its data is in the exports"
                }
                var members: [(String, JSONValue)] = [
                    ("part", .string(p.key)), ("applicable", .bool(parts.contains(p))), ("why", .string(why)),
                ]
                if parts.contains(p) && !forced.contains(p) {
                    let lacking = coverage.lacking[p] ?? 0
                    if lacking > 0 {
                        members.append(("customers_without_it", .int(lacking)))
                        members.append(
                            (
                                "because",
                                .string(
                                    "their account has no \(p.accountValues.map(\.rawValue).joined(separator: " or "))")
                            ))
                    }
                }
                return .object(members)
            })
    }
}
