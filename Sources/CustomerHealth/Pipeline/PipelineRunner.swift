import Crypto
import Foundation
import Logging

/// Command-line overrides of a pipeline file's settings.
public struct RunOptions: Sendable {
    public var asOf: CalendarDay?
    public var outputDirectory: String?
    public var threads: Int?
    public var lockWaitSeconds: Double?
    /// Keep the ingested data allocated until the process exits. Freeing
    /// millions of small per-customer arrays one by one takes seconds; a
    /// command-line run that exits right after can leave that to the kernel.
    public var keepDataUntilExit = false
    /// Write only these data files of each day (`replay --outputs`); nil: all.
    /// A day folder written so is marked partial and never becomes `latest`.
    public var outputs: Set<PublishedOutput>? = nil
    /// Write each day's data files gzip-compressed, as `<name>.gz` (`replay
    /// --gzip`); such a folder is marked partial too (`serve` reads plain files).
    public var gzipOutputs = false

    public init(
        asOf: CalendarDay? = nil, outputDirectory: String? = nil, threads: Int? = nil, lockWaitSeconds: Double? = nil,
        keepDataUntilExit: Bool = false, outputs: Set<PublishedOutput>? = nil, gzipOutputs: Bool = false
    ) {
        self.asOf = asOf
        self.outputDirectory = outputDirectory
        self.threads = threads
        self.lockWaitSeconds = lockWaitSeconds
        self.keepDataUntilExit = keepDataUntilExit
        self.outputs = outputs
        self.gzipOutputs = gzipOutputs
    }
}

/// What a run did, for the summary the CLI prints.
public struct RunSummary: Sendable {
    public var outputPath: String
    public var asOf: CalendarDay
    public var customersScored: Int
    public var atRisk: Int
    public var rowsRead: Int
    public var rowsRejected: Int
    public var rowsUnknownCustomer: Int
    public var files: Int
    public var seconds: Double
    /// Seconds per stage (ingest, features, scoring, render), as in the manifest.
    public var stageSeconds: [(stage: String, seconds: Double)] = []
    /// report.html of the run folder, when one was written.
    public var reportPath: String?

    /// The lines every command that publishes a run ends with.
    public var outputLines: String {
        "  outputs:   \(outputPath)/" + (reportPath.map { "\n  report:    \($0)" } ?? "")
    }
}

/// Runs the stages of the nightly pipeline: ingest, features, scoring, outputs.
public struct PipelineRunner: Sendable {
    public var config: PipelineConfig
    public var options: RunOptions
    public var logger: Logger
    public var progress: (@Sendable (Int, Int) -> Void)?

    /// The command line's options override the pipeline file's settings here,
    /// once: every stage then reads `config` alone.
    public init(config: PipelineConfig, options: RunOptions, logger: Logger) {
        var resolved = config
        if let output = options.outputDirectory { resolved.outputDirectory = output }
        if let threads = options.threads { resolved.threads = threads }
        if let wait = options.lockWaitSeconds { resolved.lockWaitSeconds = wait }
        self.config = resolved
        self.options = options
        self.logger = logger
    }

    /// Worker threads: the setting, or every core for 0.
    public var threads: Int { config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount }

    var outputDirectory: String { config.outputDirectory }

    /// Reads every input (in a sharded run, `shard`'s customers' rows).
    public func ingest(shard: ShardSpec? = nil) throws -> IngestResult {
        var runner = IngestRunner(config: config, threads: threads, logger: logger, shard: shard)
        runner.progress = progress
        let data = try runner.run()
        // A shard sees only its own customers' events: the merge warns.
        if shard == nil { warnAboutActivityEvents(data.facts) }
        // Sums saturate rather than trap (docs/data-contract.md, "Largest values"); say where.
        let saturated = data.accounts.indices.filter { data.aggregates.customers[$0].savings.isSaturated }
        if let first = saturated.first {
            logger.warning(
                "savings: the amounts of \(saturated.count) customer(s) (first \(data.accounts[first].customerID)) add up past the largest total held (922,337,203,685,477.5807), so their savings are held at that total; check the savings export's amount column for ids or timestamps"
            )
        }
        return data
    }

    /// A name that never occurs counts no activity: every customer would look gone.
    func warnAboutActivityEvents(_ facts: IngestFacts) {
        for name in config.churnDefinition.activityEvents ?? [] where facts.events(named: name) == 0 {
            logger.warning(
                "churn_definition.activity_events: no \"\(name)\" event in the exports, so it counts no activity; check the name against the manifest's events and product_events"
            )
        }
    }

    /// The as-of day: the option, the pipeline's date, or the newest activity day.
    public func asOfDay(for data: IngestResult) throws -> CalendarDay {
        try config.asOfDay(for: data, override: options.asOf)
    }

    /// Feature snapshots as of `asOf` (`CustomerSnapshot.make`), with the
    /// pipeline's scoring settings and threads.
    public func snapshots(
        _ data: IngestResult, asOf: CalendarDay, only: [Int]? = nil, modelInputs names: [String]? = nil
    ) -> [CustomerSnapshot] {
        CustomerSnapshot.make(
            data, asOf: asOf, scoring: config.scoring, only: only, modelInputs: names, threads: threads)
    }

    /// Which score parts apply on `asOf`, from what the exports hold by then.
    public func applicability(_ data: IngestResult, asOf: CalendarDay) -> ScoreApplicability {
        ScoreApplicability(data, asOf: asOf, settings: config.scoring.parts)
    }

    /// The nightly run: read, score, publish OUTPUT/<as-of>/.
    public func run() throws -> RunSummary {
        let started = ContinuousClock.now
        let startedAt = Date()
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }
        let (data, ingestSeconds) = try timedIngest()
        let asOf = try asOfDay(for: data)
        logRead(data, seconds: ingestSeconds, then: "scoring as of \(asOf)")
        try checkRejects(data.facts, asOf: asOf, publisher: publisher)
        let (model, modelManifest) = try ChurnModelChooser(runner: self, data: data).model(asOf: asOf)
        if options.keepDataUntilExit { ProcessLifetime.keep(data) }
        return try publishDay(
            data, asOf: asOf, model: model, modelManifest: modelManifest, publisher: publisher, started: started,
            startedAt: startedAt, ingestSeconds: ingestSeconds, releaseSeriesAfterFeatures: true)
    }

    /// Replays history: one complete output folder per as-of date, from one
    /// reading of the inputs. Each folder holds exactly what `run --as-of`
    /// writes for that date (features only ever look at data up to it).
    public func replay(from: CalendarDay, to: CalendarDay, every: ReplayStep) throws -> [RunSummary] {
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }
        let (data, ingestSeconds) = try timedIngest()
        let dates = every.dates(from: from, to: to)
        logRead(data, seconds: ingestSeconds, then: "replaying \(dates.count) dates")
        try checkRejects(data.facts, asOf: to, publisher: publisher)
        let chooser = ChurnModelChooser(runner: self, data: data)
        if options.keepDataUntilExit { ProcessLifetime.keep(data) }
        return try dates.map { day in
            let (model, modelManifest) = try chooser.model(asOf: day)
            return try publishDay(
                data, asOf: day, model: model, modelManifest: modelManifest, publisher: publisher,
                started: ContinuousClock.now,
                startedAt: Date(), ingestSeconds: ingestSeconds)
        }
    }

    /// Reads every input, and how long it took.
    private func timedIngest() throws -> (IngestResult, Double) {
        let t = ContinuousClock.now
        let data = try ingest()
        return (data, Elapsed.seconds(since: t))
    }

    private func logRead(_ data: IngestResult, seconds: Double, then next: String) {
        logger.info(
            "read \(data.rowsRead) rows from \(data.files.count) files in \(String(format: "%.2f", seconds)) s; \(next)"
        )
    }

    /// Scores one as-of day from ingested data and publishes its folder.
    func publishDay(
        _ data: IngestResult, asOf: CalendarDay, model: ChurnModelFile?, modelManifest: [(String, JSONValue)],
        publisher: RunPublisher, started: ContinuousClock.Instant,
        startedAt: Date, ingestSeconds: Double, releaseSeriesAfterFeatures: Bool = false
    ) throws -> RunSummary {
        let t = ContinuousClock.now
        let snaps = snapshots(data, asOf: asOf, modelInputs: model?.ensemble.featureNames)
        let sources = data.sources(asOf: asOf)
        // A single-date run needs the per-day series no more: free them before
        // scores and outputs are built, so the two never add up in memory.
        if releaseSeriesAfterFeatures { data.aggregates.releaseSeries(threads: threads) }
        let featureSeconds = Elapsed.seconds(since: t)
        return try publish(
            snapshots: snaps, facts: data.facts, sources: sources, asOf: asOf, model: model,
            modelManifest: modelManifest,
            publisher: publisher, started: started, startedAt: startedAt,
            timings: [("ingest", ingestSeconds), ("features", featureSeconds)])
    }

    /// Scores the snapshots of one as-of day and publishes its folder: the
    /// end of `run` and `replay`, and the whole of a sharded run's merge.
    /// `timings` (seconds of the stages before) lead the manifest's timings.
    func publish(
        snapshots snaps: [CustomerSnapshot], facts: IngestFacts, sources: DataSources, asOf: CalendarDay,
        model: ChurnModelFile?,
        modelManifest: [(String, JSONValue)], publisher: RunPublisher, started: ContinuousClock.Instant,
        startedAt: Date,
        timings: [(String, Double)], extraManifest: [(String, JSONValue)] = []
    ) throws -> RunSummary {
        let parts = ScoreApplicability(sources: sources, settings: config.scoring.parts)
        let scoring = config.scoring.resolvingTargets(from: snaps)

        var t = ContinuousClock.now
        let scores = PortfolioScorer.score(
            snaps, asOf: asOf, settings: scoring, threads: threads,
            applicability: parts, model: model?.ensemble, reasonCodes: config.churn.reasonCodes)
        let scoringSeconds = Elapsed.seconds(since: t)

        t = ContinuousClock.now
        let kept = options.outputs.map { Set($0.flatMap(\.fileNames)) }
        var files = render(
            snapshots: snaps, scores: scores, asOf: asOf, parts: parts, inputNames: model?.ensemble.featureNames ?? [],
            only: kept)
        let inputs = PipelineRunner.inputsManifest(facts)
        let reports = facts.files
        files.append(("rejects.jsonl", .stream { try OutputRenderers.writeRejects(reports, to: $0) }))
        var extraManifest = extraManifest
        files = applyOutputOptions(files, kept: kept, manifest: &extraManifest)
        if let report = reportOutput(outputDirectory: publisher.outputDirectory) { files.append(report) }
        let atRiskCount = OutputRenderers.atRiskCount(scores, priorities: config.scoring.atRiskPriorities)
        // The manifest and metrics are written last, so that their timings
        // include writing the other files.
        let extra =
            scoringManifest(
                sources: sources, parts: parts, scoring: scoring, asOf: asOf, coverage: parts.coverage(of: snaps))
            + modelManifest + extraManifest
        let renderStart = t
        var totalSeconds = 0.0
        var renderSeconds = 0.0
        files.append(
            (
                "manifest.json",
                .stream { w in
                    renderSeconds = Elapsed.seconds(since: renderStart)
                    totalSeconds = Elapsed.seconds(since: started)
                    let manifest = self.manifestJSON(
                        asOf: asOf, startedAt: startedAt, inputs: .array(inputs), facts: facts, scores: scores,
                        atRisk: atRiskCount,
                        timings: timings + [
                            ("scoring", scoringSeconds), ("render", renderSeconds), ("total", totalSeconds),
                        ],
                        extra: extra)
                    try w.write(manifest.serialized(pretty: true) + "\n")
                }
            ))
        files.append(
            (
                "metrics.prom",
                .stream { w in
                    try w.write(
                        self.metrics(
                            asOf: asOf, facts: facts, scores: scores, atRisk: atRiskCount, seconds: totalSeconds))
                }
            ))
        let path = try publisher.publish(
            name: asOf.description, files: files, partial: options.outputs != nil || options.gzipOutputs)
        return RunSummary(
            outputPath: path, asOf: asOf, customersScored: scores.count, atRisk: atRiskCount, rowsRead: facts.rowsRead,
            rowsRejected: facts.rowsRejected, rowsUnknownCustomer: facts.rowsUnknownCustomer, files: facts.files.count,
            seconds: totalSeconds,
            stageSeconds: (timings + [("scoring", scoringSeconds), ("render", renderSeconds)]).map { ($0.0, $0.1) },
            reportPath: files.contains { $0.0 == RunReport.fileName }
                ? (path as NSString).appendingPathComponent(RunReport.fileName) : nil)
    }

    /// The manifest's `inputs`: each file read, with its digest and row counts.
    static func inputsManifest(_ facts: IngestFacts) -> [JSONValue] {
        facts.files.map { f in
            .object([
                ("export", .string(f.export.rawValue)),
                ("file", .string(f.name)),
                ("size", .int(f.size)),
                ("sha256", f.sha256.isEmpty ? .null : .string(f.sha256)),
                ("rows_read", .int(f.rowsRead)),
                ("rows_accepted", .int(f.rowsAccepted)),
                ("rows_rejected", .int(f.rowsRejected)),
                ("rows_unknown_customer", .int(f.rowsUnknownCustomer)),
                ("skipped", .optionalString(f.skipped)),
            ])
        }
    }

    /// The files `--outputs` keeps, gzipped with `--gzip`, in name order; the
    /// manifest says which were asked for and how they are compressed.
    private func applyOutputOptions(
        _ files: [(String, OutputContent)], kept: Set<String>?, manifest: inout [(String, JSONValue)]
    ) -> [(String, OutputContent)] {
        var files = files
        if let only = options.outputs, let kept {
            files = files.filter { kept.contains($0.0) }
            manifest.append(
                ("outputs", .array(PublishedOutput.allCases.filter(only.contains).map { .string($0.rawValue) })))
        }
        if options.gzipOutputs {
            files = files.map { name, content in (name + ".gz", PipelineRunner.gzipped(content)) }
            manifest.append(("compression", .string("gzip")))
        }
        files.sort { $0.0 < $1.0 }
        return files
    }

    /// report.html, when the pipeline and `--outputs` want it. It reads the
    /// files written before it into the run folder (it is made from them
    /// alone, as `serve` makes it), so it goes after them; it stays plain
    /// HTML under --gzip: people open it.
    func reportOutput(outputDirectory: String) -> (String, OutputContent)? {
        guard config.writeReport, options.outputs?.contains(.report) ?? true else { return nil }
        return (
            RunReport.fileName,
            .stream { w in try w.write(try RunReport.html(folder: w.folder, outputDirectory: outputDirectory)) }
        )
    }

    /// Stops the run, before anything is published, when too many rows were rejected.
    func checkRejects(_ facts: IngestFacts, asOf: CalendarDay, publisher: RunPublisher) throws {
        let read = facts.rowsRead
        let rejected = facts.rowsRejected
        guard read > 0 else { return }
        let ratio = Double(rejected) / Double(read)
        if ratio > config.maxRejectRatio {
            let path = try publisher.writeStandalone(
                name: "rejects-\(asOf).jsonl", data: Data(OutputRenderers.rejectsJSONL(facts.files).utf8))
            throw CustomerHealthError.tooManyRejects(
                rejected: rejected, read: read, ratio: ratio, limit: config.maxRejectRatio, rejectsFile: path)
        }
    }

    /// What the manifest says of scoring: the churn definition, the data
    /// sources as of the day, and which score parts applied and why.
    func scoringManifest(
        sources: DataSources, parts: ScoreApplicability, scoring: ScoringSettings, asOf: CalendarDay,
        coverage: PartCoverage
    ) -> [(String, JSONValue)] {
        [
            ("churn_definition", .string(config.churnDefinition.summary)),
            ("data_sources", sources.json()),
            (
                "score_parts",
                parts.manifestJSON(sources: sources, settings: config.scoring.parts, asOf: asOf, coverage: coverage)
            ),
            ("score_targets", scoring.targetsJSON()),
        ]
    }

    /// `content` gzip-compressed: whole bytes as one member; a stream in
    /// members as it is written (the large files render and compress their
    /// chunks on every thread: OutputFileWriter.gzipLevel).
    static func gzipped(_ content: OutputContent) -> OutputContent {
        switch content {
        case .bytes(let data):
            return .bytes(Data((try? GzipFileWriter.member(Array(data), level: OutputFileWriter.gzipLevel)) ?? []))
        case .stream(let produce):
            return .stream { w in
                w.compressesMembers = true
                try produce(w)
            }
        }
    }

    /// The data outputs shared by `run` and `rescore`; with `only`, just the
    /// files it names (the others are not even computed).
    func render(
        snapshots: [CustomerSnapshot], scores: [CustomerScore], asOf: CalendarDay, parts: ScoreApplicability,
        inputNames: [String], only: Set<String>? = nil
    ) -> [(String, OutputContent)] {
        func wanted(_ name: String) -> Bool { only?.contains(name) ?? true }
        var files: [(String, OutputContent)] = []
        let threads = self.threads
        if wanted("scores.jsonl") {
            files.append(
                ("scores.jsonl", .stream { try OutputRenderers.writeScores(scores, to: $0, threads: threads) }))
        }
        // The small files are rendered at the same time, one a thread: each
        // is a serial pass over the customers, and replay renders every date.
        var small: [(String, @Sendable () -> Data)] = []
        if wanted("at-risk.json") || wanted("at-risk.csv") || wanted("kpis.json") {
            let atRisk = OutputRenderers.atRiskOrder(scores, priorities: config.scoring.atRiskPriorities)
            if wanted("at-risk.json") || wanted("at-risk.csv") {
                // The accounts of the at-risk customers only: the list is what needs them.
                let listed = Set(atRisk.map(\.customerID))
                var accounts: [String: AccountRecord] = [:]
                for s in snapshots where listed.contains(s.account.customerID) {
                    accounts[s.account.customerID] = s.account
                }
                if wanted("at-risk.json") {
                    small.append(
                        (
                            "at-risk.json",
                            { [accounts] in
                                Data(OutputRenderers.atRiskJSON(atRisk, accounts: accounts, asOf: asOf).utf8)
                            }
                        ))
                }
                if wanted("at-risk.csv") {
                    small.append(
                        ("at-risk.csv", { [accounts] in Data(OutputRenderers.atRiskCSV(atRisk, accounts: accounts)) }))
                }
            }
            if wanted("kpis.json") {
                let calculator = KPICalculator(settings: config.kpis)
                small.append(
                    (
                        "kpis.json",
                        {
                            let kpis = calculator.kpis(
                                asOf: asOf, snapshots: snapshots, scores: scores, atRisk: atRisk.count, parts: parts)
                            return Data((kpis.serialized(pretty: true) + "\n").utf8)
                        }
                    ))
            }
        }
        for (name, data) in zip(small.map(\.0), ParallelMap.run(small.map(\.1))) { files.append((name, .bytes(data))) }
        if wanted("features.jsonl") {
            files.append(
                (
                    "features.jsonl",
                    .stream {
                        try OutputRenderers.writeFeatures(
                            snapshots, asOf: asOf, inputNames: inputNames, to: $0, threads: threads)
                    }
                ))
        }
        return files
    }

    func manifestJSON(
        asOf: CalendarDay, startedAt: Date, inputs: JSONValue, facts data: IngestFacts?, scores: [CustomerScore],
        atRisk: Int, timings: [(String, Double)], extra: [(String, JSONValue)] = []
    ) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("tool", .string("customer-health")),
            ("version", .string(ToolVersion.current)),
            (
                "pipeline",
                .object([
                    ("file", .string((config.file as NSString).lastPathComponent)), ("sha256", .string(config.sha256)),
                ])
            ),
            ("as_of", .string(asOf.description)),
            ("started_at", .string(ISO8601DateFormatter().string(from: startedAt))),
            ("customers_scored", .int(scores.count)),
            ("at_risk_customers", .int(atRisk)),
        ]
        if let data {
            let read = data.rowsRead
            members.append(
                (
                    "rows",
                    .object([
                        ("read", .int(read)),
                        ("rejected", .int(data.rowsRejected)),
                        ("unknown_customer", .int(data.rowsUnknownCustomer)),
                        ("reject_ratio", .number(read > 0 ? Double(data.rowsRejected) / Double(read) : 0, places: 6)),
                        ("max_reject_ratio", .double(config.maxRejectRatio)),
                    ])
                ))
            members.append(
                ("events", .object(EventKind.allCases.map { ($0.name, .int(data.eventCounts[Int($0.rawValue)])) })))
            let products = data.productEvents
            if !products.isEmpty {
                members.append(("product_events", .object(products.map { ($0.name, .int($0.events)) })))
            }
            if data.ignoredEvents > 0 { members.append(("ignored_events", .int(data.ignoredEvents))) }
        }
        members += extra
        members.append(("inputs", inputs))
        members.append(("timings_seconds", .object(timings.map { ($0.0, .number($0.1, places: 3)) })))
        return .object(members)
    }

    func metrics(asOf: CalendarDay, facts data: IngestFacts?, scores: [CustomerScore], atRisk: Int, seconds: Double)
        -> String
    {
        var out = ""
        func metric(_ name: String, _ help: String, _ type: String = "gauge", _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
        }
        metric(
            "customer_health_run_duration_seconds", "Wall time of the last run.", "gauge",
            [("", String(format: "%.3f", seconds))])
        metric(
            "customer_health_last_success_timestamp_seconds", "Unix time at which the last run published its outputs.",
            "gauge",
            [("", String(Int(Date().timeIntervalSince1970)))])
        metric(
            "customer_health_as_of_timestamp_seconds", "The as-of day of the last run, as Unix time (midnight UTC).",
            "gauge",
            [("", String(Int(asOf.number) * 86400))])
        if let data {
            var byExport: [ExportKind: (Int, Int, Int)] = [:]
            for f in data.files {
                let v = byExport[f.export] ?? (0, 0, 0)
                byExport[f.export] = (v.0 + f.rowsRead, v.1 + f.rowsRejected, v.2 + f.rowsUnknownCustomer)
            }
            let kinds = ExportKind.allCases
            metric(
                "customer_health_rows_read", "Rows read in the last run, by export.", "gauge",
                kinds.map { ("{export=\"\($0.rawValue)\"}", String(byExport[$0]?.0 ?? 0)) })
            metric(
                "customer_health_rows_rejected", "Rows rejected in the last run, by export.", "gauge",
                kinds.map { ("{export=\"\($0.rawValue)\"}", String(byExport[$0]?.1 ?? 0)) })
            metric(
                "customer_health_rows_unknown_customer", "Rows about customers missing from accounts, by export.",
                "gauge",
                kinds.map { ("{export=\"\($0.rawValue)\"}", String(byExport[$0]?.2 ?? 0)) })
        }
        var byStatus: [HealthStatus: Int] = [:]
        for s in scores { byStatus[s.status, default: 0] += 1 }
        metric(
            "customer_health_customers", "Customers scored in the last run, by health status.", "gauge",
            HealthStatus.allCases.map { ("{status=\"\($0.rawValue)\"}", String(byStatus[$0] ?? 0)) })
        metric(
            "customer_health_at_risk_customers", "Customers on the at-risk list of the last run.", "gauge",
            [("", String(atRisk))])
        return out
    }
}

/// How far apart replayed as-of dates are.
public enum ReplayStep: Sendable, Equatable {
    case days(Int)
    case months(Int)

    /// Parses 1d, 7d, 1m, 3m ...
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = t.last, let n = Int(t.dropLast()), n > 0 else { return nil }
        switch unit {
        case "d": self = .days(n)
        case "w": self = .days(7 * n)
        case "m": self = .months(n)
        default: return nil
        }
    }

    /// The dates from `from` to `to` inclusive. Monthly steps keep the day of
    /// the month, clamped to the month's length (Jan 31 -> Feb 28 -> Mar 31).
    public func dates(from: CalendarDay, to: CalendarDay) -> [CalendarDay] {
        var out: [CalendarDay] = []
        switch self {
        case .days(let n):
            var d = from
            while d <= to {
                out.append(d)
                d = d.adding(days: n)
            }
        case .months(let n):
            let start = from.components
            var k = 0
            while true {
                let monthIndex = start.month - 1 + k * n
                let year = start.year + monthIndex / 12
                let month = monthIndex % 12 + 1
                let day = min(start.day, CalendarDay.daysIn(month: month, year: year))
                guard let d = CalendarDay(year: year, month: month, day: day), d <= to else { break }
                out.append(d)
                k += 1
            }
        }
        return out
    }
}

/// Objects a command-line process keeps until it exits (see RunOptions.keepDataUntilExit).
enum ProcessLifetime {
    nonisolated(unsafe) private static var kept: [AnyObject] = []
    static func keep(_ object: AnyObject) { kept.append(object) }
}
