import Foundation
import Logging

/// Settings of watch mode (the pipeline's `watch:` section).
public struct WatchSettings: Sendable, Equatable {
    /// A health score move smaller than this, with status, churn risk and
    /// priority unchanged, is not sent.
    public var minScoreDelta = 1.0
    /// A new file (or a grown gzip file) is read once unmodified for this long.
    public var settleSeconds = 5.0
    public var pollSeconds = 1.0
    public var heartbeatSeconds = 30.0
    /// The checkpoint's folder; nil: OUTPUT/.watch.
    public var stateDirectory: String? = nil

    public init() {}

    /// The `watch:` section, declared once (Pipeline/SettingsDeclarations.swift).
    static func settings(resolve: @escaping (String) -> String) -> SettingsSection<WatchSettings> {
        SettingsSection([
            .number("min_score_delta", \.minScoreDelta, 0...100),
            .number("settle_seconds", \.settleSeconds, 0...86_400),
            .number("poll_seconds", \.pollSeconds, 0.01...3600),
            .number("heartbeat_seconds", \.heartbeatSeconds, 0.1...86_400),
            .custom("state") { node, w in w.stateDirectory = try node.string("state").map(resolve) },
        ])
    }

    static func load(_ node: ConfigNode, resolve: @escaping (String) -> String) throws -> WatchSettings {
        var w = WatchSettings()
        try settings(resolve: resolve).read(node, into: &w)
        return w
    }

    static func declared(path: String) -> [DeclaredSection] {
        settings(resolve: { $0 }).declared(path: path, defaults: WatchSettings())
    }
}

/// What was last sent for a customer: changes are measured against it, so
/// that slow drift adds up to an update instead of never showing.
public struct EmittedHealth: Codable, Equatable, Sendable {
    public var healthScore: Double
    public var healthStatus: String
    public var churnProbability: Double?
    public var churnRisk: String?
    public var interventionPriority: String

    init(_ s: CustomerScore) {
        healthScore = (s.healthScore * 10).rounded() / 10
        healthStatus = s.status.rawValue
        churnProbability = s.churnProbability.map { ($0 * 10_000).rounded() / 10_000 }
        churnRisk = s.churnProbability.map { ChurnRisk(probability: $0).rawValue }
        interventionPriority = s.priority.rawValue
    }

    func json() -> JSONValue {
        .object([
            ("health_score", .number(healthScore, places: 1)),
            ("health_status", .string(healthStatus)),
            ("churn_probability", churnProbability.map { .number($0, places: 4) } ?? .null),
            ("churn_risk", .optionalString(churnRisk)),
            ("intervention_priority", .string(interventionPriority)),
        ])
    }
}

/// Everything a restart needs to go on without losing or inventing an
/// update: how far each file was read, what was last sent per customer and
/// for the KPIs, and the next sequence number.
public struct WatchCheckpoint: Codable, Equatable, Sendable {
    public struct FileState: Codable, Equatable, Sendable {
        public var tracked: TrackedFile
        public var linesBefore: Int
        public var insideRejectedLine: Bool
    }
    public var version = 1
    public var files: [FileState] = []
    public var customers: [String: EmittedHealth] = [:]
    /// The KPIs last sent, as serialized.
    public var kpis: String? = nil
    public var nextSeq = 1
    public var asOf: CalendarDay? = nil

    public init() {}
}

/// Watch mode without its loop: each `step` looks at the input folder once,
/// reads what landed or grew, re-scores the customers it touched (every
/// customer when the as-of day moves on) and returns the lines to send.
/// The caller writes them, then saves `checkpoint`: a crash in between sends
/// the same lines again, with the same sequence numbers.
public final class WatchSession {
    /// The churn model that serves an as-of day of the data read so far, or
    /// nil to score without one (`PipelineRunner.watchSession` chooses it as `run` does).
    public typealias ChurnModelSource = (IngestResult, CalendarDay) throws -> ChurnModelFile?

    public let config: PipelineConfig
    public let settings: WatchSettings
    public private(set) var checkpoint: WatchCheckpoint
    private let threads: Int
    private let logger: Logger
    private let churnModel: ChurnModelSource
    private let tracker: FileTracker
    private var live: LiveExports?
    private var snapshots: [CustomerSnapshot?] = []
    private var scores: [CustomerScore?] = []
    /// The score parts and settings (auto targets resolved) the scores were computed with.
    private var lastParts: ScoreApplicability?
    private var lastScoring: ScoringSettings?
    /// Messages for the log: files replaced, truncated or gone, and what was done.
    public private(set) var notices: [String] = []
    /// How long ago the newest file read by the last step was last modified
    /// (nil: it read nothing): the start of that batch's delivery lag.
    public private(set) var newestReadAge: Double?
    /// Rows rejected by the last step, for the rejects file.
    public private(set) var newRejects: [RejectRecord] = []

    public init(
        config: PipelineConfig, settings: WatchSettings, checkpoint: WatchCheckpoint?, threads: Int, logger: Logger,
        churnModel: @escaping ChurnModelSource
    ) {
        self.config = config
        self.settings = settings
        self.checkpoint = checkpoint ?? WatchCheckpoint()
        self.threads = threads
        self.logger = logger
        self.churnModel = churnModel
        tracker = FileTracker(settleSeconds: settings.settleSeconds)
    }

    /// One look at the input folder; the lines to send, in sequence order.
    public func step(now: Date = Date(), lastUpdated: String) throws -> [String] {
        notices = []
        newRejects = []
        newestReadAge = nil
        guard let read = try readNewRows(now: now), let live else { return [] }
        let data = live.result()
        let asOf = try config.asOfDay(for: data)
        let parts = ScoreApplicability(data, asOf: asOf, settings: config.scoring.parts)
        let touched = customersToScore(read, data: data, asOf: asOf, parts: parts)
        let firstLook = checkpoint.asOf == nil && checkpoint.customers.isEmpty
        checkpoint.asOf = asOf
        guard !touched.isEmpty else { return [] }
        let rescored = try rescore(touched, data: data, asOf: asOf, parts: parts)
        var lines = customerUpdates(rescored, data: data, firstLook: firstLook, lastUpdated: lastUpdated)
        if let kpis = kpiUpdate(asOf: asOf, parts: parts, firstLook: firstLook) { lines.append(kpis) }
        return lines
    }

    /// Reads what landed or grew since the last look. Returns the customers
    /// whose rows changed (every one after a rebuild), or nil when nothing
    /// changed since the data was last scored.
    private func readNewRows(now: Date) throws -> [Int]? {
        let files = try IngestRunner(config: config, threads: threads, logger: logger).listFiles()
        if files.contains(where: { $0.partition != nil }) {
            throw CustomerHealthError.input(
                file: config.inputDirectory,
                message:
                    "is a partition written by `customer-health partition --output`: watch reads exports as they arrive; point its pipeline's `input` at the exports folder"
            )
        }
        let observed = FileTracker.observe(files, now: now)
        let rank = Dictionary(files.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        if live == nil && !checkpoint.files.isEmpty {
            // A restart: rebuild the aggregates from exactly the bytes read before it.
            try rebuild(observed: observed, upTo: knownFiles(), rank: rank)
        }
        // After a rebuild from the files as they are, they are recorded anew.
        let known = knownFiles()
        let changes = try tracker.changes(observed: observed, known: known.mapValues(\.tracked))
        let plan = plannedReads(changes, known: known, rank: rank)
        newestReadAge = plan.fresh.values.map(\.age).min()
        if plan.rebuildAll || live == nil {
            return try rebuild(observed: observed, upTo: nil, rank: rank)
        }
        if plan.reads.isEmpty {
            // Nothing new since this data was scored: neither are the as-of day and the scores.
            if let live, snapshots.count == live.accounts.count { return nil }
            return []
        }
        let outcome = try live!.add(plan.reads, skipFailures: true)
        for (name, resume) in outcome.consumed {
            guard let o = plan.fresh[name] else { continue }
            try record(o, resume: resume)
        }
        newRejects += outcome.reports.flatMap(\.rejects)
        for (name, error) in outcome.failed {
            // Skipped for good: recorded as read, so that it is not tried again until it changes.
            notices.append("\(error); skipped, the stream goes on without its rows")
            if let o = plan.fresh[name] { try record(o, resume: .init(offset: o.file.size, linesBefore: 0)) }
        }
        return outcome.touched
    }

    /// The files read so far, by name, as the checkpoint records them.
    private func knownFiles() -> [String: WatchCheckpoint.FileState] {
        var known: [String: WatchCheckpoint.FileState] = [:]
        for f in checkpoint.files { known[f.tracked.name] = f }
        return known
    }

    /// What to read of each changed file, and whether a change needs every
    /// file read again instead (an accounts file, a gzip file rewritten, a
    /// tickets file out of order, a file cut, replaced or gone).
    private func plannedReads(
        _ changes: [FileChange], known: [String: WatchCheckpoint.FileState], rank: [String: Int]
    ) -> (reads: [LiveExports.Read], fresh: [String: FileObservation], rebuildAll: Bool) {
        var rebuildAll = false
        var reads: [LiveExports.Read] = []
        var fresh: [String: FileObservation] = [:]
        for change in changes {
            switch change {
            case .new(let o):
                if o.file.kind == .accounts && live != nil {
                    rebuildAll = true
                    notices.append("\(o.file.name): a new accounts file; reading every file again")
                }
                if o.file.kind == .tickets && live != nil
                    && known.values.contains(where: {
                        $0.tracked.export == ExportKind.tickets.rawValue && $0.tracked.name > o.file.name
                    })
                {
                    // Ticket updates with equal times are decided by file-name order: one
                    // that lands out of order is placed right by reading every file again.
                    rebuildAll = true
                    notices.append(
                        "\(o.file.name): a tickets file that sorts before ones already read; reading every file again")
                }
                reads.append(.init(file: o.file, resume: nil, stopAt: nil, rank: rank[o.file.name] ?? 0))
                fresh[o.file.name] = o
            case .grown(let o, _):
                if o.file.kind == .accounts {
                    rebuildAll = true
                    notices.append("\(o.file.name): the accounts file grew; reading every file again")
                }
                let k = known[o.file.name]!
                if o.file.isGzip {
                    // A gzip file is taken whole: one that grows after it was read is a new version of it.
                    rebuildAll = true
                    notices.append("\(o.file.name): the gzip file changed after it was read; reading every file again")
                }
                reads.append(
                    .init(
                        file: o.file,
                        resume: .init(
                            offset: k.tracked.offset, linesBefore: k.linesBefore,
                            insideRejectedLine: k.insideRejectedLine), stopAt: nil, rank: rank[o.file.name] ?? 0))
                fresh[o.file.name] = o
            case .settling:
                continue
            case .truncated, .replaced, .vanished:
                rebuildAll = true
                notices.append(WatchSession.describe(change))
            }
        }
        return (reads, fresh, rebuildAll)
    }

    /// The customers to score again: those whose rows changed, or every one
    /// when the as-of day moved on (days since last login grow with no new
    /// events), customers were added, or the score parts changed.
    private func customersToScore(_ read: [Int], data: IngestResult, asOf: CalendarDay, parts: ScoreApplicability)
        -> [Int]
    {
        var touched = read
        if checkpoint.asOf != asOf { touched = Array(data.accounts.indices) }
        if snapshots.count != data.accounts.count {
            snapshots = Array(repeating: nil, count: data.accounts.count)
            scores = Array(repeating: nil, count: data.accounts.count)
            touched = Array(data.accounts.indices)
        }
        if parts != lastParts {
            // A source appeared (or a part was forced): every score reads it.
            touched = Array(data.accounts.indices)
            lastParts = parts
        }
        return touched
    }

    /// New snapshots and scores of `touched` (of every customer when the
    /// auto targets moved); returns the customers scored again.
    private func rescore(_ touched: [Int], data: IngestResult, asOf: CalendarDay, parts: ScoreApplicability) throws
        -> [Int]
    {
        var touched = touched
        let model = try churnModel(data, asOf)
        let fresher = CustomerSnapshot.make(
            data, asOf: asOf, scoring: config.scoring, only: touched, modelInputs: model?.ensemble.featureNames,
            threads: threads)
        var index: [String: Int] = [:]
        for c in touched {
            index[data.accounts[c].customerID] = c
            snapshots[c] = nil
        }
        for s in fresher { snapshots[index[s.account.customerID]!] = s }
        // Auto targets come from every active customer: when they move, every score does.
        let scoring = config.scoring.resolvingTargets(from: snapshots.compactMap { $0 })
        if scoring != lastScoring {
            if lastScoring != nil && touched.count < data.accounts.count {
                touched = Array(data.accounts.indices)
                for c in touched { index[data.accounts[c].customerID] = c }
            }
            lastScoring = scoring
        }
        let rescored = PortfolioScorer.score(
            touched.compactMap { snapshots[$0] }, asOf: asOf, settings: scoring, threads: threads,
            applicability: parts, model: model?.ensemble, reasonCodes: 0)
        for c in touched { scores[c] = nil }
        for s in rescored { scores[index[s.customerID]!] = s }
        return touched
    }

    /// A `customer_health_update` line for each rescored customer whose
    /// health moved enough since what was last sent for it.
    private func customerUpdates(_ touched: [Int], data: IngestResult, firstLook: Bool, lastUpdated: String)
        -> [String]
    {
        var lines: [String] = []
        for c in touched {
            let id = data.accounts[c].customerID
            guard let score = scores[c] else {
                // No longer scored (churned, or not started): nothing more to send for it.
                checkpoint.customers[id] = nil
                continue
            }
            let now = EmittedHealth(score)
            let before = checkpoint.customers[id]
            checkpoint.customers[id] = nil
            if firstLook {
                checkpoint.customers[id] = now
                continue
            }
            // Nothing sent when nothing changed as sent, or when the score moved
            // less than the threshold with status, risk and priority the same.
            // Scores are rounded to tenths: a move of exactly the threshold is sent, whatever its last bit.
            if let before,
                now == before
                    || (abs(now.healthScore - before.healthScore) < settings.minScoreDelta - 1e-9
                        && now.healthStatus == before.healthStatus && now.churnRisk == before.churnRisk
                        && now.interventionPriority == before.interventionPriority)
            {
                checkpoint.customers[id] = before
                continue
            }
            checkpoint.customers[id] = now
            var payload = now.json()
            if case .object(var members) = payload {
                members.insert(("customer_id", .string(id)), at: 0)
                members.append(("previous", before?.json() ?? .null))
                members.append(("last_updated", .string(lastUpdated)))
                payload = .object(members)
            }
            lines.append(line(type: "customer_health_update", data: payload))
        }
        return lines
    }

    /// A `kpi_update` line when the portfolio's KPIs changed since last sent.
    private func kpiUpdate(asOf: CalendarDay, parts: ScoreApplicability, firstLook: Bool) -> String? {
        let allScores = scores.compactMap { $0 }
        let atRisk = OutputRenderers.atRiskCount(allScores, priorities: config.scoring.atRiskPriorities)
        let kpiValue = KPICalculator(settings: config.kpis).kpis(
            asOf: asOf, snapshots: snapshots.compactMap { $0 }, scores: allScores, atRisk: atRisk, parts: parts)
        let kpis = kpiValue.serialized()
        guard kpis != checkpoint.kpis else { return nil }
        checkpoint.kpis = kpis
        return firstLook ? nil : line(type: "kpi_update", data: kpiValue)
    }

    /// The log message for a file that changed in a way reading on cannot explain.
    static func describe(_ change: FileChange) -> String {
        switch change {
        case .truncated(let name, let read, let size):
            return
                "\(name): cut to \(size) bytes after \(read) were read; its earlier rows are gone from the state, which is rebuilt from every file as it is now"
        case .replaced(let name):
            return
                "\(name): replaced by another file of the same name; the state is rebuilt from every file as it is now"
        case .vanished(let name):
            return
                "\(name): gone from the input folder (rotated or deleted); the state is rebuilt from the files still there"
        case .new(let o): return "\(o.file.name): new"
        case .grown(let o, _): return "\(o.file.name): grown"
        case .settling(let name): return "\(name): settling"
        }
    }

    /// A heartbeat line: it carries the last sequence number sent and takes none.
    public func heartbeat(lagSeconds: Double) -> String {
        JSONValue.object([
            ("type", .string("heartbeat")), ("seq", .int(checkpoint.nextSeq - 1)),
            ("files_seen", .int(checkpoint.files.count)), ("lag_seconds", .number(lagSeconds, places: 3)),
        ]).serialized()
    }

    private func line(type: String, data: JSONValue) -> String {
        let seq = checkpoint.nextSeq
        checkpoint.nextSeq += 1
        return JSONValue.object([("type", .string(type)), ("seq", .int(seq)), ("data", data)]).serialized()
    }

    private func record(_ o: FileObservation, resume: InputFileReader.Resume) throws {
        let state = WatchCheckpoint.FileState(
            tracked: try FileTracker.track(o, offset: resume.offset), linesBefore: resume.linesBefore,
            insideRejectedLine: resume.insideRejectedLine)
        checkpoint.files.removeAll { $0.tracked.name == o.file.name }
        checkpoint.files.append(state)
        checkpoint.files.sort { $0.tracked.name < $1.tracked.name }
    }

    /// Reads the files from scratch: each up to where it was read before
    /// (`upTo`, after a restart), or every complete file as it is now.
    /// Returns every customer (all are re-scored).
    @discardableResult
    private func rebuild(observed: [FileObservation], upTo: [String: WatchCheckpoint.FileState]?, rank: [String: Int])
        throws -> [Int]
    {
        var taken = observed.filter { o in
            if let upTo { return upTo[o.file.name] != nil }
            return o.age >= settings.settleSeconds || !o.file.isGzip
        }
        if let upTo {
            // A file changed other than by growing since: rebuild from the files as they are.
            let broken = try tracker.changes(observed: observed, known: upTo.mapValues(\.tracked)).filter {
                switch $0 {
                case .truncated, .replaced, .vanished: return true
                default: return false
                }
            }
            if !broken.isEmpty {
                notices += broken.map(WatchSession.describe)
                return try rebuild(observed: observed, upTo: nil, rank: rank)
            }
        }
        taken.sort { $0.file.name < $1.file.name }
        guard taken.contains(where: { $0.file.kind == .accounts }) else {
            // Every accounts file is still being written: nothing to score yet.
            notices.append("no accounts file has settled yet (unmodified for \(settings.settleSeconds) s); waiting")
            live = nil
            return []
        }
        let exports = try LiveExports(
            config: config, accountFiles: taken.filter { $0.file.kind == .accounts }.map(\.file))
        let reads = taken.filter { $0.file.kind != .accounts }.map { o in
            LiveExports.Read(
                file: o.file, resume: nil, stopAt: upTo.map { $0[o.file.name]!.tracked.offset },
                rank: rank[o.file.name] ?? 0)
        }
        let outcome = try exports.add(reads, skipFailures: true)
        let consumed = outcome.consumed
        if upTo == nil { newRejects += outcome.reports.flatMap(\.rejects) }
        for (name, error) in outcome.failed {
            notices.append("\(error); skipped, the stream goes on without its rows")
            if upTo == nil, let o = taken.first(where: { $0.file.name == name }) {
                try record(o, resume: .init(offset: o.file.size, linesBefore: 0))
            }
        }
        live = exports
        snapshots = []
        scores = []
        if upTo == nil {
            checkpoint.files = []
            for o in taken {
                if o.file.kind == .accounts {
                    try record(o, resume: .init(offset: o.file.size, linesBefore: 0))
                } else if let r = consumed[o.file.name] {
                    try record(o, resume: r)
                }
            }
        }
        return Array(exports.accounts.indices)
    }
}
