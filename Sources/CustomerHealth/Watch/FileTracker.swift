import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What watch mode remembers of one input file: how far it was read and what
/// it looked like then, so that a later look can tell growth from
/// truncation, replacement or rotation.
public struct TrackedFile: Sendable, Equatable, Codable {
    public var name: String
    public var export: String
    public var device: UInt64
    public var inode: UInt64
    /// Bytes consumed: whole lines of a plain file, or all of a gzip file.
    public var offset: Int
    /// SHA-256 of the file's first `headLength` bytes when it was last read
    /// (at most 4 KiB): same name and inode with other leading bytes is
    /// another file.
    public var headHash: String
    public var headLength: Int

    public static let headBytes = 4096
}

/// A file as the scanner sees it now.
public struct FileObservation: Sendable, Equatable {
    public var file: InputFile
    public var device: UInt64
    public var inode: UInt64
    /// Seconds since the last modification.
    public var age: Double
}

/// How an input file changed since it was last read.
public enum FileChange: Sendable, Equatable {
    /// A new file, complete: read it from the start.
    case new(FileObservation)
    /// A known file with bytes past what was read (plain files: whole lines
    /// are taken as they come; gzip files: once complete again).
    case grown(FileObservation, from: Int)
    /// New or grown, but modified less than the settle time ago: look again later.
    case settling(name: String)
    /// Shorter than what was already read.
    case truncated(name: String, read: Int, size: Int)
    /// Same name, other file: another inode, or other leading bytes.
    case replaced(name: String)
    /// Gone from the folder (rotated away or deleted).
    case vanished(name: String)
}

/// Compares the input folder with what was read: which files are new and
/// complete, which grew, and which changed in a way that reading on cannot
/// explain. A file is complete when its last modification is at least the
/// settle time old: a file renamed into place is complete at once (it was
/// written before), one still being written is not. Names ending in `.tmp`
/// or `.part` are never listed (IngestRunner.listFiles).
public struct FileTracker: Sendable {
    public var settleSeconds: Double

    public init(settleSeconds: Double) {
        self.settleSeconds = settleSeconds
    }

    /// Every matched input file with its identity and age.
    public static func observe(_ files: [InputFile], now: Date = Date()) -> [FileObservation] {
        files.compactMap { f in
            var st = stat()
            guard stat(f.path, &st) == 0 else { return nil }
            var file = f
            file.size = Int(st.st_size)
            return FileObservation(
                file: file, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                age: max(0, now.timeIntervalSince1970 - modifiedSeconds(st)))
        }
    }

    /// The changes, in file-name order (vanished files last).
    public func changes(observed: [FileObservation], known: [String: TrackedFile]) throws -> [FileChange] {
        var out: [FileChange] = []
        var seen: Set<String> = []
        for o in observed.sorted(by: { $0.file.name < $1.file.name }) {
            let name = o.file.name
            seen.insert(name)
            let settled = o.age >= settleSeconds
            guard let k = known[name] else {
                out.append(settled ? .new(o) : .settling(name: name))
                continue
            }
            if o.inode != k.inode || o.device != k.device {
                out.append(.replaced(name: name))
                continue
            }
            if o.file.size < k.offset {
                out.append(.truncated(name: name, read: k.offset, size: o.file.size))
                continue
            }
            // The bytes that were there when the file was last read must still be there.
            if o.file.size >= k.headLength,
                try FileTracker.headHash(path: o.file.path, length: k.headLength) != k.headHash
            {
                out.append(.replaced(name: name))
                continue
            }
            guard o.file.size > k.offset else { continue }
            if o.file.isGzip && !settled {
                out.append(.settling(name: name))
                continue
            }
            out.append(.grown(o, from: k.offset))
        }
        for name in known.keys.sorted() where !seen.contains(name) { out.append(.vanished(name: name)) }
        return out
    }

    /// SHA-256 of a file's first `length` bytes.
    public static func headHash(path: String, length: Int) throws -> String {
        // Through the reader's open: a FIFO named like an export must not block here either.
        let handle = FileHandle(
            fileDescriptor: try ByteSource.openRegularFile(path: path, name: path), closeOnDealloc: true)
        let data = (try? handle.read(upToCount: length)) ?? Data()
        return Digest.sha256Hex(data.prefix(length))
    }

    /// What to remember of a file after reading it up to `offset`.
    public static func track(_ o: FileObservation, offset: Int) throws -> TrackedFile {
        let length = min(TrackedFile.headBytes, offset)
        return TrackedFile(
            name: o.file.name, export: o.file.kind.rawValue, device: o.device, inode: o.inode, offset: offset,
            headHash: try headHash(path: o.file.path, length: length), headLength: length)
    }
}
