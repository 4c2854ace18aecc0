import Foundation

/// Is the health score any good? How well it, each component and each part
/// rank the customers who churned, on dates with known outcomes, scored
/// exactly as `run` scores them (same applicability, same auto targets);
/// and the part weights that would have ranked best on the training dates,
/// as a suggestion with its validation AUC (never applied).
struct HealthScoreSkill {
    /// One customer on one date: health, components and part fractions (earned / maximum; nil where not applicable), and what happened.
    struct Row {
        var health: Double
        var components: [Double?]
        var parts: [Double?]
        var label: UInt8
    }

    /// The rows of `dates`: every customer active then by the churn definition, with its label.
    static func rows(runner: PipelineRunner, data: IngestResult, dates: [CalendarDay], builder: TrainingSetBuilder)
        -> [Row]
    {
        var index: [String: Int] = [:]
        for (i, a) in data.accounts.enumerated() { index[a.customerID] = i }
        var out: [Row] = []
        for d in dates {
            out += rows(
                runner.snapshots(data, asOf: d), applicability: runner.applicability(data, asOf: d),
                scoring: runner.config.scoring
            ) {
                index[$0.account.customerID].map { builder.churnState(customer: $0, on: d).label ? 1 : 0 }
            }
        }
        return out
    }

    /// One date's rows: the active customers among `snapshots` (all
    /// customers of the date, for the portfolio's targets), scored as `run`
    /// scores them, each with its label (nil: left out).
    static func rows(
        _ snapshots: [CustomerSnapshot], applicability: ScoreApplicability, scoring: ScoringSettings,
        label: (CustomerSnapshot) -> UInt8?
    ) -> [Row] {
        let scorer = HealthScorer(settings: scoring.resolvingTargets(from: snapshots))
        var out: [Row] = []
        for s in snapshots where s.active {
            guard let f = s.features, let y = label(s) else { continue }
            let parts = applicability.parts(for: s.account)
            let components = scorer.components(f, account: s.account, parts: parts)
            let fractions: [Double?] = ScorePart.allCases.map { p in
                guard parts.contains(p) else { return nil }
                let (maximum, earned) = scorer.points(p, f, account: s.account)
                return maximum > 0 ? earned / maximum : nil
            }
            out.append(
                Row(
                    health: scorer.overall(components), components: ScoreComponent.ordered.map { components[$0] },
                    parts: fractions,
                    label: y))
        }
        return out
    }

    /// ROC AUC of a score where lower means more churn, over the rows that have it.
    static func auc(_ rows: [Row], _ value: (Row) -> Double?) -> Double? {
        var scores: [Double] = []
        var labels: [UInt8] = []
        for r in rows {
            if let v = value(r) {
                scores.append(-v)
                labels.append(r.label)
            }
        }
        return Metrics.rocAUC(scores: scores, labels: labels)
    }

    /// The report's `health_score` object: AUCs on the validation rows, and the suggestion fitted on `training`.
    static func report(validation: [Row], training: [Row], validationDates: [CalendarDay], trainingDates: [CalendarDay])
        -> JSONValue
    {
        var members: [(String, JSONValue)] = [
            ("dates", .array(validationDates.map { .string($0.description) })),
            ("rows", .int(validation.count)),
            ("churned", .int(validation.reduce(0) { $0 + Int($1.label) })),
            ("roc_auc", .number(auc(validation) { $0.health }, places: 4)),
            (
                "components_roc_auc",
                .object(
                    ScoreComponent.ordered.enumerated().map { (k, c) in
                        (c.rawValue, .number(auc(validation) { $0.components[k] }, places: 4))
                    })
            ),
            (
                "parts_roc_auc",
                .object(
                    ScorePart.allCases.enumerated().map { (k, p) in
                        (p.key, .number(auc(validation) { $0.parts[k] }, places: 4))
                    })
            ),
        ]
        if let suggestion = suggest(training: training) {
            let score = { (r: Row) -> Double? in suggestion.score(r) }
            let current = auc(validation) { $0.health }
            members.append(
                (
                    "suggested_weights",
                    .object([
                        ("fitted_on", .array(trainingDates.map { .string($0.description) })),
                        (
                            "component_weights",
                            .object(
                                ScoreComponent.ordered.map {
                                    ($0.rawValue, .number(suggestion.componentWeights[$0], places: 3))
                                })
                        ),
                        (
                            "part_points",
                            .object(ScorePart.allCases.map { ($0.key, .number(suggestion.partPoints[$0], places: 1)) })
                        ),
                        ("validation_roc_auc", .number(auc(validation, score), places: 4)),
                        ("current_validation_roc_auc", .number(current, places: 4)),
                        (
                            "note",
                            .string(
                                "a suggestion, not applied: set scoring.weights and each component's *_points to use it"
                            )
                        ),
                    ])
                ))
        }
        return .object(members)
    }

    struct Suggestion {
        var coefficients: [Double]
        var means: [Double]
        var componentWeights: [ScoreComponent: Double]
        var partPoints: [ScorePart: Double]

        func score(_ r: Row) -> Double? {
            var s = 0.0
            for k in coefficients.indices { s += coefficients[k] * (r.parts[k] ?? means[k]) }
            return s
        }
    }

    /// The non-negative weights of the parts that best predict staying (a
    /// logistic regression of churn on 1 - fraction, with no part allowed to
    /// count against health), as component weights and points per part.
    static func suggest(training: [Row]) -> Suggestion? {
        let positives = training.reduce(0) { $0 + Int($1.label) }
        guard positives > 0, positives < training.count else { return nil }
        let k = ScorePart.allCases.count
        var means = [Double](repeating: 0, count: k)
        for j in 0..<k {
            let present = training.compactMap { $0.parts[j] }
            means[j] = present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
        }
        // Parts that vary in the training rows; the others can get no weight.
        var active = (0..<k).filter { j in Set(training.compactMap { $0.parts[j] }).count > 1 }
        var beta: [Double] = []
        while !active.isEmpty {
            guard
                let fit = logistic(
                    training.map { r in active.map { 1 - (r.parts[$0] ?? means[$0]) } }, labels: training.map(\.label))
            else { return nil }
            if let worst = fit.indices.min(by: { fit[$0] < fit[$1] }), fit[worst] < 0 {
                active.remove(at: worst)
                continue
            }
            beta = fit
            break
        }
        var coefficients = [Double](repeating: 0, count: k)
        for (i, j) in active.enumerated() where i < beta.count { coefficients[j] = beta[i] }
        let total = coefficients.reduce(0, +)
        guard total > 0 else { return nil }
        var componentWeights: [ScoreComponent: Double] = [:]
        var partPoints: [ScorePart: Double] = [:]
        for c in ScoreComponent.ordered {
            let inComponent = c.parts.map { coefficients[ScorePart.allCases.firstIndex(of: $0)!] }
            let sum = inComponent.reduce(0, +)
            componentWeights[c] = sum / total
            for (p, w) in zip(c.parts, inComponent) { partPoints[p] = sum > 0 ? 100 * w / sum : 0 }
        }
        return Suggestion(
            coefficients: coefficients, means: means, componentWeights: componentWeights, partPoints: partPoints)
    }

    /// Slopes of a logistic regression (intercept fitted, not returned), by Newton's method with a tiny ridge.
    static func logistic(_ x: [[Double]], labels: [UInt8]) -> [Double]? {
        guard let d = x.first?.count, d > 0 else { return nil }
        let dims = d + 1
        var beta = [Double](repeating: 0, count: dims)
        for _ in 0..<50 {
            var grad = [Double](repeating: 0, count: dims)
            var hess = [Double](repeating: 0, count: dims * dims)
            for (i, row) in x.enumerated() {
                var z = beta[0]
                for j in 0..<d { z += beta[j + 1] * row[j] }
                let p = Metrics.sigmoid(z)
                let r = p - Double(labels[i])
                let w = max(p * (1 - p), 1e-12)
                for a in 0..<dims {
                    let xa = a == 0 ? 1 : row[a - 1]
                    grad[a] += r * xa
                    for b in a..<dims { hess[a * dims + b] += w * xa * (b == 0 ? 1 : row[b - 1]) }
                }
            }
            for a in 1..<dims {
                hess[a * dims + a] += 1e-3
                grad[a] += 1e-3 * beta[a]
            }
            guard let change = LinearAlgebra.newtonStep(hessianUpper: hess, gradient: grad, beta: &beta) else {
                return nil
            }
            if change < 1e-9 { break }
        }
        return Array(beta[1...])
    }
}
