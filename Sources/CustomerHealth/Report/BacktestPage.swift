import Foundation

/// `backtest --html`'s page (docs/model.md, "Model and backtest pages"): an
/// earlier run's predictions against what happened since, with the same
/// curves and calibration plot as the model's page.
public enum BacktestPage {
    /// `predictions` is the run folder the scores were read from, for the heading.
    public static func html(_ result: BacktestResult, predictions: String, links: ReportLinks = .none) -> String {
        var data: [(String, JSONValue)] = []
        let notes = notes(result)
        var view: [String: Any] = [
            "title": "Backtest of \(result.asOf)",
            "madeFrom": "a backtest of the run's scores against the current exports",
            "asOf": result.asOf.description,
            "predictions": predictions,
            "customers": FigureFormat.count.text(Double(result.customers)),
            "churned": FigureFormat.count.text(Double(result.churned)),
            "horizon": String(result.horizonDays),
            "daysObserved": String(result.daysObserved),
            "notes": notes,
            "hasModel": result.model != nil,
        ]
        var skill: [(label: String, value: Double?, format: FigureFormat)] = [
            ("Health score ROC AUC", result.healthAUC, .metric)
        ]
        if let model = result.model {
            skill += [
                ("Churn model ROC AUC", model.auc, .metric), ("Churn model PR AUC", model.prAUC, .metric),
                ("Log loss", model.logLoss, .metric),
                ("Brier score", model.brier, .metric),
                ("Mean predicted probability", model.meanPredicted, .probability),
            ]
        }
        skill.append(("Observed churn rate", result.observedRate, .percent))
        view["tiles"] = skill.map { ["label": $0.label, "value": $0.format.text($0.value), "key": ""] }
        view["skillTable"] =
            Table(
                links: links, id: "skill-table", caption: "Predictions of \(result.asOf) against churn since",
                columns: ["Figure", "Value"], rows: skill.map { [.text($0.label), .number($0.value, $0.format)] }
            ).view

        if let model = result.model { data += modelSections(result, model, links: links, into: &view) }
        let health: [[Cell]] =
            [[.text("Health score"), .number(result.healthAUC, .metric)]]
            + result.componentAUC.map { [.text("component: \($0.0)"), .number($0.1, .metric)] }
            + result.partAUC.filter { $0.1 != nil }.map { [.text("part: \($0.0)"), .number($0.1, .metric)] }
        view["healthTable"] =
            Table(
                links: links, id: "health-table",
                caption: "ROC AUC of the health score, its components and its parts (lower, more churn)",
                columns: ["Score", "ROC AUC"], rows: health
            ).view
        view["data"] = ReportPage.scriptJSON(.object(data))
        view["chartVersion"] = ChartJSSource.version
        return ReportPage.render(body: "backtest", view: view, links: links)
    }

    /// Who was left out, and whether the horizon is complete yet.
    private static func notes(_ result: BacktestResult) -> [String] {
        var notes: [String] = []
        if result.unknownCustomers > 0 {
            notes.append(
                "\(FigureFormat.count.text(Double(result.unknownCustomers))) customers of that run are no longer in accounts and are left out."
            )
        }
        if result.notActive > 0 {
            notes.append(
                "\(FigureFormat.count.text(Double(result.notActive))) customers were not active then by the churn definition and are left out."
            )
        }
        if result.daysObserved < result.horizonDays {
            notes.append(
                "Only \(result.daysObserved) of the \(result.horizonDays) days after \(result.asOf) are in the exports yet: churn still to come counts as none."
            )
        }
        return notes
    }

    /// The model's curves and calibration plot: their views set in `view`,
    /// their data returned for the page's data block.
    private static func modelSections(
        _ result: BacktestResult, _ model: BacktestResult.ModelSkill, links: ReportLinks, into view: inout [String: Any]
    ) -> [(String, JSONValue)] {
        var data: [(String, JSONValue)] = []
        // A backtest with a model has a probability on every row (`PipelineRunner.backtest` checks).
        let probabilities = result.rows.map { $0.churnProbability! }
        let labels = result.rows.map { UInt8($0.churned ? 1 : 0) }
        if let (curvesView, curvesData) = SkillSections.curves(
            roc: Metrics.rocCurve(scores: probabilities, labels: labels),
            pr: Metrics.precisionRecallCurve(scores: probabilities, labels: labels),
            baseline: result.customers > 0 ? result.observedRate : nil, label: "Churn model", links: links)
        {
            view["curves"] = curvesView
            data += curvesData
        }
        let (calibrationView, calibrationData) = SkillSections.calibration(
            bins: model.calibration.map {
                .init(
                    low: $0.low, high: $0.high, rows: $0.count, meanPredicted: $0.meanPredicted,
                    observedRate: $0.observedRate)
            },
            keyPrefix: nil, links: links)
        view["calibration"] = calibrationView
        data.append(("calibration", calibrationData))
        return data
    }
}

extension BacktestResult {
    /// Writes `BacktestPage`'s page to `path`, atomically.
    public func writeHTML(to path: String, predictions: String) throws {
        try AtomicFile.write(Data(BacktestPage.html(self, predictions: predictions).utf8), to: path)
    }
}
