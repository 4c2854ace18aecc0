import CustomerHealth
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A read-only memory map of a file. The run folders a server reads are never
/// modified after they are published, only deleted; a mapping stays valid
/// after the file is unlinked, so a run that is replaced while loaded keeps
/// answering until the last request that holds it is done.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int

    init(fd: Int32, path: String) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ServeError.runUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ServeError.runUnreadable(path: path, reason: "cannot be mapped: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) } }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// Why a run could not be loaded or served.
public enum ServeError: Error, CustomStringConvertible, Sendable {
    case noRun(outputDirectory: String)
    case runUnreadable(path: String, reason: String)
    case runInvalid(path: String, line: Int?, reason: String)
    case settings(String)
    case cannotListen(address: String, reason: String)

    public var description: String {
        switch self {
        case .noRun(let dir):
            return "\(dir): no complete run yet (no latest link); run `customer-health run PIPELINE` first"
        case .runUnreadable(let path, let reason):
            return "\(path): \(reason)"
        case .runInvalid(let path, let line, let reason):
            return "\(path)\(line.map { ": line \($0)" } ?? ""): \(reason)"
        case .settings(let message):
            return message
        case .cannotListen(let address, let reason):
            return "cannot listen on \(address): \(reason); pick another --port or --host"
        }
    }
}

/// One entry of at-risk.json: its priority (for the filter) and its JSON text.
struct AtRiskEntry: Sendable {
    let customerID: String
    let priority: String
    let json: [UInt8]
}

/// One complete run, loaded for serving: kpis.json as written, an index of
/// scores.jsonl by customer id into a map of the file, and the at-risk list
/// split into entries. Immutable: a request holds one ServedRun from start
/// to end, so it never mixes two runs.
public final class ServedRun: Sendable {
    /// The run folder's own name under OUTPUT/.runs (date and a unique suffix).
    public let runID: String
    public let folder: String
    public let asOf: String
    /// When the run was published (the run folder's modification time).
    public let publishedAt: Date
    let kpis: [UInt8]
    let scores: MappedFile
    let scoreLines: [String: Range<Int>]
    let atRisk: [AtRiskEntry]

    public var customerCount: Int { scoreLines.count }
    public var atRiskCount: Int { atRisk.count }

    /// The folder OUTPUT/latest points at now, resolved to its real path.
    static func latestFolder(outputDirectory: String) -> String? {
        let link = (outputDirectory as NSString).appendingPathComponent("latest")
        guard let resolved = realpath(link, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Loads the run in `folder`. All three files are opened before any is
    /// read, relative to the folder's descriptor: a run deleted meanwhile
    /// fails to open as a whole instead of loading half.
    init(folder: String) throws {
        self.folder = folder
        runID = (folder as NSString).lastPathComponent
        let dirFD = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw ServeError.runUnreadable(path: folder, reason: String(cString: strerror(errno))) }
        defer { close(dirFD) }
        var st = stat()
        fstat(dirFD, &st)
        publishedAt = Date(timeIntervalSince1970: modifiedSeconds(st))
        var fds: [String: Int32] = [:]
        defer { for fd in fds.values { close(fd) } }
        for name in ["kpis.json", "scores.jsonl", "at-risk.json"] {
            let fd = openat(dirFD, name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ServeError.runUnreadable(
                    path: (folder as NSString).appendingPathComponent(name), reason: String(cString: strerror(errno)))
            }
            fds[name] = fd
        }
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

        kpis = try Self.readAll(fds["kpis.json"]!, path: path("kpis.json"))
        guard let kpiObject = (try? JSONSerialization.jsonObject(with: Data(kpis))) as? [String: Any],
            let asOf = kpiObject["as_of"] as? String
        else {
            throw ServeError.runInvalid(
                path: path("kpis.json"), line: nil, reason: "is not a KPI object with an as_of date")
        }
        self.asOf = asOf

        scores = try MappedFile(fd: fds["scores.jsonl"]!, path: path("scores.jsonl"))
        scoreLines = try Self.indexScores(scores.bytes, path: path("scores.jsonl"))

        atRisk = try Self.splitAtRisk(
            try Self.readAll(fds["at-risk.json"]!, path: path("at-risk.json")), path: path("at-risk.json"))
    }

    static func readAll(_ fd: Int32, path: String) throws -> [UInt8] {
        do {
            return Array(try FileHandle(fileDescriptor: fd, closeOnDealloc: false).readToEnd() ?? Data())
        } catch {
            throw ServeError.runUnreadable(path: path, reason: "\(error)")
        }
    }

    /// Maps each customer id to its line (without the newline). Lines start
    /// with `{"customer_id": "`, as the run writes them; any other line, or an
    /// id with escapes, is read with a JSON parser instead.
    static func indexScores(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [String: Range<Int>] {
        let prefix = Array(#"{"customer_id": ""#.utf8)
        var index: [String: Range<Int>] = [:]
        if bytes.count > 0 && bytes[bytes.count - 1] != 0x0A {
            let lines = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } + 1
            throw ServeError.runInvalid(path: path, line: lines, reason: "is cut off: its last line has no newline")
        }
        var start = 0
        var line = 0
        while start < bytes.count {
            line += 1
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            defer { start = end + 1 }
            if end == start { continue }
            var id: String? = nil
            if end - start > prefix.count && bytes[start..<(start + prefix.count)].elementsEqual(prefix) {
                var q = start + prefix.count
                while q < end && bytes[q] != JSONBytes.quote && bytes[q] != JSONBytes.backslash { q += 1 }
                if q < end && bytes[q] == JSONBytes.quote {
                    id = String(
                        decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + prefix.count)..<q]), as: UTF8.self)
                }
            }
            if id == nil {
                let data = Data(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                id = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["customer_id"] as? String
            }
            guard let id else {
                throw ServeError.runInvalid(path: path, line: line, reason: "is not a score line with a customer_id")
            }
            if index.updateValue(start..<end, forKey: id) != nil {
                throw ServeError.runInvalid(path: path, line: line, reason: "customer \(id) appears twice")
            }
        }
        return index
    }

    /// Splits at-risk.json into its entries, parsing one entry at a time (a
    /// whole-file parse of a 20 MB list would briefly take several times that).
    static func splitAtRisk(_ bytes: [UInt8], path: String) throws -> [AtRiskEntry] {
        func invalid(_ reason: String) -> ServeError { .runInvalid(path: path, line: nil, reason: reason) }
        guard let ranges = JSONBytes.arrayElements(ofKey: "customers", in: bytes) else {
            throw invalid("is not an at-risk list (an object with a customers array)")
        }
        var entries: [AtRiskEntry] = []
        entries.reserveCapacity(ranges.count)
        for (i, range) in ranges.enumerated() {
            let json = JSONBytes.compact(bytes[range])
            guard let entry = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any],
                let priority = entry["intervention_priority"] as? String
            else {
                throw invalid("entry \(i + 1) of customers is not an object with an intervention_priority")
            }
            entries.append(
                AtRiskEntry(customerID: entry["customer_id"] as? String ?? "", priority: priority, json: json))
        }
        return entries
    }

    /// The score line of a customer, matched exactly by id.
    func scoreLine(_ customerID: String) -> UnsafeRawBufferPointer? {
        guard let range = scoreLines[customerID] else { return nil }
        return UnsafeRawBufferPointer(rebasing: scores.bytes[range])
    }
}
