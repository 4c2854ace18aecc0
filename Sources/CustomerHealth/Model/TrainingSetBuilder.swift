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

    public init(data: IngestResult, scoring: ScoringSettings, churn: ChurnSettings) {
        self.data = data
        self.scoring = scoring
        self.churn = churn
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

    public func build(dates: [CalendarDay], threads: Int) -> TrainingTable {
        let calculator = FeatureCalculator(data: data, settings: scoring)
        var columns = [[Double]](repeating: [], count: ChurnFeatures.names.count)
        var labels: [UInt8] = []
        var ids: [String] = []
        var rowDates: [CalendarDay] = []
        let n = data.accounts.count
        for d in dates {
            let slots = UnsafeMutableBufferPointer<([Double], UInt8)?>.allocate(capacity: n)
            slots.initialize(repeating: nil)
            let box = UnsafeSendable(slots)
            let chunk = max(256, n / (max(1, threads) * 8) + 1)
            DispatchQueue.concurrentPerform(iterations: (n + chunk - 1) / chunk) { k in
                for c in (k * chunk)..<min(n, (k + 1) * chunk) {
                    guard data.lifecycles[c].exists(on: d) else { continue }
                    let state = churnState(customer: c, on: d)
                    if state.churned { continue }
                    let account = data.accounts[c]
                    let x = ChurnFeatures.inputs(calculator.features(customer: c, asOf: d), account: account, calculator: calculator, customer: c, asOf: d)
                    box.value[c] = (x, state.label ? 1 : 0)
                }
            }
            for c in 0..<n {
                guard let (x, y) = slots[c] else { continue }
                for j in 0..<x.count { columns[j].append(x[j]) }
                labels.append(y)
                ids.append(data.accounts[c].customerID)
                rowDates.append(d)
            }
            slots.deinitialize()
            slots.deallocate()
        }
        return TrainingTable(featureNames: ChurnFeatures.names, columns: columns, labels: labels, rowIDs: ids, dates: rowDates)
    }
}
