import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Publishes a run's files atomically under OUTPUT/.
///
/// Files are written into a new folder OUTPUT/.runs/<date>.<unique>/ and
/// fsynced; then the symlink OUTPUT/<date> is replaced by rename(2), which is
/// atomic: a reader sees the old run or the new one, never a mix, and a run
/// killed at any point leaves the previous outputs intact. OUTPUT/latest points
/// at the newest date that has a complete run. An exclusive flock(2) on
/// OUTPUT/.lock keeps two runs from interleaving.
public final class RunPublisher {
    public let outputDirectory: String
    private var lockFD: Int32 = -1

    public init(outputDirectory: String) {
        self.outputDirectory = outputDirectory
    }

    deinit { unlock() }

    /// Takes the output folder's lock, waiting up to `waitSeconds`.
    public func lock(waitSeconds: Double) throws {
        try makeDirectory(outputDirectory)
        try makeDirectory(runsDirectory)
        let path = (outputDirectory as NSString).appendingPathComponent(".lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(
                path: path, message: "cannot create the lock file: \(IOFailure.describe(errno))")
        }
        let deadline = Date().addingTimeInterval(waitSeconds)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if Date() >= deadline {
                close(fd)
                let holder =
                    (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? ""
                throw CustomerHealthError.output(
                    path: outputDirectory,
                    message:
                        "another customer-health run is writing here\(holder.isEmpty ? "" : " (\(holder))"); it holds \(path). Wait for it to finish, or pass --lock-wait SECONDS to wait"
                )
            }
            usleep(100_000)
        }
        lockFD = fd
        let note = "pid \(getpid()) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        removeWhatDeadRunsLeft()
    }

    public func unlock() {
        if lockFD >= 0 {
            _ = ftruncate(lockFD, 0)
            close(lockFD)
            lockFD = -1
        }
    }

    var runsDirectory: String { (outputDirectory as NSString).appendingPathComponent(".runs") }

    /// What a run killed while publishing leaves, removed by the next one
    /// (which holds the lock, so no run of its own is half-way): new links not
    /// yet renamed into place (`<date>.link.<pid>`, `latest.link.<pid>`),
    /// temporaries of standalone files whose writer is gone, and run folders
    /// under .runs that no link points to.
    private func removeWhatDeadRunsLeft() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? [] {
            let path = (outputDirectory as NSString).appendingPathComponent(entry)
            if Self.isNewLink(entry) {
                var st = stat()
                if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK { unlink(path) }
            } else if entry.hasSuffix(".tmp"), let dot = entry.dropLast(4).lastIndex(of: ".") {
                AtomicFile.removeStaleTemporaries(
                    of: (outputDirectory as NSString).appendingPathComponent(String(entry[..<dot])))
            }
        }
        cleanAbandonedRuns()
    }

    /// `<name>.link.<pid>`: a link made by `replaceLink` before its rename.
    static func isNewLink(_ entry: String) -> Bool {
        guard let r = entry.range(of: ".link.", options: .backwards) else { return false }
        let pid = entry[r.upperBound...]
        return !pid.isEmpty && pid.allSatisfy(\.isASCII) && pid.allSatisfy(\.isNumber)
    }

    /// Folders under .runs that no date link points to: left by killed runs or replaced runs.
    private func cleanAbandonedRuns() {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: runsDirectory) else { return }
        var referenced: Set<String> = []
        for entry in (try? fm.contentsOfDirectory(atPath: outputDirectory)) ?? [] where !Self.isNewLink(entry) {
            let p = (outputDirectory as NSString).appendingPathComponent(entry)
            if let dest = try? fm.destinationOfSymbolicLink(atPath: p) {
                referenced.insert((dest as NSString).lastPathComponent)
            }
        }
        for name in names where !referenced.contains(name) {
            try? fm.removeItem(atPath: (runsDirectory as NSString).appendingPathComponent(name))
        }
    }

    /// Writes `files` as the complete run for `name` (a date) and publishes it.
    /// Large files are streamed to disk as they are rendered, so a run with
    /// 100,000 customers never holds its scores.jsonl in memory.
    /// `partial`: the folder holds only some of the data files (`replay
    /// --outputs`); it is marked so (`.partial`) and never becomes `latest`.
    public func publish(name: String, files: [(String, OutputContent)], partial: Bool = false) throws -> String {
        let unique = "\(name).\(getpid()).\(UInt64(Date().timeIntervalSince1970 * 1_000_000))"
        let runDir = (runsDirectory as NSString).appendingPathComponent(unique)
        try makeDirectory(runDir)
        do {
            for (file, content) in files {
                let path = (runDir as NSString).appendingPathComponent(file)
                switch content {
                case .bytes(let data): try writeDurably(data, to: path)
                case .stream(let produce):
                    let writer = try OutputFileWriter(path: path)
                    try produce(writer)
                    try writer.close()
                }
            }
        } catch {
            // A full disk, say: give the space back now, not at the next run.
            try? FileManager.default.removeItem(atPath: runDir)
            throw error
        }
        if partial {
            try writeDurably(Data(), to: (runDir as NSString).appendingPathComponent(RunPublisher.partialMarker))
        }
        AtomicFile.fsyncDirectory(runDir)
        AtomicFile.fsyncDirectory(runsDirectory)
        try replaceLink(named: name, target: ".runs/\(unique)")
        try updateLatest()
        AtomicFile.fsyncDirectory(outputDirectory)
        cleanAbandonedRuns()
        return (outputDirectory as NSString).appendingPathComponent(name)
    }

    /// Writes one file outside any run (a rejects report of a run that failed), atomically.
    public func writeStandalone(name: String, data: Data) throws -> String {
        try makeDirectory(outputDirectory)
        let path = (outputDirectory as NSString).appendingPathComponent(name)
        try AtomicFile.write(data, to: path)
        return path
    }

    private func replaceLink(named name: String, target: String) throws {
        let linkPath = (outputDirectory as NSString).appendingPathComponent(name)
        var st = stat()
        if lstat(linkPath, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw CustomerHealthError.output(
                path: linkPath, message: "is a real folder, not a link made by customer-health; move it away first")
        }
        let tmp = linkPath + ".link.\(getpid())"
        unlink(tmp)
        guard symlink(target, tmp) == 0 else {
            throw CustomerHealthError.output(path: tmp, message: "cannot create a link: \(IOFailure.describe(errno))")
        }
        guard rename(tmp, linkPath) == 0 else {
            unlink(tmp)
            throw CustomerHealthError.output(
                path: linkPath, message: "cannot publish the run: \(IOFailure.describe(errno))")
        }
    }

    /// Points `latest` at the newest date folder, which is not always the one
    /// just written (a replay of an old date must not move it backwards).
    static let partialMarker = ".partial"

    private func updateLatest() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? []
        let dates = names.filter {
            CalendarDay($0) != nil
                && access(
                    (outputDirectory as NSString).appendingPathComponent($0 + "/" + RunPublisher.partialMarker), F_OK)
                    != 0
        }.sorted()
        guard let newest = dates.last else { return }
        try replaceLink(named: "latest", target: newest)
    }

    private func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CustomerHealthError.output(
                path: path, message: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    private func writeDurably(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(path: path, message: "cannot create: \(IOFailure.describe(errno))")
        }
        defer { close(fd) }
        try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        guard fsync(fd) == 0 else {
            throw CustomerHealthError.output(path: path, message: "fsync failed: \(IOFailure.describe(errno))")
        }
    }
}

/// What one output file holds: bytes, or a function that writes it line by line.
public enum OutputContent {
    case bytes(Data)
    case stream((OutputFileWriter) throws -> Void)
}

/// A file written through a 1 MiB buffer, fsynced on close.
public final class OutputFileWriter {
    private let fd: Int32
    private let path: String
    /// The run folder being written: a later file may read the earlier ones.
    public var folder: String { (path as NSString).deletingLastPathComponent }
    private var buffer: [UInt8] = []
    private var closed = false
    /// The gzip level of compressed outputs (`replay --gzip`): fast, since
    /// a replay writes hundreds of MB a date.
    public static let gzipLevel = 1
    /// Set before writing: the file is gzip, one member per buffer written
    /// (or per `write(member:)`, for members compressed elsewhere).
    public var compressesMembers = false
    private var wroteMember = false

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(path: path, message: "cannot create: \(IOFailure.describe(errno))")
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit { if !closed { Glibc.close(fd) } }

    public func write(_ text: String) throws {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func write(bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes one gzip member compressed by the caller (a file with `compressesMembers`).
    public func write(member: [UInt8]) throws {
        try flush()
        try member.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        wroteMember = true
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        if compressesMembers {
            let member: [UInt8]
            do { member = try GzipFileWriter.member(buffer, level: OutputFileWriter.gzipLevel) } catch {
                throw CustomerHealthError.output(path: path, message: "cannot be compressed: \(error)")
            }
            try member.withUnsafeBytes { try writeAll(fd, $0, path: path) }
            wroteMember = true
        } else {
            try buffer.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        // An empty gzip file is not gzip: an empty member is.
        if compressesMembers && !wroteMember {
            try write(member: try GzipFileWriter.member([], level: OutputFileWriter.gzipLevel))
        }
        closed = true
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else {
            throw CustomerHealthError.output(path: path, message: "fsync failed: \(IOFailure.describe(errno))")
        }
    }
}
