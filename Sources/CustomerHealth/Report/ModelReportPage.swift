import Foundation

/// The churn model's page, `<model>.report.html` (docs/model.md, "Model and
/// backtest pages"): its skill on the held-out validation rows in pictures.
/// Made from the JSON report's text alone, so `train` and anything else that
/// holds the file (a server, later) render the same page.
public enum ModelReportPage {
    /// Features in the importance chart and table.
    static let importanceShown = 20

    /// The page of a training report (`<model>.report.json`'s bytes).
    /// `modelPath` names the model in the heading and in error messages.
    public static func html(reportJSON: Data, modelPath: String? = nil, links: ReportLinks = .none) throws -> String {
        let report: TrainingReportDocument
        do {
            report = try JSONDecoder().decode(TrainingReportDocument.self, from: reportJSON)
        } catch {
            let name =
                modelPath.map { ($0 as NSString).deletingPathExtension + ".report.json" } ?? "the training report"
            throw CustomerHealthError.input(
                file: name, message: "is not a training report written by `train`: \(error)")
        }
        return html(report: report, modelName: modelPath.map { ($0 as NSString).lastPathComponent }, links: links)
    }

    static func html(report: TrainingReportDocument, modelName: String?, links: ReportLinks) -> String {
        var data: [(String, JSONValue)] = []
        let churnRate =
            report.validation_rows > 0 ? Double(report.validation_positives) / Double(report.validation_rows) : nil
        var view: [String: Any] = [
            "title": "Churn model" + (modelName.map { ", \($0)" } ?? ""),
            "madeFrom": "the model's training report",
            "trainRows": FigureFormat.count.text(Double(report.train_rows)),
            "trainPositives": FigureFormat.count.text(Double(report.train_positives)),
            "validationRows": FigureFormat.count.text(Double(report.validation_rows)),
            "validationPositives": FigureFormat.count.text(Double(report.validation_positives)),
            "churnRate": FigureFormat.percent.text(churnRate),
        ]
        if let modelName { view["modelName"] = modelName }
        if let through = report.data_through { view["dataThrough"] = through }
        if let sha = report.model_sha256 { view["modelSHA256"] = sha }
        if let warnings = report.warnings, !warnings.isEmpty { view["warnings"] = warnings }
        if let reason = report.combination?.reason { view["combination"] = reason }

        let skill: [(label: String, key: String, value: Double?, format: FigureFormat)] = [
            ("ROC AUC", "roc_auc", report.roc_auc, .metric),
            ("PR AUC", "pr_auc", report.pr_auc, .metric),
            ("Log loss", "log_loss", report.log_loss, .metric),
            ("Brier score", "brier", report.brier, .metric),
            ("Churn rate", "", churnRate, .percent),
        ]
        view["tiles"] = skill.map { ["label": $0.label, "value": $0.format.text($0.value), "key": $0.key] }
        view["skillTable"] =
            Table(
                links: links, id: "skill-table", caption: "The ensemble on the validation rows",
                columns: ["Figure", "Value"],
                rows: skill.map { [.text($0.label), .number($0.value, $0.format, key: $0.key.isEmpty ? nil : $0.key)] }
            ).view

        if let (curvesView, curvesData) = SkillSections.curves(
            roc: report.roc_curve?.compactMap(SkillSections.point),
            pr: report.pr_curve?.compactMap(SkillSections.point),
            baseline: churnRate, label: "Ensemble", links: links)
        {
            view["curves"] = curvesView
            data += curvesData
        }
        if let bins = report.calibration, !bins.isEmpty {
            let (calibrationView, calibrationData) = SkillSections.calibration(
                bins: bins.map {
                    .init(
                        low: $0.predicted_from, high: $0.predicted_to, rows: $0.rows, meanPredicted: $0.mean_predicted,
                        observedRate: $0.observed_rate)
                },
                keyPrefix: "calibration", links: links)
            view["calibration"] = calibrationView
            data.append(("calibration", calibrationData))
        }
        let (memberView, memberData) = memberSection(report, links: links)
        view["members"] = memberView
        data.append(("memberAUC", memberData))
        if let (importanceView, importanceData) = importanceSection(report, links: links) {
            view["importance"] = importanceView
            data.append(("importance", importanceData))
        }
        view["trainingData"] = trainingDataSection(report, links: links)
        view["data"] = ReportPage.scriptJSON(.object(data))
        view["chartVersion"] = ChartJSSource.version
        return ReportPage.render(body: "model", view: view, links: links)
    }

    /// Each member's ROC AUC beside the ensemble's (and the health score's, a
    /// formula rather than a model, for scale).
    static func memberSection(_ report: TrainingReportDocument, links: ReportLinks) -> ([String: Any], JSONValue) {
        let chosen = Set(report.combination?.chosen ?? [])
        var bars: [(label: String, kind: String, key: String, value: Double?, inEnsemble: String)] = [
            ("Ensemble", "ensemble", "roc_auc", report.roc_auc, "")
        ]
        let members = report.member_roc_auc ?? [:]
        let known = ChurnEnsemble.Member.allCases.map(\.rawValue)
        for name in known.filter({ members[$0] != nil }) + members.keys.filter({ !known.contains($0) }).sorted() {
            bars.append(
                (name, "member", "member_roc_auc.\(name)", members[name] ?? nil, chosen.contains(name) ? "yes" : "no"))
        }
        if let health = report.health_score?.roc_auc {
            bars.append(("Health score (the formula, not a model)", "health", "health_score.roc_auc", health, ""))
        }
        let rows: [[Cell]] = bars.map {
            [.text($0.label), .number($0.value, .metric, key: $0.key), .text($0.inEnsemble)]
        }
        let table = Table(
            links: links, id: "member-table", caption: "ROC AUC on the validation rows",
            columns: ["Model", "ROC AUC", "Chosen for the ensemble"], rows: rows)
        // Bars start at 0.5, the AUC of guessing, unless one falls below it.
        let lowest = bars.compactMap(\.value).min() ?? 0.5
        return (
            ["table": table.view],
            .object([
                ("labels", .array(bars.map { .string($0.label) })), ("kinds", .array(bars.map { .string($0.kind) })),
                ("values", .array(bars.map { .number($0.value, places: 6) })),
                ("min", .number(lowest >= 0.5 ? 0.5 : 0, places: 1)),
            ])
        )
    }

    /// The features with the largest share of split gain, largest first.
    static func importanceSection(_ report: TrainingReportDocument, links: ReportLinks) -> ([String: Any], JSONValue)? {
        // The object's order is lost in decoding; the report ranks by share, so the ranking is rebuilt (ties by name).
        let ranked = (report.feature_importance ?? [:]).compactMap { name, share in share.map { (name, $0) } }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        guard !ranked.isEmpty else { return nil }
        let top = ranked.prefix(importanceShown)
        let table = Table(
            links: links, id: "importance-table",
            caption: "Share of the trees' split gain, top \(top.count) of \(ranked.count) features",
            columns: ["Feature", "Share of gain"], rows: top.map { [.text($0.0), .number($0.1, .percent)] })
        return (
            ["table": table.view, "shown": top.count, "features": ranked.count],
            .object([
                ("features", .array(top.map { .string($0.0) })),
                ("values", .array(top.map { .number($0.1, places: 6) })),
            ])
        )
    }

    /// The row counts and the observation dates, training or validation.
    static func trainingDataSection(_ report: TrainingReportDocument, links: ReportLinks) -> [String: Any] {
        func rate(_ positives: Int, _ rows: Int) -> Double? { rows > 0 ? Double(positives) / Double(rows) : nil }
        let counts = Table(
            links: links, id: "rows-table", caption: "Rows (one per customer active on an observation date)",
            columns: ["Used for", "Rows", "Churned in the horizon", "Churn rate"],
            rows: [
                [
                    .text("Training"), .number(Double(report.train_rows), .count, key: "train_rows"),
                    .number(Double(report.train_positives), .count, key: "train_positives"),
                    .number(rate(report.train_positives, report.train_rows), .percent),
                ],
                [
                    .text("Validation (held out)"),
                    .number(Double(report.validation_rows), .count, key: "validation_rows"),
                    .number(Double(report.validation_positives), .count, key: "validation_positives"),
                    .number(rate(report.validation_positives, report.validation_rows), .percent),
                ],
            ])
        var view: [String: Any] = ["rowsTable": counts.view]
        let dates = report.observation_dates ?? []
        let validation = Set(report.validation_dates ?? [])
        if !dates.isEmpty {
            let trainingCount = dates.filter { !validation.contains($0) }.count
            view["dates"] =
                [
                    "count": FigureFormat.count.text(Double(dates.count)),
                    "training": FigureFormat.count.text(Double(trainingCount)),
                    "validation": FigureFormat.count.text(Double(dates.count - trainingCount)),
                    "first": dates.first!, "last": dates.last!,
                    "table": Table(
                        links: links, id: "dates-table", caption: "Observation dates", columns: ["Date", "Used for"],
                        rows: dates.map { [.text($0), .text(validation.contains($0) ? "validation" : "training")] }
                    ).view,
                ] as [String: Any]
        }
        return view
    }
}

/// `<model>.report.json`, as `PipelineRunner.write` writes it: the keys the
/// page reads. Keys a future report adds are ignored; nulls (a figure that
/// could not be measured) are nil.
struct TrainingReportDocument: Decodable {
    struct Bin: Decodable {
        var predicted_from: Double
        var predicted_to: Double
        var rows: Int
        var mean_predicted: Double?
        var observed_rate: Double?
    }

    struct Combination: Decodable {
        var chosen: [String]?
        var reason: String?
    }

    struct HealthScore: Decodable {
        var roc_auc: Double?
    }

    var model_sha256: String?
    var data_through: String?
    var observation_dates: [String]?
    var validation_dates: [String]?
    var train_rows: Int
    var train_positives: Int
    var validation_rows: Int
    var validation_positives: Int
    var roc_auc: Double?
    var pr_auc: Double?
    var log_loss: Double?
    var brier: Double?
    var member_roc_auc: [String: Double?]?
    var combination: Combination?
    var calibration: [Bin]?
    var feature_importance: [String: Double?]?
    var roc_curve: [[Double]]?
    var pr_curve: [[Double]]?
    var health_score: HealthScore?
    var warnings: [String]?
}

/// The sections the model page and the backtest page share: the ROC and
/// precision-recall curves, and the calibration plot, each with its table.
enum SkillSections {
    struct CalibrationBin {
        var low: Double
        var high: Double
        var rows: Int
        var meanPredicted: Double?
        var observedRate: Double?
    }

    /// A curve point of the JSON report ([x, y]); nil for anything else.
    static func point(_ pair: [Double]) -> (x: Double, y: Double)? {
        pair.count == 2 ? (pair[0], pair[1]) : nil
    }

    /// The curves' charts (data keys `roc` and `pr`) and their points as
    /// tables; nil when there is neither curve (one class only).
    /// `baseline` is the churn rate: the precision of guessing.
    static func curves(
        roc: [(x: Double, y: Double)]?, pr: [(x: Double, y: Double)]?, baseline: Double?, label: String,
        links: ReportLinks
    ) -> ([String: Any], [(String, JSONValue)])? {
        let roc = roc ?? []
        let pr = pr ?? []
        guard !roc.isEmpty || !pr.isEmpty else { return nil }
        func points(_ curve: [(x: Double, y: Double)]) -> JSONValue {
            .array(curve.map { .array([.number($0.x, places: 6), .number($0.y, places: 6)]) })
        }
        var view: [String: Any] = [
            "rocPoints": FigureFormat.count.text(Double(roc.count)),
            "prPoints": FigureFormat.count.text(Double(pr.count)),
        ]
        var data: [(String, JSONValue)] = []
        if !roc.isEmpty {
            view["rocTable"] =
                Table(
                    links: links, id: "roc-table", caption: "ROC curve points",
                    columns: ["False positive rate", "True positive rate"],
                    rows: roc.map { [.number($0.x, .metric), .number($0.y, .metric)] }
                ).view
            data.append(("roc", .object([("label", .string(label)), ("points", points(roc))])))
        }
        if !pr.isEmpty {
            view["prTable"] =
                Table(
                    links: links, id: "pr-table", caption: "Precision-recall curve points",
                    columns: ["Recall", "Precision"],
                    rows: pr.map { [.number($0.x, .metric), .number($0.y, .metric)] }
                ).view
            data.append(
                (
                    "pr",
                    .object([
                        ("label", .string(label)), ("points", points(pr)), ("baseline", .number(baseline, places: 6)),
                    ])
                ))
        }
        if let baseline { view["baseline"] = FigureFormat.percent.text(baseline) }
        return (view, data)
    }

    /// The calibration plot's data (bins that hold rows) and the table of
    /// every bin. `keyPrefix` names the figures' path in the source file
    /// (`calibration.3.observed_rate`), nil when they have none.
    static func calibration(bins: [CalibrationBin], keyPrefix: String?, links: ReportLinks) -> (
        [String: Any], JSONValue
    ) {
        func key(_ i: Int, _ field: String) -> String? { keyPrefix.map { "\($0).\(i).\(field)" } }
        let rows: [[Cell]] = bins.enumerated().map { i, b in
            let empty = b.rows == 0
            return [
                .text(FigureFormat.grouped(b.low, places: 1) + "–" + FigureFormat.grouped(b.high, places: 1)),
                .number(Double(b.rows), .count, key: key(i, "rows")),
                // An empty bin has no mean: the report's 0 there is a placeholder, not a figure.
                .number(empty ? nil : b.meanPredicted, .metric, key: key(i, "mean_predicted")),
                .number(empty ? nil : b.observedRate, .metric, key: key(i, "observed_rate")),
            ]
        }
        let table = Table(
            links: links, id: "calibration-table",
            caption: "Predicted against observed churn, by tenth of predicted probability",
            columns: ["Predicted", "Rows", "Mean predicted", "Observed churn rate"], rows: rows)
        let points: [JSONValue] = bins.compactMap { b in
            guard b.rows > 0, let predicted = b.meanPredicted, let observed = b.observedRate else { return nil }
            return .array([.number(predicted, places: 6), .number(observed, places: 6), .int(b.rows)])
        }
        return (["table": table.view], .object([("points", .array(points))]))
    }
}
