import Foundation

/// The self-contained HTML report of one run (docs/report.md): KPI tiles,
/// distributions, history, the at-risk list, movers and the churn model's
/// picture, with every figure also in a table. Built only from the run's
/// files (`RunReportInput`), so `run` and `serve` show the same page.
public struct RunReport {
    public let input: RunReportInput
    /// The at-risk rows printed into the page itself (the rest reach the
    /// table through the page's script, from compressed data): a reader
    /// without script still sees the most urgent customers.
    static let rowsInHTML = 50
    /// Movers listed each way.
    static let moversShown = 10
    static let reasonsShown = 12
    /// The report's name in a run folder.
    public static let fileName = "report.html"
    /// The outputs the report reads: `--outputs report` needs them too.
    public static let madeFrom: Set<PublishedOutput> = [.scores, .kpis, .atRisk]

    public let links: ReportLinks

    public init(input: RunReportInput, links: ReportLinks = .none) {
        self.input = input
        self.links = links
    }

    /// Reads the run in `folder` and its history in `outputDirectory` and renders the page.
    public static func html(folder: String, outputDirectory: String, links: ReportLinks = .none) throws -> String {
        try RunReport(input: RunReportInput.load(folder: folder, outputDirectory: outputDirectory), links: links).html()
    }

    /// Renders the report of the run `folder` and writes it atomically to
    /// `path` (default FOLDER/report.html). The earlier runs are the dated
    /// folders beside `folder` (OUTPUT/<date> links to OUTPUT/.runs/...).
    public static func write(folder: String, to path: String? = nil) throws -> (
        path: String, bytes: Int, seconds: Double
    ) {
        let started = ContinuousClock.now
        var parent = (folder as NSString).deletingLastPathComponent
        if (parent as NSString).lastPathComponent == ".runs" { parent = (parent as NSString).deletingLastPathComponent }
        if parent.isEmpty { parent = "." }
        let html = try Self.html(folder: folder, outputDirectory: parent)
        let target = path ?? (folder as NSString).appendingPathComponent(fileName)
        try AtomicFile.write(Data(html.utf8), to: target)
        return (target, html.utf8.count, Elapsed.seconds(since: started))
    }

    public func html() -> String {
        var data: [(String, JSONValue)] = []
        var view: [String: Any] = [
            "title": "Customer health, \(input.asOf)",
            "asOf": input.asOf.description,
            "customerCount": FigureFormat.count.text(Double(input.scores.count)),
        ]
        if let previous = input.previous {
            view["previousAsOf"] = previous.asOf.description
        }
        view["tiles"] = tiles()
        view["kpiTable"] = kpiTable()
        let (statusView, statusData) = statusSection()
        view["status"] = statusView
        data.append(("status", statusData))
        let (histogramView, histogramData) = histogramSection()
        view["histogram"] = histogramView
        data.append(("histogram", histogramData))
        let (historyView, historyData) = historySection()
        view["history"] = historyView
        data.append(("history", historyData))
        if let (churnView, churnData) = churnSection() {
            view["churn"] = churnView
            data.append(("churn", churnData))
        }
        if let (reasonView, reasonData) = reasonSection() {
            view["reasons"] = reasonView
            data.append(("reasons", reasonData))
        }
        view["movers"] = moverTables()
        let (atRiskView, atRiskData) = atRiskSection()
        view["atRisk"] = atRiskView
        data.append(("atRisk", atRiskData))
        data.append(("customerLink", links.customerPrefix.map { .string($0) } ?? .null))
        if let runID = links.runID { data.append(("servedRun", .string(runID))) }
        if let stream = links.liveStream {
            data.append(("liveStream", .string(stream)))
            view["live"] = true
        }
        view["data"] = ReportPage.scriptJSON(.object(data))
        view["chartVersion"] = ChartJSSource.version
        return ReportPage.render(body: "run", view: view, links: links)
    }

    // MARK: Sections

    func tiles() -> [[String: Any]] {
        ReportKPI.all.filter(\.tile).map { kpi in
            let now = input.kpis.number(kpi.path)
            let before = input.previous?.kpis.number(kpi.path)
            var trend = ""
            if let now, let before, now != before { trend = (now > before) == kpi.higherIsBetter ? "better" : "worse" }
            return [
                "label": kpi.label, "value": kpi.format.text(now), "change": kpi.format.change(now, before),
                "trend": trend, "key": kpi.path,
            ]
        }
    }

    func kpiTable() -> [String: Any] {
        let hasPrevious = input.previous != nil
        var columns = ["Figure", "This run"]
        if hasPrevious { columns += ["Previous run", "Change"] }
        let rows: [[Cell]] = ReportKPI.all.compactMap { kpi in
            let now = input.kpis.number(kpi.path)
            let before = input.previous?.kpis.number(kpi.path)
            if now == nil && before == nil { return nil }
            var row = [Cell.text(kpi.label), .number(now, kpi.format, key: kpi.path)]
            if hasPrevious { row += [.number(before, kpi.format), .text(kpi.format.change(now, before))] }
            return row
        }
        return Table(
            links: links, id: "kpi-table", caption: "Key figures as of \(input.asOf)", columns: columns, rows: rows
        ).view
    }

    func statusSection() -> ([String: Any], JSONValue) {
        let distribution = input.kpis.object("health_metrics.health_distribution") ?? [:]
        let statuses = HealthStatus.allCases.map(\.rawValue)
        let counts = statuses.map { (distribution[$0] as? NSNumber)?.intValue ?? 0 }
        let total = max(1, counts.reduce(0, +))
        let rows: [[Cell]] = zip(statuses, counts).map { status, count in
            [
                .text(Self.statusLabel(status)),
                .number(Double(count), .count, key: "health_metrics.health_distribution.\(status)"),
                .number(Double(count) / Double(total), .percent),
            ]
        }
        let table = Table(
            links: links, id: "status-table", caption: "Customers by health status",
            columns: ["Status", "Customers", "Share"], rows: rows)
        return (
            ["table": table.view],
            .object([
                ("labels", .array(statuses.map { .string(Self.statusLabel($0)) })),
                ("keys", .array(statuses.map { .string($0) })),
                ("counts", .array(counts.map { .int($0) })),
            ])
        )
    }

    func histogramSection() -> ([String: Any], JSONValue) {
        var series: [(String, [Int])] = [("Health score", Array(repeating: 0, count: 10))]
        for component in ScoreComponent.allCases {
            series.append((Self.componentLabel(component), Array(repeating: 0, count: 10)))
        }
        for score in input.scores {
            series[0].1[ReportBins.score(score.health_score)] += 1
            for (i, component) in ScoreComponent.allCases.enumerated() {
                if let value = score.component_scores?[component.rawValue] ?? nil {
                    series[i + 1].1[ReportBins.score(value)] += 1
                }
            }
        }
        let rows: [[Cell]] = ReportBins.scoreLabels.enumerated().map { bin, label in
            [.text(label)] + series.map { .number(Double($0.1[bin]), .count) }
        }
        let table = Table(
            links: links, id: "histogram-table",
            caption: "Customers by score band (a part that does not apply to a customer is not counted)",
            columns: ["Score"] + series.map(\.0), rows: rows)
        return (
            ["table": table.view],
            .object([
                ("bins", .array(ReportBins.scoreLabels.map { .string($0) })),
                (
                    "series",
                    .array(
                        series.map { .object([("name", .string($0.0)), ("counts", .array($0.1.map { .int($0) }))]) })
                ),
            ])
        )
    }

    func historySection() -> ([String: Any], JSONValue) {
        let kpis = ReportKPI.all.filter { $0.historyChart != nil }
        let dates = input.history.map(\.0.description)
        let statuses = HealthStatus.allCases.map(\.rawValue)
        var rows: [[Cell]] = []
        for (day, document) in input.history {
            let distribution = document.object("health_metrics.health_distribution") ?? [:]
            rows.append(
                [.text(day.description)] + kpis.map { .number(document.number($0.path), $0.format) }
                    + statuses.map { .number((distribution[$0] as? NSNumber)?.doubleValue ?? 0, .count) })
        }
        let table = Table(
            links: links, id: "history-table", caption: "Every run in the output folder up to this one",
            columns: ["As of"] + kpis.map(\.label) + statuses.map(Self.statusLabel), rows: rows)
        let charts: [JSONValue] = ReportKPI.HistoryChart.allCases.map { chart in
            .object([
                ("id", .string("history-\(chart.rawValue)")),
                ("title", .string(chart.title)),
                (
                    "series",
                    .array(
                        kpis.filter { $0.historyChart == chart }.map { kpi in
                            .object([
                                ("name", .string(kpi.label)), ("format", .string(kpi.format.rawValue)),
                                (
                                    "values",
                                    .array(input.history.map { JSONValue.number($0.1.number(kpi.path), places: 6) })
                                ),
                            ])
                        })
                ),
            ])
        }
        let statusSeries: [JSONValue] = statuses.map { status in
            .object([
                ("name", .string(Self.statusLabel(status))), ("key", .string(status)),
                (
                    "counts",
                    .array(
                        input.history.map {
                            .int(
                                (($0.1.object("health_metrics.health_distribution") ?? [:])[status] as? NSNumber)?
                                    .intValue ?? 0)
                        })
                ),
            ])
        }
        return (
            [
                "table": table.view,
                "charts": ReportKPI.HistoryChart.allCases.map { ["id": "history-\($0.rawValue)", "title": $0.title] },
                "runs": FigureFormat.count.text(Double(dates.count)),
            ],
            .object([
                ("dates", .array(dates.map { .string($0) })), ("charts", .array(charts)),
                ("status", .array(statusSeries)),
            ])
        )
    }

    func churnSection() -> ([String: Any], JSONValue)? {
        let bands = ["low", "medium", "high", "critical"]
        var counts = Array(repeating: Array(repeating: 0, count: 10), count: bands.count)
        var any = false
        for score in input.scores {
            guard let p = score.churn_probability, let band = score.churn_risk, let b = bands.firstIndex(of: band)
            else { continue }
            counts[b][ReportBins.probability(p)] += 1
            any = true
        }
        guard any else { return nil }
        let rows: [[Cell]] = ReportBins.probabilityLabels.enumerated().map { bin, label in
            [.text(label)] + bands.indices.map { .number(Double(counts[$0][bin]), .count) }
        }
        let bandTotals = input.kpis.object("churn_metrics.churn_risk_distribution") ?? [:]
        let totals: [Cell] =
            [.text("All")]
            + bands.map {
                .number(
                    (bandTotals[$0] as? NSNumber)?.doubleValue, .count,
                    key: "churn_metrics.churn_risk_distribution.\($0)")
            }
        let table = Table(
            links: links, id: "churn-table", caption: "Customers by churn probability and risk band",
            columns: ["Probability"] + bands.map { $0.capitalized }, rows: rows + [totals])
        return (
            ["table": table.view],
            .object([
                ("bins", .array(ReportBins.probabilityLabels.map { .string($0) })),
                (
                    "bands",
                    .array(
                        bands.indices.map {
                            .object([
                                ("name", .string(bands[$0].capitalized)), ("key", .string(bands[$0])),
                                ("counts", .array(counts[$0].map { .int($0) })),
                            ])
                        })
                ),
            ])
        )
    }

    /// The reason codes that raise the churn probability of the at-risk
    /// customers, by how many of them each one concerns.
    func reasonSection() -> ([String: Any], JSONValue)? {
        let listed = Set(input.atRisk.map(\.customer_id))
        var counts: [String: (count: Int, contribution: Double)] = [:]
        for score in input.scores where listed.contains(score.customer_id) {
            for code in score.reason_codes ?? [] where code.contribution > 0 {
                let c = counts[code.feature] ?? (0, 0)
                counts[code.feature] = (c.count + 1, c.contribution + code.contribution)
            }
        }
        guard !counts.isEmpty else { return nil }
        let top = counts.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }.prefix(Self.reasonsShown)
        let rows: [[Cell]] = top.map {
            [
                .text($0.key), .number(Double($0.value.count), .count),
                .number($0.value.contribution / Double($0.value.count), .ratio),
            ]
        }
        let table = Table(
            links: links, id: "reasons-table",
            caption: "Reason codes raising the churn probability of at-risk customers",
            columns: ["Feature", "At-risk customers", "Mean contribution (log-odds)"], rows: rows)
        return (
            ["table": table.view],
            .object([
                ("features", .array(top.map { .string($0.key) })),
                ("counts", .array(top.map { .int($0.value.count) })),
            ])
        )
    }

    func moverTables() -> [String: Any] {
        guard let previous = input.previous else { return [:] }
        let names = Dictionary(input.atRisk.map { ($0.customer_id, $0.name ?? "") }, uniquingKeysWith: { a, _ in a })
        var health: [(id: String, before: Double, after: Double)] = []
        var churn: [(id: String, before: Double, after: Double)] = []
        for score in input.scores {
            guard let old = previous.scores[score.customer_id] else { continue }
            health.append((score.customer_id, old.health, score.health_score))
            if let before = old.churn, let after = score.churn_probability {
                churn.append((score.customer_id, before, after))
            }
        }
        func table(
            _ id: String, _ caption: String, _ list: [(id: String, before: Double, after: Double)], up: Bool,
            format: FigureFormat
        ) -> [String: Any]? {
            let moved = list.filter { up ? $0.after > $0.before : $0.after < $0.before }
                .sorted { a, b in
                    let da = abs(a.after - a.before)
                    let db = abs(b.after - b.before)
                    return da != db ? da > db : a.id < b.id
                }.prefix(Self.moversShown)
            guard !moved.isEmpty else { return nil }
            let rows: [[Cell]] = moved.map {
                [
                    .customer($0.id), .text(names[$0.id] ?? ""), .number($0.before, format), .number($0.after, format),
                    .text(format.change($0.after, $0.before)),
                ]
            }
            return Table(
                links: links, id: id, caption: caption,
                columns: [
                    "Customer", "Name (when at risk)", previous.asOf.description, input.asOf.description, "Change",
                ], rows: rows
            ).view
        }
        let tables = [
            table("movers-health-down", "Health fell most", health, up: false, format: .score),
            table("movers-health-up", "Health rose most", health, up: true, format: .score),
            table("movers-churn-up", "Churn probability rose most", churn, up: true, format: .probability),
            table("movers-churn-down", "Churn probability fell most", churn, up: false, format: .probability),
        ].compactMap { $0 }
        return [
            "tables": tables, "previousAsOf": previous.asOf.description,
            "compared": FigureFormat.count.text(Double(health.count)),
        ]
    }

    /// The at-risk list: the first rows as HTML, all of them as gzip-compressed
    /// JSON that the page's script sorts, filters and pages through.
    func atRiskSection() -> ([String: Any], JSONValue) {
        var strings: [String] = []
        var index: [String: Int] = [:]
        func intern(_ s: String) -> JSONValue {
            if let i = index[s] { return .int(i) }
            index[s] = strings.count
            strings.append(s)
            return .int(strings.count - 1)
        }
        let rows: [JSONValue] = input.atRisk.map { c in
            .array([
                .int(c.rank), .string(c.customer_id), .string(c.name ?? ""), intern(c.plan ?? ""),
                .number(c.mrr, places: 2),
                .number(c.health_score, places: 1), intern(c.health_status), intern(c.intervention_priority),
                .number(c.churn_probability, places: 4), intern(c.churn_risk ?? ""),
                .array(c.risk_factors.map(intern)), .array(c.recommendations.map(intern)),
            ])
        }
        let payload = JSONValue.object([("strings", .array(strings.map { .string($0) })), ("rows", .array(rows))])
            .serialized()
        let compressed = (try? GzipFileWriter.member(Array(payload.utf8), level: 6)) ?? []
        let firstRows: [[Cell]] = input.atRisk.prefix(Self.rowsInHTML).map { c in
            [
                .number(Double(c.rank), .count), .customer(c.customer_id), .text(c.name ?? ""), .text(c.plan ?? ""),
                .text(c.intervention_priority), .number(c.health_score, .score, key: "health"),
                .text(Self.statusLabel(c.health_status)),
                .number(c.churn_probability, .probability, key: "churn"), .text(c.churn_risk ?? ""),
                .number(c.mrr, .money),
                .list(c.risk_factors), .list(c.recommendations),
            ]
        }
        let table = Table(
            links: links, id: "at-risk-table", caption: "Customers at risk, most urgent first",
            columns: [
                "#", "Customer", "Name", "Plan", "Priority", "Health", "Status", "Churn", "Risk band", "MRR",
                "Risk factors", "Recommendations",
            ],
            rows: firstRows,
            sortKeys: [
                "rank", "customer", "name", "plan", "priority", "health", "status", "churn", "band", "mrr", "", "",
            ])
        func options(_ values: [String]) -> [[String: Any]] { Array(Set(values)).sorted().map { ["value": $0] } }
        let view: [String: Any] = [
            "table": table.view, "count": FigureFormat.count.text(Double(input.atRisk.count)),
            "priorities": InterventionPriority.allCases.map(\.rawValue).filter { p in
                input.atRisk.contains { $0.intervention_priority == p }
            }.map { ["value": $0] },
            "plans": options(input.atRisk.compactMap(\.plan)),
            "bands": options(input.atRisk.compactMap(\.churn_risk)),
            "truncated": input.atRisk.count > Self.rowsInHTML,
            "shown": FigureFormat.count.text(Double(min(Self.rowsInHTML, input.atRisk.count))),
        ]
        return (
            view,
            .object([("count", .int(input.atRisk.count)), ("gzip", .string(Data(compressed).base64EncodedString()))])
        )
    }

    static func statusLabel(_ status: String) -> String {
        status == HealthStatus.churnRisk.rawValue ? "Churn risk" : status.capitalized
    }

    static func componentLabel(_ c: ScoreComponent) -> String {
        c == .valueRealization ? "Value realization" : c.rawValue.capitalized
    }
}

/// Where a page's customer ids link to: nowhere in a report file, to the
/// customer's page in `serve`.
public struct ReportLinks: Sendable {
    public var customerPrefix: String?
    /// Extra page-level settings for a served page (its Content-Security-Policy
    /// comes from the server's header instead).
    public var served: Bool

    /// The served run: the page asks the server's /health now and then and
    /// reloads when another run is served.
    public var runID: String?
    /// The server's WebSocket path of the watch stream (`serve --watch`): the
    /// page then lists the latest changes as they come.
    public var liveStream: String?

    public static let none = ReportLinks(customerPrefix: nil, served: false)

    public init(customerPrefix: String?, served: Bool, runID: String? = nil, liveStream: String? = nil) {
        self.customerPrefix = customerPrefix
        self.served = served
        self.runID = runID
        self.liveStream = liveStream
    }
}
