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

/// A pipeline file (pipelines/*.yaml), read and checked through the sections'
/// declarations (`settings(resolve:)` and SettingsDeclarations.swift).
/// docs/pipeline.md, docs/scoring.md and the README list every setting;
/// SettingsDocsTests holds them to the declarations.
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
        var config = PipelineConfig(file: file, sha256: sha256, inputDirectory: "", outputDirectory: "")
        try settings(resolve: resolve).read(root, into: &config)
        try root.checkUnknownKeys()
        return config
    }

    /// Every section of the pipeline file with its keys and defaults, as
    /// declared (what SettingsDocsTests checks the docs against).
    static var declaredSettings: [DeclaredSection] {
        settings(resolve: { $0 }).declared(
            path: "", defaults: PipelineConfig(file: "", sha256: "", inputDirectory: "", outputDirectory: ""))
    }

    /// The top level of the pipeline file, in the order it is read.
    static func settings(resolve: @escaping (String) -> String) -> SettingsSection<PipelineConfig> {
        SettingsSection([
            .custom("version", default: { _ in "1" }) { node, _ in
                _ = try node.int("version", default: 1, range: 1...1)
            },
            .custom("input") { node, c in
                guard let input = try node.string("input") else {
                    throw node.failure("missing setting \"input\": the folder that holds the exports")
                }
                c.inputDirectory = resolve(input)
            },
            .custom("output", default: { _ in defaultOutput }) { node, c in
                c.outputDirectory = resolve(try node.string("output", default: defaultOutput))
            },
            .custom("as_of", default: { _ in latestActivity }) { node, c in
                if let asOf = try node.string("as_of"), asOf != latestActivity {
                    guard let day = CalendarDay(asOf) else {
                        throw node.failure(
                            "expected a date (yyyy-MM-dd) or latest-activity, found \"\(asOf)\"", key: "as_of")
                    }
                    c.asOf = .date(day)
                }
            },
            .whole("threads", \.threads, 0...1024),
            .number("max_reject_ratio", \.maxRejectRatio, 0...1),
            .choice("on_corrupt_file", \.onCorruptFile, expected: "fail or skip"),
            .section("rejects", SettingsSection([.flag("include_raw", \.rejectsIncludeRaw)])),
            .whole("max_row_bytes", \.maxRowBytes, 1024...(1 << 30)),
            .number("lock_wait_seconds", \.lockWaitSeconds, 0...86400),
            .flag("report", \.writeReport),
            .custom("date_format", default: { $0.dateFormat == .iso8601 ? "iso8601" : nil }) { node, c in
                if let format = try readDateFormat(node) { c.dateFormat = format }
            },
            .mapping("churn_definition", keys: ChurnDefinition.declaredKeys) { node, c in
                c.churnDefinition = try ChurnDefinition.load(node)
            },
            .mapping("events", declared: EventVocabulary.declared) { node, c in
                c.events = try EventVocabulary.load(node)
            },
            .mapping("exports", declared: ExportSettings.declared) { node, c in
                c.exports = try ExportSettings.loadAll(node, churn: c.churnDefinition)
            },
            .mapping("scoring", declared: ScoringSettings.declared) { node, c in
                c.scoring = try ScoringSettings.load(node)
            },
            .mapping("kpis", declared: KPISettings.declared) { node, c in c.kpis = try KPISettings.load(node) },
            .mapping("churn", declared: ChurnSettings.declared) { node, c in
                c.churn = try ChurnSettings.load(node, resolve: resolve)
                // Checked here, once churn_definition and events are read and before watch is.
                try c.checkActivityEventsCanCount()
            },
            .mapping("watch", declared: WatchSettings.declared) { node, c in
                c.watch = try WatchSettings.load(node, resolve: resolve)
            },
        ])
    }

    static let defaultOutput = "output"
    static let latestActivity = "latest-activity"

    /// `date_format` (top level or an export's): nil when not set.
    static func readDateFormat(_ node: ConfigNode) throws -> TimestampFormat? {
        guard let df = try node.string("date_format") else { return nil }
        guard let format = TimestampFormat(setting: df) else {
            throw node.failure(
                "unreadable date format \"\(df)\"; use iso8601, epoch_s, epoch_ms, or yyyy MM dd and literal characters, e.g. dd/MM/yyyy",
                key: "date_format")
        }
        return format
    }

    /// A name in `churn_definition.activity_events` that is neither a
    /// built-in kind nor a name the vocabulary keeps would never count.
    func checkActivityEventsCanCount() throws {
        guard let names = churnDefinition.activityEvents else { return }
        for name in names where EventKind(name: name) == nil && events.treatment(of: name).0 != .keep {
            throw CustomerHealthError.pipeline(
                file: file, path: "churn_definition.activity_events",
                message:
                    "\"\(name)\" is neither a built-in kind (\(EventKind.allCases.map(\.name).joined(separator: ", "))) nor an event name that `events:` keeps as a named product event"
            )
        }
    }
}

extension ExportSettings {
    /// `exports:`: one optional mapping per export, each with the keys of `settings`.
    static func loadAll(_ exports: ConfigNode, churn: ChurnDefinition) throws -> [ExportKind: ExportSettings] {
        for key in exports.keys() where ExportKind(rawValue: key) == nil {
            throw exports.failure(
                "unknown export \"\(key)\"; expected accounts, activity, tickets, uptime or savings", key: key)
        }
        var all: [ExportKind: ExportSettings] = [:]
        for kind in ExportKind.allCases {
            var settings = ExportSettings(kind: kind, churn: churn)
            try Self.settings.read(try exports.child(kind.rawValue), into: &settings)
            all[kind] = settings
        }
        return all
    }

    static func declared(path: String) -> [DeclaredSection] {
        settings.declared(path: path + ".<name>", defaults: ExportSettings(kind: .activity))
    }

    /// The delimiter names a pipeline may write, the first being the docs' name.
    static let delimiterNames: [(byte: UInt8, names: [String])] = [
        (UInt8(ascii: ","), ["comma", ","]), (UInt8(ascii: ";"), ["semicolon", ";"]),
        (UInt8(ascii: "\t"), ["tab", "\t", "\\t"]), (UInt8(ascii: "|"), ["pipe", "|"]),
    ]

    /// The keys of one export's mapping, in the order they are read.
    static var settings: SettingsSection<ExportSettings> {
        SettingsSection([
            .custom("files") { node, s in
                if let globs = try node.stringList("files") { s.globs = globs }
            },
            .custom("delimiter", default: { s in delimiterNames.first { $0.byte == s.delimiter }?.names[0] }) {
                node, s in
                guard let d = try node.string("delimiter") else { return }
                guard let byte = delimiterNames.first(where: { $0.names.contains(d.lowercased()) })?.byte else {
                    throw node.failure("expected comma, semicolon, tab or pipe, found \"\(d)\"", key: "delimiter")
                }
                s.delimiter = byte
            },
            .custom("timestamp_format", default: { $0.timestampFormat == .iso8601 ? "iso8601" : nil }) { node, s in
                guard let tf = try node.string("timestamp_format") else { return }
                guard let format = TimestampFormat(setting: tf) else {
                    throw node.failure(
                        "unreadable timestamp format \"\(tf)\"; use iso8601, epoch_s, epoch_ms, or yyyy MM dd HH mm ss SSS and literal characters, e.g. dd/MM/yyyy HH:mm",
                        key: "timestamp_format")
                }
                s.timestampFormat = format
            },
            .custom("date_format") { node, s in
                if let format = try PipelineConfig.readDateFormat(node) { s.dateFormat = format }
            },
            .custom("columns") { node, s in
                let columns = try node.stringMap("columns")
                for (contract, _) in columns where !s.kind.columns.contains(contract) {
                    throw node.failure(
                        "\"\(contract)\" is not a column of the \(s.kind.rawValue) export; its columns are \(s.kind.columns.joined(separator: ", "))",
                        key: "columns")
                }
                s.columnNames = columns
            },
        ])
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

    static var settings: SettingsSection<KPISettings> {
        SettingsSection([.number("max_lifetime_months", \.maxLifetimeMonths, 1...1200)])
    }

    static func load(_ node: ConfigNode) throws -> KPISettings {
        var k = KPISettings()
        try settings.read(node, into: &k)
        return k
    }

    static func declared(path: String) -> [DeclaredSection] { settings.declared(path: path, defaults: KPISettings()) }
}
