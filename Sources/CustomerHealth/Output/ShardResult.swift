import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The result of one shard of a sharded run, as `merge` reads it back:
/// DIR/shard-K-of-N/ holding
/// - shard.json: what every shard must agree on (`agreed`: pipeline, as-of
///   day, history, inputs and checksums, churn model) and this shard's own
///   counts (`counts`: rows per file, events), which the merge adds up;
/// - snapshots.bin: its customers' snapshots (SnapshotCodec), exact to the bit;
/// - rejects.jsonl: the rejected rows it owns;
/// - _SUCCESS, written last: each file's size and SHA-256.
/// The folder is written under a temporary name and renamed into place, so
/// it is there complete or not at all; a shard run twice leaves one result.
public enum ShardResult {
    public static let format = "customer-health-shard/1"
    static let dataFiles = ["rejects.jsonl", "shard.json", "snapshots.bin"]

    // MARK: Writing

    /// Writes the result of `spec` under `directory` and returns its folder.
    static func write(directory: String, spec: ShardSpec, header: JSONValue, files: [(String, OutputContent)]) throws
        -> String
    {
        let folder = try AtomicResultFolder(directory: directory, name: spec.folderName)
        defer { folder.abandon() }
        let all = files + [("shard.json", .bytes(Data((header.serialized(pretty: true) + "\n").utf8)))]
        for (name, content) in all {
            let writer = try OutputFileWriter(path: folder.path(name))
            switch content {
            case .bytes(let data): try writer.write(bytes: Array(data))
            case .stream(let produce): try produce(writer)
            }
            try writer.close()
        }
        return try folder.finish(format: format, files: all.map(\.0))
    }

    // MARK: Reading

    /// A shard result read back and checked against its _SUCCESS listing.
    struct Loaded {
        var spec: ShardSpec
        var folder: String
        /// shard.json's `agreed` object, as parsed (compared across shards).
        var agreed: [String: Any]
        var counts: [String: Any]
        var snapshotsPath: String
        var rejects: [RejectRecord]

        var snapshotCount: Int { counts["snapshots"] as? Int ?? 0 }
    }

    /// The shard results in `directory`: every one of 0..<count present and
    /// complete. `count` nil: the count the folders' names give (one only).
    static func loadAll(directory: String, count: Int?) throws -> [Loaded] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw CustomerHealthError.input(
                file: directory,
                message: "no such folder: --shards must name the folder the shards wrote to (their --shard-output)")
        }
        let found = AtomicResultFolder.scan(directory: directory, prefix: ShardSpec.folderPrefix)
        let n: Int
        if let count {
            n = count
        } else {
            guard !found.isEmpty else {
                throw CustomerHealthError.input(
                    file: directory,
                    message:
                        "holds no shard result (shard-K-of-N folders): run the shards first, each with  customer-health run PIPELINE --shard K/N --shard-output \(directory)"
                )
            }
            guard found.count == 1 else {
                let counts = found.keys.sorted().map(String.init).joined(separator: ", ")
                throw CustomerHealthError.input(
                    file: directory,
                    message:
                        "holds results of runs with different shard counts (\(counts)); pass --shard-count N to merge those of N shards, or give each run its own folder"
                )
            }
            n = found.keys.first!
        }
        guard n >= 1 && n <= ShardSpec.bucketCount else {
            throw CustomerHealthError.input(
                file: directory, message: "a shard count of \(n) is outside 1-\(ShardSpec.bucketCount)")
        }
        var loaded: [Loaded] = []
        var missing: [Int] = []
        for k in 0..<n where !(found[n]?.contains(k) ?? false) { missing.append(k) }
        if !missing.isEmpty {
            let running = AtomicResultFolder.temporaries(
                directory: directory, prefix: ShardSpec.folderPrefix, missing: missing, count: n)
            let list = missing.prefix(10).map(String.init).joined(separator: ", ") + (missing.count > 10 ? ", ..." : "")
            throw CustomerHealthError.input(
                file: directory,
                message: "\(missing.count) of \(n) shard results are missing (shard \(list)): nothing was published. "
                    + (running.isEmpty
                        ? "Those shards failed or have not run; run each with  --shard K/\(n)  and merge again"
                        : "Some are being written or were killed (\(running.prefix(3).joined(separator: ", "))); wait for them, or run them again, and merge again")
            )
        }
        for k in 0..<n {
            let spec = try ShardSpec(index: k, count: n)
            loaded.append(try load(folder: (directory as NSString).appendingPathComponent(spec.folderName), spec: spec))
        }
        return loaded
    }

    private static func load(folder: String, spec: ShardSpec) throws -> Loaded {
        func fail(_ message: String) -> CustomerHealthError { .input(file: folder, message: message) }
        try AtomicResultFolder.verify(
            folder: folder, format: format, required: dataFiles, rerun: "run shard \(spec) again",
            outcome: "nothing was published")
        let headerPath = (folder as NSString).appendingPathComponent("shard.json")
        guard
            let header =
                (try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: headerPath) ?? Data()))
                as? [String: Any],
            header["format"] as? String == format,
            let shard = header["shard"] as? [String: Any], let agreed = header["agreed"] as? [String: Any],
            let counts = header["counts"] as? [String: Any]
        else {
            throw fail(
                "shard.json is not a shard result of this version of customer-health (\(format)); run shard \(spec) again"
            )
        }
        guard shard["index"] as? Int == spec.index, shard["count"] as? Int == spec.count else {
            throw fail(
                "shard.json says it is shard \(shard["index"] ?? "?")/\(shard["count"] ?? "?"), not \(spec): the folder was renamed; run shard \(spec) again"
            )
        }
        let rejects = try RejectRecord.readLines(path: (folder as NSString).appendingPathComponent("rejects.jsonl"))
        return Loaded(
            spec: spec, folder: folder, agreed: agreed, counts: counts,
            snapshotsPath: (folder as NSString).appendingPathComponent("snapshots.bin"), rejects: rejects)
    }
}
