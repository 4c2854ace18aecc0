import Dispatch

/// Where a pipeline's churn comes from (`churn_definition.from`).
public enum ChurnSource: String, Sendable, CaseIterable {
    /// accounts.churned_at: churned from that day on.
    case churnedAt = "churned_at"
    /// accounts.subscription_end: churned from the day the subscription ended (or will end).
    case subscriptionEnd = "subscription_end"
    /// N days in a row without activity; a customer who comes back is active again.
    case inactivity
}

/// The pipeline's one churn definition (`churn_definition:`): who is active
/// on a day, for `run`, `replay`, `watch`, `serve`, the KPIs, the at-risk
/// list, the training labels and `backtest` alike.
public struct ChurnDefinition: Sendable, Equatable {
    public var source: ChurnSource = .churnedAt
    /// With `.inactivity`: days without activity that make a churn.
    public var inactivityDays = 0
    /// With `.inactivity`: the event names whose days count as activity
    /// (built-in kinds or kept product events); nil: every accepted event.
    public var activityEvents: [String]? = nil

    public init() {}

    public init(inactivityDays: Int, activityEvents: [String]? = nil) {
        source = .inactivity
        self.inactivityDays = inactivityDays
        self.activityEvents = activityEvents
    }

    static func load(_ node: ConfigNode) throws -> ChurnDefinition {
        var d = ChurnDefinition()
        let from = try node.string("from", default: ChurnSource.churnedAt.rawValue)
        guard let source = ChurnSource(rawValue: from) else {
            throw node.failure("expected churned_at, subscription_end or inactivity, found \"\(from)\"", key: "from")
        }
        d.source = source
        if source == .inactivity {
            guard node.has("inactivity_days") else {
                throw node.failure(
                    "from: inactivity needs inactivity_days: the number of days without activity that make a churn (for example 60)"
                )
            }
            d.inactivityDays = try node.int("inactivity_days", default: 0, range: 1...3650)
            d.activityEvents = try node.stringList("activity_events")
            if let list = d.activityEvents, list.isEmpty {
                throw node.failure(
                    "list at least one event name, or leave the key out for every event", key: "activity_events")
            }
        } else {
            for key in ["inactivity_days", "activity_events"] where node.has(key) {
                throw node.failure("\(key) applies only to from: inactivity", key: key)
            }
        }
        return d
    }

    /// How the manifest, the model file and the docs name the definition.
    public var summary: String {
        switch source {
        case .churnedAt: return "accounts.churned_at"
        case .subscriptionEnd: return "accounts.subscription_end"
        case .inactivity:
            let events = activityEvents.map { " of " + $0.joined(separator: ", ") } ?? ""
            return "no activity\(events) for \(inactivityDays) days"
        }
    }
}

/// When a customer is a customer: from its start, active except during churn
/// spells. Under accounts.churned_at or subscription_end there is at most one
/// spell, never closed; under inactivity a customer who comes back closes
/// its spell and is active again from the day it came back.
public struct CustomerLifecycle: Sendable, Equatable {
    /// Churned on the days `from ..< until`; `until` nil: not back (as far as is known).
    public struct Spell: Sendable, Equatable {
        public var from: CalendarDay
        public var until: CalendarDay?

        public init(from: CalendarDay, until: CalendarDay?) {
            self.from = from
            self.until = until
        }
    }

    public var start: CalendarDay
    /// In time order, not overlapping.
    public var spells: [Spell]

    public init(start: CalendarDay, spells: [Spell] = []) {
        self.start = start
        self.spells = spells
    }

    public func exists(on d: CalendarDay) -> Bool { start <= d }

    public func isChurned(on d: CalendarDay) -> Bool {
        for s in spells where s.from <= d { if s.until.map({ d < $0 }) ?? true { return true } }
        return false
    }

    /// Started on or before `d` and not churned on it.
    public func isActive(on d: CalendarDay) -> Bool { exists(on: d) && !isChurned(on: d) }

    /// Whether a churn spell begins on a day in (after, through].
    public func churns(after a: CalendarDay, through b: CalendarDay) -> Bool {
        spells.contains { $0.from > a && $0.from <= b }
    }

    /// Whether the customer came back on a day in (after, through].
    public func returns(after a: CalendarDay, through b: CalendarDay) -> Bool {
        spells.contains { s in s.until.map { $0 > a && $0 <= b } ?? false }
    }

    /// What is known on `d`: spells begun by then, a return after it not yet.
    public func known(asOf d: CalendarDay) -> CustomerLifecycle {
        // Usually nothing is after d: share the spells rather than copy them.
        if spells.allSatisfy({ $0.from <= d && ($0.until.map { $0 <= d } ?? true) }) { return self }
        return CustomerLifecycle(
            start: start,
            spells: spells.compactMap { s in
                guard s.from <= d else { return nil }
                return Spell(from: s.from, until: s.until.flatMap { $0 <= d ? $0 : nil })
            })
    }

    /// The spells from the days with activity: churned on the day the
    /// customer has gone `days` days without any, back on its next active day.
    /// The clock starts at `clockStart` (the later of the subscription start
    /// and the first day of history: before the history nothing is known).
    /// Spells that would begin after `dataEnd` are not known yet.
    static func fromActivity(start: CalendarDay, clockStart: Int, activeDays: [Int], days n: Int, dataEnd: Int)
        -> CustomerLifecycle
    {
        var spells: [Spell] = []
        var last = clockStart
        for a in activeDays where a > clockStart {
            if a - last > n {
                spells.append(Spell(from: CalendarDay(number: Int32(last + n)), until: CalendarDay(number: Int32(a))))
            }
            last = a
        }
        if last + n <= dataEnd { spells.append(Spell(from: CalendarDay(number: Int32(last + n)), until: nil)) }
        return CustomerLifecycle(start: start, spells: spells)
    }
}

extension ChurnDefinition {
    /// Every customer's lifecycle under this definition, in parallel over customers.
    func lifecycles(
        accounts: [AccountRecord], aggregates: IngestAccumulator, registry: ProductEventRegistry, threads: Int
    )
        -> [CustomerLifecycle]
    {
        let n = accounts.count
        switch source {
        case .churnedAt, .subscriptionEnd:
            return accounts.map { a in
                let end = source == .churnedAt ? a.churnedAt : a.subscriptionEnd
                return CustomerLifecycle(
                    start: a.subscriptionStart, spells: end.map { [.init(from: $0, until: nil)] } ?? [])
            }
        case .inactivity:
            let historyStart = aggregates.earliestActivityDay == Int.max ? nil : aggregates.earliestActivityDay
            let dataEnd = aggregates.latestActivityDay
            let filter = activityFilter(registry: registry)
            let customers = UnsafeSendable(aggregates.customers)
            let days = inactivityDays
            return ParallelMap.map(count: n, threads: threads) { c in
                let start = accounts[c].subscriptionStart
                let clock = max(Int(start.number), historyStart ?? Int(start.number))
                let active = customers.value[c].activeDays(filter).filter { $0 >= Int(start.number) }
                return CustomerLifecycle.fromActivity(
                    start: start, clockStart: clock, activeDays: active, days: days, dataEnd: dataEnd)
            }
        }
    }

    /// The kinds and product events that count as activity; nil: every event.
    func activityFilter(registry: ProductEventRegistry) -> ActivityFilter? {
        guard let names = activityEvents else { return nil }
        var filter = ActivityFilter()
        for name in names {
            if let k = EventKind(name: name) {
                filter.kinds.insert(k)
            } else if let id = registry.id(of: name) {
                filter.products.insert(id)
            }
        }
        return filter
    }
}

/// Which events' days count as activity under an inactivity definition.
struct ActivityFilter: Sendable {
    var kinds: Set<EventKind> = []
    var products: Set<UInt16> = []
}
