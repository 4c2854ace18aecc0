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
    public static let marker = "_SUCCESS"
    static let dataFiles = ["rejects.jsonl", "shard.json", "snapshots.bin"]

    // MARK: Writing

    /// Writes the result of `spec` under `directory` and returns its folder.
    static func write(directory: String, spec: ShardSpec, header: JSONValue, files: [(String, OutputContent)]) throws -> String {
        try makeDirectory(directory)
        let final = (directory as NSString).appendingPathComponent(spec.folderName)
        removeAbandonedTemporaries(directory: directory, spec: spec)
        let host = hostName
        let tmp = (directory as NSString).appendingPathComponent(".\(spec.folderName).tmp.\(host).\(getpid())")
        try? FileManager.default.removeItem(atPath: tmp)
        try makeDirectory(tmp)
        var listing: [(String, JSONValue)] = []
        do {
            let all = files + [("shard.json", .bytes(Data((header.serialized(pretty: true) + "\n").utf8)))]
            for (name, content) in all.sorted(by: { $0.0 < $1.0 }) {
                let path = (tmp as NSString).appendingPathComponent(name)
                let writer = try OutputFileWriter(path: path)
                switch content {
                case .bytes(let data): try writer.write(bytes: Array(data))
                case .stream(let produce): try produce(writer)
                }
                try writer.close()
                let (size, sha) = try checksum(path)
                listing.append((name, .object([("size", .int(size)), ("sha256", .string(sha))])))
            }
            let marker = JSONValue.object([("format", .string(format)), ("files", .object(listing))])
            let writer = try OutputFileWriter(path: (tmp as NSString).appendingPathComponent(ShardResult.marker))
            try writer.write(marker.serialized(pretty: true) + "\n")
            try writer.close()
            AtomicFile.fsyncDirectory(tmp)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        try install(tmp, at: final)
        AtomicFile.fsyncDirectory(directory)
        return final
    }

    /// Renames the finished folder into place. When a result is already
    /// there (the same shard ran twice: a retried pod, a second pod for one
    /// index), an identical one is kept as it is, and a different one (older
    /// inputs) is replaced.
    private static func install(_ tmp: String, at final: String) throws {
        if rename(tmp, final) == 0 { return }
        let code = errno
        guard code == ENOTEMPTY || code == EEXIST else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CustomerHealthError.output(path: final, message: "cannot rename the shard result into place: \(IOFailure.describe(code))")
        }
        let ours = FileManager.default.contents(atPath: (tmp as NSString).appendingPathComponent(marker))
        let theirs = FileManager.default.contents(atPath: (final as NSString).appendingPathComponent(marker))
        if ours == theirs {
            try? FileManager.default.removeItem(atPath: tmp)
            return
        }
        let old = final + ".old.\(getpid())"
        guard rename(final, old) == 0 else {
            let reason = IOFailure.describe(errno)
            try? FileManager.default.removeItem(atPath: tmp)
            throw CustomerHealthError.output(path: final, message: "cannot move the previous shard result aside: \(reason)")
        }
        guard rename(tmp, final) == 0 else {
            let reason = IOFailure.describe(errno)
            try? FileManager.default.removeItem(atPath: tmp)
            throw CustomerHealthError.output(path: final, message: "cannot rename the shard result into place: \(reason)")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    /// Temporary folders of this shard left by a killed run: those of dead
    /// processes on this host, and any a day old (another host's pod).
    private static func removeAbandonedTemporaries(directory: String, spec: ShardSpec) {
        let host = hostName
        let prefix = ".\(spec.folderName).tmp."
        let oldPrefix = "\(spec.folderName).old."
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = (directory as NSString).appendingPathComponent(entry)
            if entry.hasPrefix(oldPrefix), let pid = Int32(entry.dropFirst(oldPrefix.count)), !AtomicFile.processExists(pid) {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            guard entry.hasPrefix(prefix) else { continue }
            let rest = entry.dropFirst(prefix.count)
            if let dot = rest.lastIndex(of: "."), rest[..<dot] == host, let pid = Int32(rest[rest.index(after: dot)...]) {
                if !AtomicFile.processExists(pid) { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                Date().timeIntervalSince(modified) > 86_400 {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    /// This machine's name (a pod's name on Kubernetes), without any DNS lookup.
    private static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_")
    }

    private static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CustomerHealthError.output(path: path, message: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    /// Size and SHA-256 of a file, read in blocks.
    static func checksum(_ path: String) throws -> (Int, String) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
            hasher.update(data: block)
            size += block.count
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
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
            throw CustomerHealthError.input(file: directory,
                message: "no such folder: --shards must name the folder the shards wrote to (their --shard-output)")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found: [Int: Set<Int>] = [:]
        for entry in entries {
            let parts = entry.split(separator: "-")
            guard parts.count == 4, parts[0] == "shard", parts[2] == "of", let k = Int(parts[1]), let n = Int(parts[3]) else { continue }
            found[n, default: []].insert(k)
        }
        let n: Int
        if let count {
            n = count
        } else {
            guard !found.isEmpty else {
                throw CustomerHealthError.input(file: directory,
                    message: "holds no shard result (shard-K-of-N folders): run the shards first, each with  customer-health run PIPELINE --shard K/N --shard-output \(directory)")
            }
            guard found.count == 1 else {
                let counts = found.keys.sorted().map(String.init).joined(separator: ", ")
                throw CustomerHealthError.input(file: directory,
                    message: "holds results of runs with different shard counts (\(counts)); pass --shard-count N to merge those of N shards, or give each run its own folder")
            }
            n = found.keys.first!
        }
        guard n >= 1 && n <= ShardSpec.bucketCount else {
            throw CustomerHealthError.input(file: directory, message: "a shard count of \(n) is outside 1-\(ShardSpec.bucketCount)")
        }
        var loaded: [Loaded] = []
        var missing: [Int] = []
        for k in 0..<n where !(found[n]?.contains(k) ?? false) { missing.append(k) }
        if !missing.isEmpty {
            let running = entries.filter { e in missing.contains { e.hasPrefix(".shard-\($0)-of-\(n).tmp.") } }
            let list = missing.prefix(10).map(String.init).joined(separator: ", ") + (missing.count > 10 ? ", ..." : "")
            throw CustomerHealthError.input(file: directory,
                message: "\(missing.count) of \(n) shard results are missing (shard \(list)): nothing was published. "
                    + (running.isEmpty ? "Those shards failed or have not run; run each with  --shard K/\(n)  and merge again"
                        : "Some are being written or were killed (\(running.prefix(3).joined(separator: ", "))); wait for them, or run them again, and merge again"))
        }
        for k in 0..<n {
            let spec = try ShardSpec(index: k, count: n)
            loaded.append(try load(folder: (directory as NSString).appendingPathComponent(spec.folderName), spec: spec))
        }
        return loaded
    }

    private static func load(folder: String, spec: ShardSpec) throws -> Loaded {
        func fail(_ message: String) -> CustomerHealthError { .input(file: folder, message: message) }
        let markerPath = (folder as NSString).appendingPathComponent(marker)
        guard let markerData = FileManager.default.contents(atPath: markerPath),
            let listing = (try? JSONSerialization.jsonObject(with: markerData)) as? [String: Any],
            listing["format"] as? String == format, let files = listing["files"] as? [String: Any]
        else {
            throw fail("is not a complete shard result (no readable \(marker)); run shard \(spec) again")
        }
        for name in dataFiles {
            guard let entry = files[name] as? [String: Any], let size = entry["size"] as? Int, let sha = entry["sha256"] as? String else {
                throw fail("\(marker) does not list \(name); run shard \(spec) again")
            }
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else { throw fail("\(name) is missing; run shard \(spec) again") }
            let (actualSize, actualSHA) = try checksum(path)
            guard actualSize == size, actualSHA == sha else {
                throw fail("\(name) differs from what \(marker) lists (\(actualSize) bytes, expected \(size)): it was altered or cut short; run shard \(spec) again")
            }
        }
        let headerPath = (folder as NSString).appendingPathComponent("shard.json")
        guard let header = (try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: headerPath) ?? Data())) as? [String: Any],
            header["format"] as? String == format,
            let shard = header["shard"] as? [String: Any], let agreed = header["agreed"] as? [String: Any],
            let counts = header["counts"] as? [String: Any]
        else {
            throw fail("shard.json is not a shard result of this version of customer-health (\(format)); run shard \(spec) again")
        }
        guard shard["index"] as? Int == spec.index, shard["count"] as? Int == spec.count else {
            throw fail("shard.json says it is shard \(shard["index"] ?? "?")/\(shard["count"] ?? "?"), not \(spec): the folder was renamed; run shard \(spec) again")
        }
        let rejects = try readRejects((folder as NSString).appendingPathComponent("rejects.jsonl"))
        return Loaded(spec: spec, folder: folder, agreed: agreed, counts: counts,
            snapshotsPath: (folder as NSString).appendingPathComponent("snapshots.bin"), rejects: rejects)
    }

    private struct RejectLine: Decodable {
        var file: String
        var line: Int
        var byte_offset: Int
        var column: String?
        var code: String
        var reason: String
        var raw: String?
    }

    private static func readRejects(_ path: String) throws -> [RejectRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        var out: [RejectRecord] = []
        var number = 0
        for line in data.split(separator: 0x0A) {
            number += 1
            guard let r = try? decoder.decode(RejectLine.self, from: Data(line)) else {
                throw CustomerHealthError.features(file: path, line: number, message: "not a rejects line written by customer-health")
            }
            out.append(RejectRecord(file: r.file, line: r.line, byteOffset: r.byte_offset, column: r.column, code: r.code, reason: r.reason, raw: r.raw))
        }
        return out
    }
}
