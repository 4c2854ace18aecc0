/// One customer as the scoring stage sees it: the account, whether it is
/// active on the as-of day, and its features now and one trend window ago.
/// This is also what a line of features.jsonl holds, so `rescore` can redo
/// every score and KPI without the exports.
public struct CustomerSnapshot: Sendable {
    public var account: AccountRecord
    /// The customer's start and churn spells as known on the as-of day.
    public var lifecycle: CustomerLifecycle
    public var active: Bool
    public var features: FeatureVector?
    public var previous: FeatureVector?
    /// The churn model's inputs (ChurnFeatures.names order), when the
    /// pipeline has a churn model; features.jsonl keeps them for rescore.
    public var modelInputs: [Double]? = nil

    public init(
        account: AccountRecord, lifecycle: CustomerLifecycle, active: Bool, features: FeatureVector?,
        previous: FeatureVector?,
        modelInputs: [Double]? = nil
    ) {
        self.account = account
        self.lifecycle = lifecycle
        self.active = active
        self.features = features
        self.previous = previous
        self.modelInputs = modelInputs
    }
}

extension CustomerSnapshot {
    /// Feature snapshots of every customer that exists on the as-of day, in
    /// customer_id order; or of the customers `only` lists (indexes, ascending).
    /// With `modelInputs` (a churn model's input names), each active snapshot
    /// also carries the model's inputs, in that order.
    public static func make(
        _ data: IngestResult, asOf: CalendarDay, scoring: ScoringSettings, only: [Int]? = nil,
        modelInputs names: [String]? = nil, threads: Int
    ) -> [CustomerSnapshot] {
        let calculator = FeatureCalculator(data: data, settings: scoring)
        let existing = (only ?? Array(data.accounts.indices)).filter { data.lifecycles[$0].exists(on: asOf) }
        let trendDay = asOf.adding(days: -scoring.trendWindowDays)
        let modelInputs = names.map { $0.compactMap(ChurnFeatures.input(named:)) }
        return ParallelMap.map(count: existing.count, threads: threads) { i in
            let c = existing[i]
            let account = data.accounts[c]
            let lifecycle = data.lifecycles[c].known(asOf: asOf)
            let active = lifecycle.isActive(on: asOf)
            var snap = CustomerSnapshot(
                account: account, lifecycle: lifecycle, active: active, features: nil, previous: nil)
            if active {
                snap.features = calculator.features(customer: c, asOf: asOf)
                snap.previous = calculator.features(customer: c, asOf: trendDay)
                if let modelInputs {
                    snap.modelInputs = ChurnFeatures.inputs(
                        modelInputs, features: snap.features!, account: account, data: data, customer: c, asOf: asOf)
                }
            }
            return snap
        }
    }
}
