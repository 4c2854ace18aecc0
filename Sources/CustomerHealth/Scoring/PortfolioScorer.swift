import Foundation

/// Scores a day's portfolio: the health score of every active snapshot,
/// with the churn model's probability and reason codes when there is one.
/// `run`, `replay`, `rescore`, `merge` and `watch` all score through it.
public enum PortfolioScorer {
    /// Scores the active snapshots in parallel, keeping customer_id order.
    public static func score(
        _ snapshots: [CustomerSnapshot], asOf: CalendarDay, settings: ScoringSettings, threads: Int,
        applicability: ScoreApplicability, model: ChurnEnsemble? = nil, reasonCodes: Int = 3
    ) -> [CustomerScore] {
        // Indexes, not copies of the snapshots (each is half a kilobyte).
        let active = snapshots.indices.filter { snapshots[$0].active }
        let scorer = HealthScorer(settings: settings)
        return ParallelMap.map(count: active.count, threads: threads) { i in
            let s = snapshots[active[i]]
            let features = s.features ?? FeatureVector()
            var probability: Double? = nil
            var reasons: [ReasonCode] = []
            if let model, let x = s.modelInputs {
                let (bias, phi) = model.contributions(x)
                probability = Metrics.sigmoid(bias + phi.reduce(0, +))
                if reasonCodes > 0 {
                    let byName = Dictionary(zip(model.featureNames, x), uniquingKeysWith: { a, _ in a })
                    reasons = phi.indices.sorted {
                        abs(phi[$0]) > abs(phi[$1]) || (abs(phi[$0]) == abs(phi[$1]) && $0 < $1)
                    }
                    .prefix(reasonCodes).map { j in
                        ReasonCode(
                            feature: model.featureNames[j], value: x[j], contribution: phi[j],
                            description: ChurnFeatures.describe(model.featureNames[j], x[j], inputs: byName))
                    }
                }
            }
            return scorer.score(
                customerID: s.account.customerID, asOf: asOf, features: features,
                previous: s.previous ?? FeatureVector(),
                account: s.account, applicability: applicability, churnProbability: probability, reasonCodes: reasons)
        }
    }
}

extension ScoreApplicability {
    /// Which score parts apply on `asOf`, from what the exports hold by then.
    public init(_ data: IngestResult, asOf: CalendarDay, settings: [ScorePart: PartSetting]) {
        self.init(sources: data.sources(asOf: asOf), settings: settings)
    }
}
