import Dispatch
import Foundation

/// Builds the churn training table from the exports' own history: for each
/// observation date, every customer active then, its features as of that
/// date, and whether it churned within the horizon after it. Features only
/// see data up to their date, labels only what happened after it.
public struct TrainingSetBuilder: Sendable {
    public let data: IngestResult
    public let scoring: ScoringSettings
    public let churn: ChurnSettings
    /// The pipeline's event vocabulary (whether logins come from any activity).
    let config: EventVocabulary

    public init(data: IngestResult, scoring: ScoringSettings, churn: ChurnSettings, events: EventVocabulary = EventVocabulary()) {
        self.data = data
        self.scoring = scoring
        self.churn = churn
        config = events
    }

    /// Observation dates: every step back from the newest date whose horizon
    /// lies inside the data (or ends by `through`), while a full feature
    /// window of history exists.
    public func observationDates(through: CalendarDay? = nil) -> [CalendarDay] {
        guard let newest = data.latestActivityDay, let earliest = data.earliestActivityDay else { return [] }
        let latest = through.map { min($0, newest) } ?? newest
        let last = latest.adding(days: -churn.horizonDays)
        let first = CalendarDay(number: Int32(earliest)).adding(days: scoring.windowDays - 1)
        guard first <= last else { return [] }
        switch churn.observeEvery {
        case .days(let n):
            var out: [CalendarDay] = []
            var d = last
            while d >= first { out.append(d); d = d.adding(days: -n) }
            return out.reversed()
        case .months(let n):
            // Every nth month end between first and last, counted back from the latest.
            var out: [CalendarDay] = []
            var c = first.components
            while true {
                let end = CalendarDay(year: c.year, month: c.month, day: CalendarDay.daysIn(month: c.month, year: c.year))!
                if end > last { break }
                if end >= first { out.append(end) }
                c = c.month == 12 ? (c.year + 1, 1, 1) : (c.year, c.month + 1, 1)
            }
            return out.reversed().enumerated().filter { $0.offset % n == 0 }.map(\.element).reversed()
        }
    }

    /// (already churned on D, churns within (D, D + horizon]), by the
    /// pipeline's churn definition: the labels of training and `backtest`.
    func churnState(customer c: Int, on d: CalendarDay) -> (churned: Bool, label: Bool) {
        let lifecycle = data.lifecycles[c]
        if lifecycle.isChurned(on: d) { return (true, false) }
        return (false, lifecycle.churns(after: d, through: d.adding(days: churn.horizonDays)))
    }

    /// The rows of the training set: for each date, every customer active on it and its label.
    func rows(dates: [CalendarDay]) -> [(customer: Int, date: CalendarDay, label: UInt8)] {
        var out: [(Int, CalendarDay, UInt8)] = []
        for d in dates {
            for c in 0..<data.accounts.count where data.lifecycles[c].exists(on: d) {
                let state = churnState(customer: c, on: d)
                if !state.churned { out.append((c, d, state.label ? 1 : 0)) }
            }
        }
        return out
    }

    /// The training table of `dates` with the model inputs `inputs` (the fixed ones by default).
    public func build(dates: [CalendarDay], threads: Int, inputs: [ModelInput] = ChurnFeatures.fixed) -> TrainingTable {
        build(rows: rows(dates: dates), threads: threads, inputs: inputs)
    }

    func build(rows: [(customer: Int, date: CalendarDay, label: UInt8)], threads: Int, inputs: [ModelInput]) -> TrainingTable {
        let calculator = FeatureCalculator(data: data, settings: scoring)
        let data = self.data
        let width = inputs.count
        // Row-major values, each row written by one worker in place.
        let values = ParallelMap.map(count: rows.count, threads: threads) { i -> [Double] in
            let (c, d, _) = rows[i]
            return ChurnFeatures.inputs(inputs, features: calculator.features(customer: c, asOf: d), account: data.accounts[c], data: data,
                customer: c, asOf: d)
        }
        var columns = [[Double]](repeating: [], count: width)
        for j in 0..<width {
            columns[j].reserveCapacity(rows.count)
            for i in 0..<rows.count { columns[j].append(values[i][j]) }
        }
        return TrainingTable(featureNames: inputs.map(\.name), columns: columns, labels: rows.map(\.label),
            rowIDs: rows.map { data.accounts[$0.customer].customerID }, dates: rows.map(\.date))
    }

    /// The event-derived inputs a model reads: candidates for every built-in
    /// kind the exports hold and the `productEvents` most frequent named
    /// product events (kept, or mapped to `feature`: each such name apart), each ranked by how well it alone separates churners on
    /// a sample of up to 20,000 training rows (ROC AUC away from 0.5; never a
    /// validation row), the best `maxInputs` kept. Bounded cost: the
    /// candidates are at most (7 + productEvents) x 6, computed on the sample.
    func selectEventInputs(trainingRows: [(customer: Int, date: CalendarDay, label: UInt8)], productEvents: Int, maxInputs: Int,
                           seed: UInt64, threads: Int) -> (selected: [ModelInput], ranking: [(String, Double)]) {
        guard maxInputs > 0, !trainingRows.isEmpty else { return ([], []) }
        var sources: [EventSource] = []
        let kinds = data.eventCounts
        if kinds[Int(EventKind.login.rawValue)] > 0 || config.loginsFromActivity { sources.append(.login) }
        for kind in EventCounts.Kind.allCases {
            let builtIn: EventKind = [.featureUse, .apiCall, .mobileSession, .dashboardView, .workOrderCompleted][Int(kind.rawValue)]
            if kinds[Int(builtIn.rawValue)] > 0 { sources.append(.counted(kind)) }
        }
        if kinds[Int(EventKind.trainingCompleted.rawValue)] > 0 { sources.append(.training) }
        for (name, _) in (data.productEventCounts + data.namedFeatureEventCounts).sorted(by: { $0.events > $1.events || ($0.events == $1.events && $0.name < $1.name) })
            .prefix(productEvents) { sources.append(.product(name)) }
        var candidates: [ModelInput] = []
        for source in sources {
            for statistic in EventStatistic.allCases { candidates.append(ChurnFeatures.input(named: ChurnFeatures.name(statistic, source))!) }
        }
        // A deterministic sample: the rows whose hash of (customer, date, seed) is smallest.
        let sampleSize = 20_000
        var sample = trainingRows
        if sample.count > sampleSize {
            func key(_ r: (customer: Int, date: CalendarDay, label: UInt8)) -> UInt64 {
                var g = SeededGenerator.derive(seed, UInt64(r.customer) &* 1_000_003 &+ UInt64(UInt32(bitPattern: r.date.number)))
                return g.next()
            }
            sample = sample.map { ($0, key($0)) }.sorted { $0.1 < $1.1 }.prefix(sampleSize).map(\.0)
        }
        let table = build(rows: sample, threads: threads, inputs: candidates)
        var ranking: [(String, Double)] = []
        for j in 0..<table.featureCount {
            // Missing values rank lowest: "never happened" is information too.
            let column = table.columns[j].map { $0.isNaN ? -Double.greatestFiniteMagnitude : $0 }
            guard Set(column).count > 1, let auc = Metrics.rocAUC(scores: column, labels: table.labels) else { continue }
            ranking.append((table.featureNames[j], abs(auc - 0.5)))
        }
        ranking.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        let chosen = Set(ranking.prefix(maxInputs).map(\.0))
        return (candidates.filter { chosen.contains($0.name) }, ranking)
    }
}
