import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A partitioned input folder, as `customer-health partition` writes it and
/// runs read it (docs/scale-out.md#partitioned-input):
///
///     bucket=007/activity-2026-11-23.csv.gz          the file's rows of bucket 7, verbatim, after its header
///     bucket=007/.activity-2026-11-23.csv.gz.positions where each of them was in the original (line, byte)
///     _partition/manifest.json                       the files split, their checksums and what spans all customers
///     _partition/activity-2026-11-23.csv.gz.rejects.jsonl   its records without a customer (rejected; shard 0's)
///
/// Exports whose rows are about one customer each are split (ExportKind
/// `isSplitByCustomer`); accounts and tickets stay whole, since every shard
/// needs all of the first and a ticket's versions may name several customers.
public enum PartitionLayout {
    public static let format = "customer-health-partition/1"
    static let folder = "_partition"

    static func manifestPath(_ directory: String) -> String { join(directory, folder, "manifest.json") }
    static func rejectsPath(_ directory: String, name: String) -> String {
        join(directory, folder, name + ".rejects.jsonl")
    }
    static func bucketFolder(_ directory: String, bucket: Int) -> String {
        join(directory, String(format: "bucket=%03d", bucket))
    }
    /// Bucket files are gzip whatever the original was.
    static func bucketFileName(_ name: String) -> String { name.lowercased().hasSuffix(".gz") ? name : name + ".gz" }
    static func bucketFile(_ directory: String, bucket: Int, name: String) -> String {
        join(bucketFolder(directory, bucket: bucket), bucketFileName(name))
    }
    static func positionsFile(_ directory: String, bucket: Int, name: String) -> String {
        join(bucketFolder(directory, bucket: bucket), "." + name + ".positions")
    }

    /// SHA-256 of every setting that decides how a row is read and whether
    /// it counts: each export's format and columns, dates, events, the churn
    /// definition, the row limit. Not the input folder, globs or scoring: a
    /// pipeline that reads the partition from elsewhere has the same one.
    static func ingestFingerprint(_ config: PipelineConfig) -> String {
        var parts = ExportKind.allCases.map { kind -> String in
            let s = config.exportSettings(kind)
            return splitFingerprint(s, maxRowBytes: config.maxRowBytes, includeRaw: config.rejectsIncludeRaw)
                + "|timestamps=\(s.timestampFormat)|dates=\(s.dateFormat.map { "\($0)" } ?? "-")"
        }
        parts.append("date_format=\(config.dateFormat)")
        parts.append(
            "events=" + config.events.rules.map { "\($0.pattern)->\($0.treatment)" }.joined(separator: ";")
                + "|other=\(config.events.other)|logins_from_activity=\(config.events.loginsFromActivity)")
        parts.append("churn=\(config.churnDefinition.summary)")
        return Digest.sha256Hex(Data(parts.joined(separator: "\n").utf8))
    }

    private static func join(_ parts: String...) -> String { parts.joined(separator: "/") }

    /// The manifest of `directory`, nil when it holds no partition.
    static func manifest(in directory: String) throws -> PartitionManifest? {
        let path = manifestPath(directory)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let manifest = try? decoder.decode(PartitionManifest.self, from: data), manifest.format == format,
            manifest.buckets == ShardSpec.bucketCount
        else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "is not a partition manifest of this version of customer-health (\(format), \(ShardSpec.bucketCount) buckets): run  customer-health partition PIPELINE  again, or remove \(folder)/ and the bucket=NNN/ folders"
            )
        }
        return manifest
    }

    /// What decides how a file is split: its format settings, the columns
    /// a record needs before it reaches its handler, the longest row, and
    /// whether rejects keep the raw text. Other settings need no new split.
    static func splitFingerprint(_ settings: ExportSettings, maxRowBytes: Int, includeRaw: Bool) -> String {
        let columns = settings.columnNames.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
            separator: ",")
        return [
            "v1", settings.kind.rawValue, "delimiter=\(settings.delimiter)", "columns=\(columns)",
            "required=\(settings.requiredColumns.sorted().joined(separator: ","))", "max_row_bytes=\(maxRowBytes)",
            "include_raw=\(includeRaw)",
        ].joined(separator: "|")
    }
}

/// `_partition/manifest.json`.
struct PartitionManifest: Codable, Sendable {
    var format: String
    var buckets: Int
    /// True when the bucket folders sit next to the exports they split (the
    /// pipeline's own input folder); false when `--output` named another
    /// folder, which then holds links to the files left whole.
    var inPlace: Bool
    /// The ingest settings and accounts the summaries were computed with:
    /// which rows count depends on both (known customers, event names).
    var ingestFingerprint: String
    var accounts: [FileIdentity]
    var files: [Entry]
    /// Files partition could not read, left whole (a run reads them, and
    /// reports or skips them, as it would unsplit).
    var leftWhole: [LeftWhole]

    struct LeftWhole: Codable, Sendable {
        var file: String
        var size: Int
        var mtimeNs: Int64
        var reason: String
    }

    struct FileIdentity: Codable, Equatable, Sendable {
        var file: String
        var size: Int
        var sha256: String
    }

    struct Entry: Codable, Sendable {
        var export: String
        var file: String
        var size: Int
        var sha256: String
        /// The original's modification time when split (ns since the epoch):
        /// with its size, how a run tells that it is still the file split.
        var mtimeNs: Int64
        var split: String
        /// Records written to bucket files, and the buckets that have one.
        var rows: Int
        var buckets: [Int]
        /// Records rejected before their customer could be read (in the
        /// rejects file; counted and reported by shard 0).
        var unplacedRejects: Int
        var summary: GlobalSummary
    }

    func entry(named name: String) -> Entry? { files.first { $0.file == name } }
}

/// A file as partition last saw it: how a later look tells it is unchanged
/// (same size and modification time, as make and rsync tell).
protocol PartitionFileStamp {
    var size: Int { get }
    var mtimeNs: Int64 { get }
}

extension PartitionFileStamp {
    func isUnchanged(_ st: stat) -> Bool { size == Int(st.st_size) && mtimeNs == modifiedNanoseconds(st) }
}

extension PartitionManifest.Entry: PartitionFileStamp {}
extension PartitionManifest.LeftWhole: PartitionFileStamp {}

/// What one file adds to the values that span all customers, which a shard
/// reading only its own buckets cannot see: the first and last activity
/// day, the first day of each event kind and export, and the event counts
/// over every accepted row, by name.
struct GlobalSummary: Codable, Equatable, Sendable {
    var firstActivityDay: Int?
    var lastActivityDay: Int?
    var firstKindDay: [String: Int]
    var firstExportDay: [String: Int]
    var events: [String: Int]
    var productEvents: [String: Int]
    var namedFeatureEvents: [String: Int]

    init(_ acc: IngestAccumulator, registry: ProductEventRegistry) {
        firstActivityDay = acc.earliestActivityDay == Int.max ? nil : acc.earliestActivityDay
        lastActivityDay = acc.latestActivityDay >= 0 ? acc.latestActivityDay : nil
        firstKindDay = [:]
        for k in EventKind.allCases where acc.firstKindDay[Int(k.rawValue)] != Int.max {
            firstKindDay[k.name] = acc.firstKindDay[Int(k.rawValue)]
        }
        firstExportDay = [:]
        for e in ExportKind.allCases where acc.firstExportDay[e.index] != Int.max {
            firstExportDay[e.rawValue] = acc.firstExportDay[e.index]
        }
        events = [:]
        for k in EventKind.allCases where acc.allRowsEventCounts[Int(k.rawValue)] > 0 {
            events[k.name] = acc.allRowsEventCounts[Int(k.rawValue)]
        }
        let names = registry.names
        func byName(_ counts: [Int]) -> [String: Int] {
            var out: [String: Int] = [:]
            for (i, n) in counts.enumerated() where n > 0 && i < names.count { out[names[i]] = n }
            return out
        }
        productEvents = byName(acc.allRowsProductEventCounts)
        namedFeatureEvents = byName(acc.allRowsNamedFeatureCounts)
    }

    /// Adds this file's part to `acc`, whose rows of the file were read
    /// without counting them for all rows.
    func apply(to acc: IngestAccumulator, registry: ProductEventRegistry) {
        if let d = firstActivityDay { acc.earliestActivityDay = min(acc.earliestActivityDay, d) }
        if let d = lastActivityDay { acc.latestActivityDay = max(acc.latestActivityDay, d) }
        for k in EventKind.allCases {
            let i = Int(k.rawValue)
            if let d = firstKindDay[k.name] { acc.firstKindDay[i] = min(acc.firstKindDay[i], d) }
            acc.allRowsEventCounts[i] += events[k.name] ?? 0
        }
        for e in ExportKind.allCases {
            if let d = firstExportDay[e.rawValue] { acc.firstExportDay[e.index] = min(acc.firstExportDay[e.index], d) }
        }
        func add(_ counts: [String: Int], to total: inout [Int]) {
            for (name, n) in counts.sorted(by: { $0.key < $1.key }) {
                guard let id = registry.id(for: name) else { continue }
                if Int(id) >= total.count { total += [Int](repeating: 0, count: Int(id) + 1 - total.count) }
                total[Int(id)] += n
            }
        }
        add(productEvents, to: &acc.allRowsProductEventCounts)
        add(namedFeatureEvents, to: &acc.allRowsNamedFeatureCounts)
    }
}

/// Receives the records of a file being split (`RowOwnership.partition`).
protocol RecordSplitter: AnyObject {
    /// The header record, as written in the file (CSV only).
    func header(_ raw: [UInt8])
    /// A record as written in the file, where it starts there, and its bucket.
    func record(_ raw: [UInt8], line: Int, offset: Int, bucket: Int)
}

/// Where the records of one bucket file were in their original file, from
/// its `.positions` file: per record, LEB128 varints of the differences from
/// the record before in (offset in the bucket file, line, byte offset).
struct PartitionPositions {
    private var bucketOffsets: [Int] = []
    private var lines: [Int] = []
    private var offsets: [Int] = []

    init(path: String, name: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "cannot be read: the partition of \(name) is incomplete; run  customer-health partition PIPELINE  again"
            )
        }
        var values = [0, 0, 0]
        var k = 0
        var value = 0
        var shift = 0
        for byte in data {
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 != 0 {
                shift += 7
                guard shift < 63 else { break }
                continue
            }
            values[k] += value
            value = 0
            shift = 0
            k += 1
            if k == 3 {
                bucketOffsets.append(values[0])
                lines.append(values[1])
                offsets.append(values[2])
                k = 0
            }
        }
        guard k == 0 && shift == 0 else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "is cut short: the partition of \(name) is incomplete; run  customer-health partition PIPELINE  again"
            )
        }
    }

    /// The line and byte offset in the original of a record starting at
    /// `offset` in the bucket file (a position inside it keeps its distance).
    func original(offset: Int) -> (line: Int, offset: Int) {
        var lo = 0
        var hi = bucketOffsets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bucketOffsets[mid] <= offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return (0, offset) }
        return (lines[lo - 1], offsets[lo - 1] + offset - bucketOffsets[lo - 1])
    }

    /// Appends a record's varints to `out`.
    static func append(bucketOffsetDelta: Int, lineDelta: Int, offsetDelta: Int, to out: inout [UInt8]) {
        for var v in [bucketOffsetDelta, lineDelta, offsetDelta] {
            while v >= 0x80 {
                out.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
    }
}
