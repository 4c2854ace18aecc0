import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files replaced whole (models, reports, the watch checkpoint, a failed
/// run's rejects): written to `<path>.<pid>.tmp`, fsynced, renamed over
/// `path`, the folder fsynced. A reader sees the old file or the new one;
/// a writer killed midway leaves the old file and a temporary, which the next
/// write of the same file removes once its process is gone.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        removeStaleTemporaries(of: path)
        let tmp = temporaryPath(of: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(path: path, message: "cannot create \(tmp): \(IOFailure.describe(errno))")
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
            guard fsync(fd) == 0 else {
                throw CustomerHealthError.output(path: path, message: "fsync failed: \(IOFailure.describe(errno))")
            }
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let reason = IOFailure.describe(errno)
            unlink(tmp)
            throw CustomerHealthError.output(path: path, message: "cannot rename into place: \(reason)")
        }
        fsyncDirectory(dir.isEmpty ? "." : dir)
    }

    static func temporaryPath(of path: String) -> String { path + ".\(getpid()).tmp" }

    /// Removes `<name>.<pid>.tmp` next to `path` whose process no longer
    /// exists: a live writer (another command on the same file) keeps its own.
    static func removeStaleTemporaries(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? [] {
            guard entry.hasPrefix(name + "."), entry.hasSuffix(".tmp"),
                let pid = Int32(entry.dropFirst(name.count + 1).dropLast(4)), !processExists(pid)
            else { continue }
            unlink((dir as NSString).appendingPathComponent(entry))
        }
    }

    /// True when a process `pid` exists on this machine (kill with signal 0).
    static func processExists(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// What a failed system call means for the user, with what to do about it.
enum IOFailure {
    static func describe(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT:
            return
                "\(text): free space on that disk (or raise the quota) and run again; the previous outputs are intact"
        case EROFS: return "\(text): the folder is on a read-only file system; point output: at a writable folder"
        case EACCES, EPERM:
            return "\(text): this user may not write there; fix the folder's permissions or point output: elsewhere"
        default: return text
        }
    }
}

/// syncfs(2): writes out everything cached for the file system of `fd`, one
/// call for many files (Glibc's Swift module does not export it).
@_silgen_name("syncfs")
func syncFileSystem(_ fd: Int32) -> Int32
