import Foundation

/// One customer's page (`serve`'s `/customers/{id}`): component scores,
/// reason codes, risk factors and recommendations from the run's
/// scores.jsonl line, and the customer's health and churn probability over
/// every run of the output folder.
public struct CustomerPage {
    /// The earlier runs a page reads at most, newest first: each is a scan of
    /// that run's scores.jsonl.
    public static let historyRuns = 90

    /// What the page reads beyond the report's own score fields
    /// (`RunReportInput.ScoreLine`, decoded from the same line).
    struct Details: Decodable {
        struct ReasonValue: Decodable {
            var value: Double?
        }
        struct Recommendations: Decodable {
            var risk_factors: [String]?
            var success_recommendations: [String]?
            var intervention_priority: String?
        }
        var as_of: String
        var reason_codes: [ReasonValue]?
        var recommendations: Recommendations?
    }

    struct AtRiskFields: Decodable {
        var name: String?
        var plan: String?
    }

    let score: RunReportInput.ScoreLine
    let details: Details
    let atRisk: AtRiskFields?
    let history: [(day: String, health: Double, churn: Double?)]

    /// `scoreLine`: the customer's line of scores.jsonl; `atRiskEntry`: their
    /// at-risk.json entry, if listed (it holds the name and plan).
    public init(scoreLine: Data, atRiskEntry: Data?, history: [(day: String, health: Double, churn: Double?)]) throws {
        score = try JSONDecoder().decode(RunReportInput.ScoreLine.self, from: scoreLine)
        details = try JSONDecoder().decode(Details.self, from: scoreLine)
        atRisk = try atRiskEntry.map { try JSONDecoder().decode(AtRiskFields.self, from: $0) }
        self.history = history
    }

    /// The customer's health and churn probability in each earlier run of
    /// `outputDirectory` before `day` (the newest `historyRuns`), oldest first.
    public static func history(customerID: String, outputDirectory: String, before day: CalendarDay) -> [(
        day: String, health: Double, churn: Double?
    )] {
        let runs = RunReportInput.earlierRuns(outputDirectory: outputDirectory, before: day).suffix(historyRuns)
        let needle = Array("{\"customer_id\": \(JSONValue.string(customerID).serialized()),".utf8)
        var out: [(day: String, health: Double, churn: Double?)] = []
        for (runDay, folder) in runs {
            guard let data = try? RunReportInput.readOutput(folder: folder, name: "scores.jsonl"),
                let line = Self.line(startingWith: needle, in: data),
                let point = try? JSONDecoder().decode(RunReportInput.PreviousScore.self, from: line)
            else { continue }
            out.append((runDay.description, point.health_score, point.churn_probability))
        }
        return out
    }

    /// The line of `data` that starts with `prefix` (scores.jsonl lines start
    /// with the customer id, as the tool writes them).
    static func line(startingWith prefix: [UInt8], in data: Data) -> Data? {
        guard !prefix.isEmpty else { return nil }
        var found: Data?
        RunReportInput.forEachLine(of: data) { bytes, line in
            guard line.count >= prefix.count,
                bytes[line.lowerBound..<(line.lowerBound + prefix.count)].elementsEqual(prefix)
            else { return true }
            found = Data(bytes[line])
            return false
        }
        return found
    }

    public func html(dashboard: String) -> String {
        let components = ScoreComponent.allCases
        let values: [Double?] = components.map { (score.component_scores?[$0.rawValue]) ?? nil }
        let componentTable = Table(
            links: .none, id: "component-table", caption: "Score components", columns: ["Component", "Score"],
            rows: zip(components, values).map {
                [.text(RunReport.componentLabel($0)), .number($1, .score, key: $0.rawValue)]
            }
                + [[.text("Health score"), .number(score.health_score, .score, key: "health_score")]])
        let points = history + [(details.as_of, score.health_score, score.churn_probability)]
        let historyTable = Table(
            links: .none, id: "customer-history-table", caption: "Health and churn probability, run by run",
            columns: ["As of", "Health", "Churn probability"],
            rows: points.map { [.text($0.day), .number($0.health, .score), .number($0.churn, .probability)] })
        let reasons = score.reason_codes ?? []
        let reasonValues = (details.reason_codes ?? []).map(\.value)
        let reasonTable = Table(
            links: .none, id: "reason-table", caption: "Reason codes: what moves the churn probability most (log-odds)",
            columns: ["Feature", "Value", "Contribution", "Meaning"],
            rows: reasons.enumerated().map { i, code in
                [
                    .text(code.feature), .number(i < reasonValues.count ? reasonValues[i] : nil, .ratio),
                    .number(code.contribution, .ratio), .text(code.description ?? ""),
                ]
            })
        var view: [String: Any] = [
            "title": "\(score.customer_id): customer health, \(details.as_of)",
            "home": dashboard,
            "customerID": score.customer_id,
            "name": atRisk?.name ?? "",
            "asOf": details.as_of,
            "health": FigureFormat.score.text(score.health_score),
            "status": RunReport.statusLabel(score.health_status),
            "priority": details.recommendations?.intervention_priority ?? "",
            "componentTable": componentTable.view,
            "historyTable": historyTable.view,
            "riskFactors": details.recommendations?.risk_factors ?? [],
            "recommendations": details.recommendations?.success_recommendations ?? [],
            "chartVersion": ChartJSSource.version,
        ]
        if let churn = score.churn_probability {
            view["churn"] = FigureFormat.probability.text(churn)
            view["band"] = score.churn_risk ?? ""
        }
        if !reasons.isEmpty { view["reasonTable"] = reasonTable.view }
        let data = JSONValue.object([
            (
                "components",
                .object([
                    ("labels", .array(components.map { .string(RunReport.componentLabel($0)) })),
                    ("values", .array(values.map { JSONValue.number($0, places: 2) })),
                ])
            ),
            (
                "customerHistory",
                .object([
                    ("dates", .array(points.map { .string($0.day) })),
                    ("health", .array(points.map { .number($0.health, places: 2) })),
                    ("churn", .array(points.map { JSONValue.number($0.churn, places: 4) })),
                ])
            ),
        ])
        view["data"] = ReportPage.scriptJSON(data)
        return ReportPage.render(body: "customer", view: view, links: ReportLinks(customerPrefix: nil, served: true))
    }
}
