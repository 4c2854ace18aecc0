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

    public init(
        data: IngestResult, scoring: ScoringSettings, churn: ChurnSettings, events: EventVocabulary = EventVocabulary()
    ) {
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
            while d >= first {
                out.append(d)
                d = d.adding(days: -n)
            }
            return out.reversed()
        case .months(let n):
            // Every nth month end between first and last, counted back from the latest.
            var out: [CalendarDay] = []
            var c = first.components
            while true {
                let end = CalendarDay(
                    year: c.year, month: c.month, day: CalendarDay.daysIn(month: c.month, year: c.year))!
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

    /// The rows of the training set: for each date, every customer active on
    /// it (of `only`, a flag per customer, when given: a shard's) and its label.
    func rows(dates: [CalendarDay], only: [Bool]? = nil) -> [(customer: Int, date: CalendarDay, label: UInt8)] {
        var out: [(Int, CalendarDay, UInt8)] = []
        for d in dates {
            for c in 0..<data.accounts.count where (only?[c] ?? true) && data.lifecycles[c].exists(on: d) {
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

    func build(rows: [(customer: Int, date: CalendarDay, label: UInt8)], threads: Int, inputs: [ModelInput])
        -> TrainingTable
    {
        let values = FeatureValues(
            rowCount: rows.count, storage: [FeatureValues.Storage](repeating: .float64, count: inputs.count))
        fill(values, rows: rows, inputs: inputs, threads: threads)
        values.compact()
        let names = data.accounts.map(\.customerID)
        return TrainingTable(
            featureNames: inputs.map(\.name), values: values, labels: rows.map(\.label),
            rowIDs: RowIDs(names: names, index: ArraySlice(rows.map { UInt32($0.customer) })), dates: rows.map(\.date))
    }

    /// Computes the inputs of `rows` into `values` (64-bit columns; row i of
    /// `rows` at row `offset + i`), rows in parallel, each written in place.
    func fill(
        _ values: FeatureValues, rows: [(customer: Int, date: CalendarDay, label: UInt8)], offset: Int = 0,
        inputs: [ModelInput], threads: Int
    ) {
        let calculator = FeatureCalculator(data: data, settings: scoring)
        let data = self.data
        let columns = (0..<inputs.count).map { values.column($0) }
        let box = UnsafeSendable(columns)
        ParallelMap.forEachChunk(count: rows.count, threads: threads) { range in
            for i in range {
                let (c, d, _) = rows[i]
                let x = ChurnFeatures.inputs(
                    inputs, features: calculator.features(customer: c, asOf: d), account: data.accounts[c], data: data,
                    customer: c, asOf: d)
                for (j, v) in x.enumerated() { box.value[j].set(offset + i, v) }
            }
        }
    }

    /// The candidates for the event-derived inputs: six statistics of every
    /// built-in kind the exports hold and of the `productEvents` most frequent
    /// named product events (kept, or mapped to `feature`: each such name
    /// apart). The counts are over every row (in a sharded run, every shard's
    /// customers'), so every shard lists the same candidates as one machine.
    func eventCandidates(productEvents: Int) -> [ModelInput] {
        var sources: [EventSource] = []
        let kinds = data.allRowsEventCounts
        if kinds[Int(EventKind.login.rawValue)] > 0 || config.loginsFromActivity { sources.append(.login) }
        for kind in EventCounts.Kind.allCases {
            let builtIn: EventKind = [.featureUse, .apiCall, .mobileSession, .dashboardView, .workOrderCompleted][
                Int(kind.rawValue)]
            if kinds[Int(builtIn.rawValue)] > 0 { sources.append(.counted(kind)) }
        }
        if kinds[Int(EventKind.trainingCompleted.rawValue)] > 0 { sources.append(.training) }
        for (name, _) in (data.allRowsProductEventCounts + data.allRowsNamedFeatureEventCounts)
            .sorted(by: { $0.events > $1.events || ($0.events == $1.events && $0.name < $1.name) })
            .prefix(productEvents)
        { sources.append(.product(name)) }
        var candidates: [ModelInput] = []
        for source in sources {
            for statistic in EventStatistic.allCases {
                candidates.append(ChurnFeatures.input(named: ChurnFeatures.name(statistic, source))!)
            }
        }
        return candidates
    }

    /// Training rows looked at to screen the candidates.
    static let screeningSampleSize = 20_000

    /// A training row's place in the screening sample: rows are taken by the
    /// smallest hash of (customer, date, seed); the date and customer decide
    /// between equal hashes.
    static func screeningKey(customer: Int, date: CalendarDay, seed: UInt64) -> (UInt64, Int32, Int) {
        var g = SeededGenerator.derive(seed, UInt64(customer) &* 1_000_003 &+ UInt64(UInt32(bitPattern: date.number)))
        return (g.next(), date.number, customer)
    }

    /// The screening sample of `trainingRows` (in table order): all of them
    /// when they are at most `size`, otherwise the `size` with the smallest
    /// keys, by key. Each shard takes the sample of its own training rows;
    /// the global sample is the same selection from the union of theirs.
    static func screeningSample<Row>(
        _ trainingRows: [Row], size: Int = screeningSampleSize, seed: UInt64,
        key: (Row) -> (customer: Int, date: CalendarDay)
    ) -> [Row] {
        guard trainingRows.count > size else { return trainingRows }
        // The `size` smallest keys, in a max-heap of that many.
        var heap: [((UInt64, Int32, Int), Int)] = []
        heap.reserveCapacity(size)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && heap[l].0 > heap[m].0 { m = l }
                if r < heap.count && heap[r].0 > heap[m].0 { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for (i, row) in trainingRows.enumerated() {
            let (c, d) = key(row)
            let k = screeningKey(customer: c, date: d, seed: seed)
            if heap.count < size {
                heap.append((k, i))
                var j = heap.count - 1
                while j > 0 && heap[(j - 1) / 2].0 < heap[j].0 {
                    heap.swapAt(j, (j - 1) / 2)
                    j = (j - 1) / 2
                }
            } else if k < heap[0].0 {
                heap[0] = (k, i)
                siftDown(0)
            }
        }
        return heap.sorted { $0.0 < $1.0 }.map { trainingRows[$0.1] }
    }

    /// Ranks candidates on a table of their values over the screening sample
    /// (columns in `candidates` order): by how far each one's own ROC AUC is
    /// from 0.5, the best `maxInputs` chosen, kept in candidate order.
    static func rankCandidates(_ table: TrainingTable, candidates: [ModelInput], maxInputs: Int) -> (
        selected: [ModelInput], ranking: [(String, Double)]
    ) {
        var ranking: [(String, Double)] = []
        for j in 0..<table.featureCount {
            // Missing values rank lowest: "never happened" is information too.
            let column = table.columns[j].map { $0.isNaN ? -Double.greatestFiniteMagnitude : $0 }
            guard Set(column).count > 1, let auc = Metrics.rocAUC(scores: column, labels: table.labels) else {
                continue
            }
            ranking.append((table.featureNames[j], abs(auc - 0.5)))
        }
        ranking.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        let chosen = Set(ranking.prefix(maxInputs).map(\.0))
        return (candidates.filter { chosen.contains($0.name) }, ranking)
    }

    /// The event-derived inputs a model reads: the candidates
    /// (`eventCandidates`), each ranked by how well it alone separates
    /// churners on a sample of up to 20,000 training rows (ROC AUC away from
    /// 0.5; never a validation row), the best `maxInputs` kept. Bounded cost:
    /// the candidates are at most (7 + productEvents) x 6, computed on the sample.
    func selectEventInputs(
        trainingRows: [(customer: Int, date: CalendarDay, label: UInt8)], productEvents: Int, maxInputs: Int,
        seed: UInt64, threads: Int
    ) -> (selected: [ModelInput], ranking: [(String, Double)]) {
        guard maxInputs > 0, !trainingRows.isEmpty else { return ([], []) }
        let candidates = eventCandidates(productEvents: productEvents)
        let sample = TrainingSetBuilder.screeningSample(trainingRows, seed: seed) { ($0.customer, $0.date) }
        let table = build(rows: sample, threads: threads, inputs: candidates)
        return TrainingSetBuilder.rankCandidates(table, candidates: candidates, maxInputs: maxInputs)
    }
}
