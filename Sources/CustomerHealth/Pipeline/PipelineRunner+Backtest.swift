import Foundation

extension PipelineRunner {
    /// Compares the health scores and churn probabilities of
    /// OUTPUT/<date>/scores.jsonl with the churn that the current exports
    /// show in the horizon after that date, over the customers active on
    /// that date by the pipeline's churn definition.
    public func backtest(predictionsFolder: String) throws -> BacktestResult {
        let scored = try ScoredDay.read(folder: predictionsFolder)
        let asOf = scored.asOf
        let ingested = try ingest()
        let (rows, unknown, notActive) = outcomes(of: scored, data: ingested)
        let observed = daysObserved(after: asOf, data: ingested)
        let labels = rows.map { UInt8($0.churned ? 1 : 0) }
        let churned = labels.reduce(0) { $0 + Int($1) }
        let skill =
            scored.hasModel
            ? BacktestResult.ModelSkill(probabilities: rows.map { $0.churnProbability! }, labels: labels) : nil
        var result = BacktestResult(
            asOf: asOf, customers: rows.count, churned: churned, unknownCustomers: unknown, notActive: notActive,
            daysObserved: observed,
            horizonDays: config.churn.horizonDays,
            healthAUC: Metrics.rocAUC(scores: rows.map { 100 - $0.healthScore }, labels: labels),
            observedRate: Double(churned) / Double(max(1, labels.count)), model: skill, rows: rows)
        let outcome = Dictionary(
            rows.map { ($0.customerID, UInt8($0.churned ? 1 : 0)) }, uniquingKeysWith: { a, _ in a })
        result.componentAUC = ScoreComponent.ordered.enumerated().map { (k, c) in
            (c.rawValue, BacktestResult.auc(scored.components.map { ($0.key, $0.value[k]) }, outcome: outcome))
        }
        result.partAUC = partAUCs(folder: predictionsFolder, outcome: outcome)
        return result
    }

    /// What happened to each scored customer active on the day: churned within
    /// the horizon or not; with the counts of those unknown to the exports and
    /// of those not active by the churn definition.
    private func outcomes(of scored: ScoredDay, data: IngestResult) -> (
        rows: [(customerID: String, healthScore: Double, churnProbability: Double?, churned: Bool)],
        unknown: Int, notActive: Int
    ) {
        let builder = TrainingSetBuilder(
            data: data, scoring: config.scoring, churn: config.churn, events: config.events)
        var index: [String: Int] = [:]
        for (i, a) in data.accounts.enumerated() { index[a.customerID] = i }
        var rows: [(customerID: String, healthScore: Double, churnProbability: Double?, churned: Bool)] = []
        var unknown = 0
        var notActive = 0
        for (id, health, p) in scored.predictions {
            guard let c = index[id] else {
                unknown += 1
                continue
            }
            guard data.lifecycles[c].isActive(on: scored.asOf) else {
                notActive += 1
                continue
            }
            rows.append((id, health, p, builder.churnState(customer: c, on: scored.asOf).label))
        }
        if notActive > 0 {
            logger.warning(
                "\(notActive) customers of \(scored.path) are not active on \(scored.asOf) by the churn definition (\(config.churnDefinition.summary)); they are left out"
            )
        }
        return (rows, unknown, notActive)
    }

    /// Days of the horizon after `asOf` that the exports already cover.
    private func daysObserved(after asOf: CalendarDay, data: IngestResult) -> Int {
        let latest = data.latestActivityDay ?? asOf
        let observed = max(0, min(config.churn.horizonDays, Int(latest.number - asOf.number)))
        if observed < config.churn.horizonDays {
            logger.warning(
                "only \(observed) of the \(config.churn.horizonDays) days after \(asOf) are in the exports yet: churn still to come is counted as no churn"
            )
        }
        return observed
    }

    /// Each score part's AUC, recomputed from the run's features.jsonl (when
    /// it is beside its scores) with the pipeline's current scoring settings.
    private func partAUCs(folder: String, outcome: [String: UInt8]) -> [(String, Double?)] {
        let featuresPath = (folder as NSString).appendingPathComponent("features.jsonl")
        guard FileManager.default.fileExists(atPath: featuresPath),
            let (sources, _) = try? FeaturesFile.runFacts(featuresPath: featuresPath),
            let data = try? FeaturesFile.contents(path: featuresPath),
            let (_, snaps) = try? FeaturesFile.read(data, path: featuresPath, inputNames: [])
        else { return [] }
        let applicability = ScoreApplicability(sources: sources, settings: config.scoring.parts)
        let scorer = HealthScorer(settings: config.scoring.resolvingTargets(from: snaps))
        var fractions: [[(String, Double?)]] = Array(repeating: [], count: ScorePart.allCases.count)
        for s in snaps where s.active {
            guard let f = s.features else { continue }
            let parts = applicability.parts(for: s.account)
            for (k, p) in ScorePart.allCases.enumerated() {
                let (maximum, earned) = scorer.points(p, f, account: s.account)
                fractions[k].append((s.account.customerID, parts.contains(p) && maximum > 0 ? earned / maximum : nil))
            }
        }
        return ScorePart.allCases.enumerated().map { ($1.key, BacktestResult.auc(fractions[$0], outcome: outcome)) }
    }
}
