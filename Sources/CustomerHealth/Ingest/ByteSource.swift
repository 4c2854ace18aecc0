import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The first layer of reading an input file: its bytes. read(2) in 1 MiB
/// blocks, SHA-256 of the bytes as stored, gzip members inflated in turn
/// (each one's CRC-32 and length checked by `GzipInflater`), and the
/// decompressed bytes handed to a sink, on the caller's thread or, for one
/// large file, from an inflating thread of its own.
///
/// Only regular files (or symlinks to them) are opened, never blocking (a
/// FIFO would block open(2) until a writer came). The file is closed when
/// the source goes away.
final class ByteSource {
    let fd: Int32
    /// The file's name in messages.
    let name: String
    let compressed: Bool

    init(path: String, name: String, compressed: Bool) throws {
        self.fd = try ByteSource.openRegularFile(path: path, name: name)
        self.name = name
        self.compressed = compressed
    }

    deinit { close(fd) }

    /// Reads from where the file stands to its end, or `limit` bytes on
    /// (as stored), and hands the decompressed bytes to `sink`. Returns the
    /// bytes read and their SHA-256.
    func read(limit: Int? = nil, into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> (
        size: Int, sha256: String
    ) {
        try ByteSource.decode(fd: fd, name: name, compressed: compressed, limit: limit, sink: sink)
    }

    /// As `read(into:)`, with the reading and inflating on a thread of its
    /// own that hands blocks to this one through a small bounded queue, so
    /// that one large file uses both cores. The queue holds at most a few MiB.
    func readPipelined(into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> (size: Int, sha256: String) {
        let pipe = BlockPipe(capacity: 8)
        let producer = BlockProducer(fd: fd, name: name, compressed: compressed, pipe: pipe)
        let thread = Thread { producer.run() }
        thread.stackSize = 1 << 20
        thread.start()
        defer {
            pipe.cancel()
            producer.finished.wait()
        }
        while true {
            switch pipe.take() {
            case .block(let bytes):
                try bytes.withUnsafeBytes { try sink($0) }
            case .end(let size, let sha):
                return (size, sha)
            case .failure(let error):
                throw error
            }
        }
    }

    /// Moves the read position to `offset` (a plain file read on from where an earlier read stopped).
    func seek(to offset: Int) throws {
        guard lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else {
            throw CustomerHealthError.input(
                file: name, message: "cannot seek to byte \(offset): \(String(cString: strerror(errno)))")
        }
    }

    /// The file's first line (the header of a plain file read on from the
    /// middle), with its line break, read by pread(2): the read position is
    /// left where it is. It ends at its first LF, CRLF or lone CR.
    func headerLine(maxBytes: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 64 << 10)
        var end: Int? = nil
        while true {
            // The header ends at its first LF, CRLF or lone CR (a CR needs the byte after it).
            if let i = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
                if bytes[i] == 0x0A {
                    end = i
                    break
                }
                if i + 1 < bytes.count {
                    end = bytes[i + 1] == 0x0A ? i + 1 : i
                    break
                }
            }
            if bytes.count > maxBytes { break }
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                // The end of the file: a CR as its last byte still ends the line.
                if let i = bytes.firstIndex(of: 0x0D), i == bytes.count - 1 { end = i }
                break
            }
            bytes += block[0..<n]
        }
        guard let end else {
            throw CustomerHealthError.input(file: name, message: "has no complete header line to resume after")
        }
        return Array(bytes[...end])
    }

    /// Opens `path` for reading when it is a regular file or a symlink to
    /// one, and throws an input error naming the file otherwise: a FIFO, a
    /// socket, a device or a directory matched by a glob is an unreadable file
    /// (exit 3, or skipped under `on_corrupt_file: skip`). stat(2) first, so
    /// that nothing else is ever opened (opening a FIFO blocks until a writer
    /// comes; opening a device can do things); then open(2) with O_NONBLOCK
    /// and fstat(2) of what was opened, in case the name was replaced in
    /// between; then O_NONBLOCK is cleared.
    static func openRegularFile(path: String, name: String) throws -> Int32 {
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            var link = stat()
            if e == ENOENT, lstat(path, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw CustomerHealthError.input(
                    file: name, message: "cannot be opened: it is a symlink to \(target), which does not exist")
            }
            throw CustomerHealthError.input(
                file: name,
                message: e == ENOENT
                    ? "no longer exists: it was listed but deleted or moved before it could be read"
                    : "cannot be opened: \(String(cString: strerror(e)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path: path, name: name, mode: st.st_mode) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            throw CustomerHealthError.input(
                file: name,
                message: e == ENOENT
                    ? "no longer exists: it was listed but deleted or moved before it could be read"
                    : "cannot be opened: \(String(cString: strerror(e)))")
        }
        var opened = stat()
        guard fstat(fd, &opened) == 0 else {
            let e = errno
            close(fd)
            throw CustomerHealthError.input(
                file: name, message: "cannot be read: fstat failed: \(String(cString: strerror(e)))")
        }
        guard (opened.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw notRegular(path: path, name: name, mode: opened.st_mode)
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return fd
    }

    private static func notRegular(path: String, name: String, mode: mode_t) -> CustomerHealthError {
        let what: String
        switch mode & S_IFMT {
        case S_IFIFO: what = "a FIFO (named pipe)"
        case S_IFSOCK: what = "a socket"
        case S_IFCHR: what = "a character device"
        case S_IFBLK: what = "a block device"
        case S_IFDIR: what = "a directory"
        default: what = "a special file"
        }
        var link = stat()
        let viaLink = lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK
        let target = viaLink ? " (\((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"))" : ""
        return CustomerHealthError.input(
            file: name,
            message:
                "is \(viaLink ? "a symlink to " : "")\(what)\(target), not a regular file: only regular files and symlinks to them are read"
        )
    }

    /// read(2) in 1 MiB blocks, SHA-256 of the stored bytes, gzip members
    /// inflated in turn; `sink` gets the decompressed bytes.
    static func decode(
        fd: Int32, name: String, compressed: Bool, limit: Int? = nil,
        sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> (size: Int, sha256: String) {
        var hasher = SHA256()
        let blockSize = 1 << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { block.deallocate() }
        let inflater: GzipInflater? = compressed ? try GzipInflater() : nil
        defer { inflater?.close() }
        var size = 0
        while true {
            let want = limit.map { min(blockSize, $0 - size) } ?? blockSize
            if want <= 0 { break }
            let n = Glibc.read(fd, block.baseAddress, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw CustomerHealthError.input(
                    file: name, message: "read failed at byte \(size): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: block[0..<n])
            hasher.update(bufferPointer: chunk)
            size += n
            if let inflater {
                do {
                    try inflater.feed(chunk, sink: sink)
                } catch let error as GzipError {
                    throw CustomerHealthError.input(
                        file: name, message: "corrupt gzip data at byte offset \(error.offset): \(error.detail)")
                }
            } else {
                try sink(chunk)
            }
        }
        if let inflater {
            do { try inflater.finish() } catch {
                switch error.kind {
                case .empty:
                    throw CustomerHealthError.input(
                        file: name, message: "the file is empty (0 bytes): expected gzip data with a header row")
                default:
                    throw CustomerHealthError.input(
                        file: name, message: "truncated gzip file at byte offset \(error.offset): \(error.detail)")
                }
            }
        }
        return (size, Digest.hex(hasher.finalize()))
    }
}

/// A bounded queue of decompressed blocks between the inflating thread and
/// the parsing thread. A full queue blocks the producer: memory stays bounded.
final class BlockPipe: @unchecked Sendable {
    enum Item {
        case block([UInt8])
        case end(Int, String)
        case failure(Error)
    }
    private let condition = NSCondition()
    private var items: [Item] = []
    private let capacity: Int
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// False when the consumer has gone away.
    func put(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func take() -> Item {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// The inflating side of a pipelined read.
final class BlockProducer: @unchecked Sendable {
    let fd: Int32
    let name: String
    let compressed: Bool
    let pipe: BlockPipe
    let finished = DispatchSemaphore(value: 0)

    init(fd: Int32, name: String, compressed: Bool, pipe: BlockPipe) {
        self.fd = fd
        self.name = name
        self.compressed = compressed
        self.pipe = pipe
    }

    struct Cancelled: Error {}

    func run() {
        defer { finished.signal() }
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 18)
        do {
            let result = try ByteSource.decode(fd: fd, name: name, compressed: compressed) { block in
                pending.append(contentsOf: block)
                if pending.count >= 1 << 18 {
                    guard pipe.put(.block(pending)) else { throw Cancelled() }
                    pending = []
                    pending.reserveCapacity(1 << 18)
                }
            }
            if !pending.isEmpty { guard pipe.put(.block(pending)) else { return } }
            _ = pipe.put(.end(result.size, result.sha256))
        } catch is Cancelled {
            return
        } catch {
            _ = pipe.put(.failure(error))
        }
    }
}
