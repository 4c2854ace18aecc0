import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A result folder that appears whole or not at all, as ShardResult writes
/// run shards' results: written under `.NAME.tmp.HOST.PID`, a `_SUCCESS`
/// listing each file's size and SHA-256 written last, then renamed into
/// place. A folder already there with the same listing is kept (the same
/// part built twice at once); a different one is replaced. Temporaries of
/// dead processes on this host, and any a day old, are removed first.
final class AtomicResultFolder {
    let directory: String
    let name: String
    let temporary: String
    private var finished = false

    init(directory: String, name: String) throws {
        self.directory = directory
        self.name = name
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CustomerHealthError.output(
                path: directory, message: "cannot create the folder: \(error.localizedDescription)")
        }
        let host = AtomicResultFolder.hostName
        AtomicResultFolder.removeAbandonedTemporaries(directory: directory, name: name, host: host)
        temporary = (directory as NSString).appendingPathComponent(".\(name).tmp.\(host).\(getpid())")
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        } catch {
            throw CustomerHealthError.output(
                path: temporary, message: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    func path(_ file: String) -> String { (temporary as NSString).appendingPathComponent(file) }

    /// Writes the marker listing `files` and renames the folder into place; returns its path.
    func finish(format: String, files: [String]) throws -> String {
        var listing: [(String, JSONValue)] = []
        for file in files.sorted() {
            let (size, sha) = try AtomicResultFolder.checksum(path(file))
            listing.append((file, .object([("size", .int(size)), ("sha256", .string(sha))])))
        }
        let marker = JSONValue.object([("format", .string(format)), ("files", .object(listing))])
        try AtomicFile.writeContents(marker.serialized(pretty: true) + "\n", to: path("_SUCCESS"))
        AtomicFile.fsyncDirectory(temporary)
        let final = (directory as NSString).appendingPathComponent(name)
        try install(at: final)
        AtomicFile.fsyncDirectory(directory)
        finished = true
        return final
    }

    func abandon() {
        if !finished { try? FileManager.default.removeItem(atPath: temporary) }
    }

    private func install(at final: String) throws {
        if rename(temporary, final) == 0 { return }
        let code = errno
        guard code == ENOTEMPTY || code == EEXIST else {
            throw CustomerHealthError.output(
                path: final, message: "cannot rename the result into place: \(IOFailure.describe(code))")
        }
        let ours = FileManager.default.contents(atPath: path("_SUCCESS"))
        let theirs = FileManager.default.contents(atPath: (final as NSString).appendingPathComponent("_SUCCESS"))
        if ours == theirs {
            try? FileManager.default.removeItem(atPath: temporary)
            return
        }
        let old = final + ".old.\(getpid())"
        guard rename(final, old) == 0 else {
            throw CustomerHealthError.output(
                path: final, message: "cannot move the previous result aside: \(IOFailure.describe(errno))")
        }
        guard rename(temporary, final) == 0 else {
            throw CustomerHealthError.output(
                path: final, message: "cannot rename the result into place: \(IOFailure.describe(errno))")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    /// The finished folders named `PREFIX<K>-of-<N>` in `directory`: the
    /// indexes K found for each count N.
    static func scan(directory: String, prefix: String) -> [Int: Set<Int>] {
        var found: [Int: Set<Int>] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where entry.hasPrefix(prefix) {
            let parts = entry.dropFirst(prefix.count).split(separator: "-")
            guard parts.count == 3, parts[1] == "of", let k = Int(parts[0]), let n = Int(parts[2]) else { continue }
            found[n, default: []].insert(k)
        }
        return found
    }

    /// The temporaries of the `missing` folders of count `count`: folders
    /// being written, or left by a killed run.
    static func temporaries(directory: String, prefix: String, missing: [Int], count: Int) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { e in
            missing.contains { e.hasPrefix(".\(prefix)\($0)-of-\(count).tmp.") }
        }.sorted()
    }

    /// This machine's name (a pod's name on Kubernetes), without any DNS lookup.
    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty
            ? "localhost" : name.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_")
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
        return (size, Digest.hex(hasher.finalize()))
    }

    private static func removeAbandonedTemporaries(directory: String, name: String, host: String) {
        let prefix = ".\(name).tmp."
        let oldPrefix = "\(name).old."
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = (directory as NSString).appendingPathComponent(entry)
            if entry.hasPrefix(oldPrefix), let pid = Int32(entry.dropFirst(oldPrefix.count)),
                !AtomicFile.processExists(pid)
            {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            guard entry.hasPrefix(prefix) else { continue }
            let rest = entry.dropFirst(prefix.count)
            if let dot = rest.lastIndex(of: "."), rest[..<dot] == host, let pid = Int32(rest[rest.index(after: dot)...])
            {
                if !AtomicFile.processExists(pid) { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                Date().timeIntervalSince(modified) > 86_400
            {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    /// Checks a finished folder against its marker: the format, every
    /// `required` file listed, and every listed file's size and SHA-256.
    /// `outcome` ends each message: what did not happen because of it.
    static func verify(
        folder: String, format: String, required: [String], rerun: String, outcome: String = "nothing was written"
    ) throws {
        func fail(_ message: String) -> CustomerHealthError { .input(file: folder, message: message + "; \(outcome)") }
        let markerPath = (folder as NSString).appendingPathComponent("_SUCCESS")
        guard let data = FileManager.default.contents(atPath: markerPath),
            let listing = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            listing["format"] as? String == format, let files = listing["files"] as? [String: Any]
        else {
            throw fail("is not complete (no readable _SUCCESS); \(rerun)")
        }
        for name in required where files[name] == nil { throw fail("_SUCCESS does not list \(name); \(rerun)") }
        for (name, value) in files.sorted(by: { $0.key < $1.key }) {
            guard let entry = value as? [String: Any], let size = entry["size"] as? Int,
                let sha = entry["sha256"] as? String
            else {
                throw fail("_SUCCESS does not list the size and SHA-256 of \(name); \(rerun)")
            }
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else { throw fail("\(name) is missing; \(rerun)") }
            let (actualSize, actualSHA) = try AtomicResultFolder.checksum(path)
            guard actualSize == size, actualSHA == sha else {
                throw fail(
                    "\(name) differs from what _SUCCESS lists (\(actualSize) bytes, expected \(size)): it was altered or cut short; \(rerun)"
                )
            }
        }
    }
}
