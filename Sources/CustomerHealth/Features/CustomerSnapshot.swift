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
