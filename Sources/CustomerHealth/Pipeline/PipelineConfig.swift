import Crypto
import Foundation

/// What `as_of` says: a fixed date, or the newest day present in the activity data.
public enum AsOfSetting: Sendable, Equatable {
    case latestActivity
    case date(CalendarDay)
}

public enum CorruptFilePolicy: String, Sendable {
    case fail, skip
}

/// A pipeline file (pipelines/*.yaml), read and checked. docs/pipeline.md and
/// the README list every setting.
public struct PipelineConfig: Sendable {
    public var file: String
    public var sha256: String
    public var inputDirectory: String
    public var outputDirectory: String
    public var asOf: AsOfSetting = .latestActivity
    public var threads: Int = 0
    public var maxRejectRatio: Double = 0.001
    public var onCorruptFile: CorruptFilePolicy = .fail
    public var rejectsIncludeRaw = true
    public var maxRowBytes = 1 << 20
    public var lockWaitSeconds: Double = 0
    /// Whether each run folder gets report.html (docs/report.md).
    public var writeReport = true
    public var exports: [ExportKind: ExportSettings] = [:]
    public var dateFormat: TimestampFormat = .iso8601
    /// How the activity export's event names map to the built-in kinds.
    public var events = EventVocabulary()
    /// Who is active on a day, for every command.
    public var churnDefinition = ChurnDefinition()
    public var scoring = ScoringSettings()
    public var kpis = KPISettings()
    public var churn = ChurnSettings()
    public var watch = WatchSettings()

    /// Reads a pipeline file. Relative paths inside it are relative to the
    /// file's own folder, so a crontab can run it from anywhere.
    public static func load(path: String) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.pipeline(
                file: path, path: "", message: "cannot be read: no such file, or no permission")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CustomerHealthError.pipeline(file: path, path: "", message: "is not UTF-8 text")
        }
        let base = (path as NSString).deletingLastPathComponent
        return try parse(
            text: text, file: path, baseDirectory: base.isEmpty ? "." : base,
            sha256: Digest.sha256Hex(data))
    }

    public static func parse(text: String, file: String, baseDirectory: String, sha256: String = "") throws
        -> PipelineConfig
    {
        let root = try ConfigNode.load(file: file, text: text)
        func resolve(_ p: String) -> String {
            // Absolute and without ".." steps, so messages and summaries show plain paths.
            URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: baseDirectory, isDirectory: true))
                .standardizedFileURL.path
        }
        let version = try root.int("version", default: 1, range: 1...1)
        _ = version
        guard let input = try root.string("input") else {
            throw root.failure("missing setting \"input\": the folder that holds the exports")
        }
        let output = try root.string("output", default: "output")
        var config = PipelineConfig(
            file: file, sha256: sha256, inputDirectory: resolve(input), outputDirectory: resolve(output))
        if let asOf = try root.string("as_of"), asOf != "latest-activity" {
            guard let day = CalendarDay(asOf) else {
                throw root.failure("expected a date (yyyy-MM-dd) or latest-activity, found \"\(asOf)\"", key: "as_of")
            }
            config.asOf = .date(day)
        }
        config.threads = try root.int("threads", default: 0, range: 0...1024)
        config.maxRejectRatio = try root.double("max_reject_ratio", default: 0.001, range: 0...1)
        let policy = try root.string("on_corrupt_file", default: "fail")
        guard let p = CorruptFilePolicy(rawValue: policy) else {
            throw root.failure("expected fail or skip, found \"\(policy)\"", key: "on_corrupt_file")
        }
        config.onCorruptFile = p
        let rejects = try root.child("rejects")
        config.rejectsIncludeRaw = try rejects.bool("include_raw", default: true)
        config.maxRowBytes = try root.int("max_row_bytes", default: 1 << 20, range: 1024...(1 << 30))
        config.lockWaitSeconds = try root.double("lock_wait_seconds", default: 0, range: 0...86400)
        config.writeReport = try root.bool("report", default: true)
        if let df = try root.string("date_format") {
            guard let format = TimestampFormat(setting: df) else {
                throw root.failure(
                    "unreadable date format \"\(df)\"; use iso8601, epoch_s, epoch_ms, or yyyy MM dd and literal characters, e.g. dd/MM/yyyy",
                    key: "date_format")
            }
            config.dateFormat = format
        }
        config.churnDefinition = try ChurnDefinition.load(try root.child("churn_definition"))
        config.events = try EventVocabulary.load(try root.child("events"))

        let exports = try root.child("exports")
        for key in exports.keys() where ExportKind(rawValue: key) == nil {
            throw exports.failure(
                "unknown export \"\(key)\"; expected accounts, activity, tickets, uptime or savings", key: key)
        }
        for kind in ExportKind.allCases {
            var settings = ExportSettings(kind: kind, churn: config.churnDefinition)
            let node = try exports.child(kind.rawValue)
            if let globs = try node.stringList("files") { settings.globs = globs }
            if let d = try node.string("delimiter") {
                switch d.lowercased() {
                case ",", "comma": settings.delimiter = UInt8(ascii: ",")
                case ";", "semicolon": settings.delimiter = UInt8(ascii: ";")
                case "\t", "\\t", "tab": settings.delimiter = UInt8(ascii: "\t")
                case "|", "pipe": settings.delimiter = UInt8(ascii: "|")
                default: throw node.failure("expected comma, semicolon, tab or pipe, found \"\(d)\"", key: "delimiter")
                }
            }
            if let tf = try node.string("timestamp_format") {
                guard let format = TimestampFormat(setting: tf) else {
                    throw node.failure(
                        "unreadable timestamp format \"\(tf)\"; use iso8601, epoch_s, epoch_ms, or yyyy MM dd HH mm ss SSS and literal characters, e.g. dd/MM/yyyy HH:mm",
                        key: "timestamp_format")
                }
                settings.timestampFormat = format
            }
            if let df = try node.string("date_format") {
                guard let format = TimestampFormat(setting: df) else {
                    throw node.failure(
                        "unreadable date format \"\(df)\"; use iso8601, epoch_s, epoch_ms, or yyyy MM dd and literal characters, e.g. dd/MM/yyyy",
                        key: "date_format")
                }
                settings.dateFormat = format
            }
            let columns = try node.stringMap("columns")
            for (contract, _) in columns where !kind.columns.contains(contract) {
                throw node.failure(
                    "\"\(contract)\" is not a column of the \(kind.rawValue) export; its columns are \(kind.columns.joined(separator: ", "))",
                    key: "columns")
            }
            settings.columnNames = columns
            config.exports[kind] = settings
        }
        config.scoring = try ScoringSettings.load(try root.child("scoring"))
        config.kpis = try KPISettings.load(try root.child("kpis"))
        config.churn = try ChurnSettings.load(try root.child("churn"), resolve: resolve)
        if let names = config.churnDefinition.activityEvents {
            // A name that is neither a built-in kind nor a name the vocabulary keeps would never count.
            for name in names where EventKind(name: name) == nil && config.events.treatment(of: name).0 != .keep {
                throw CustomerHealthError.pipeline(
                    file: file, path: "churn_definition.activity_events",
                    message:
                        "\"\(name)\" is neither a built-in kind (\(EventKind.allCases.map(\.name).joined(separator: ", "))) nor an event name that `events:` keeps as a named product event"
                )
            }
        }
        config.watch = try WatchSettings.load(try root.child("watch"), resolve: resolve)
        try root.checkUnknownKeys()
        return config
    }
}

extension PipelineConfig {
    /// Every setting that changes what training produces (a cached
    /// point-in-time model trained under other settings is trained again).
    var trainingFingerprint: String {
        churn.trainingFingerprint(windowDays: scoring.windowDays, definition: churnDefinition, events: events)
    }

    /// How one export's files are read (the defaults when the pipeline sets nothing for it).
    func exportSettings(_ kind: ExportKind) -> ExportSettings {
        exports[kind] ?? ExportSettings(kind: kind, churn: churnDefinition)
    }
}

public struct KPISettings: Sendable, Equatable {
    /// Expected customer lifetime is 1 / monthly churn, capped here (months).
    public var maxLifetimeMonths = 60.0

    static func load(_ node: ConfigNode) throws -> KPISettings {
        var k = KPISettings()
        k.maxLifetimeMonths = try node.double("max_lifetime_months", default: k.maxLifetimeMonths, range: 1...1200)
        return k
    }
}
