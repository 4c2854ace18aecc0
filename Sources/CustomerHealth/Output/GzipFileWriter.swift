import CZlib
import Foundation

/// Writes a gzip file through zlib's deflate, buffering its input.
///
/// Used by `generate` for synthetic exports. `startNewMember()` ends the
/// current gzip member and begins another, which produces the multi-member
/// files that concatenated daily drops look like.
public final class GzipFileWriter {
    private var stream: UnsafeMutablePointer<z_stream>?
    private let handle: FileHandle
    private var input: [UInt8] = []
    private let level: Int32
    private var outBuffer: UnsafeMutablePointer<UInt8>
    private let outCapacity = 1 << 18
    private var memberHasData = false

    public init(path: String, level: Int = 6) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        self.level = Int32(level)
        outBuffer = .allocate(capacity: outCapacity)
        input.reserveCapacity(1 << 16)
        try openMember()
    }

    deinit {
        if let stream {
            deflateEnd(stream)
            free(stream)
        }
        outBuffer.deallocate()
    }

    private func openMember() throws {
        guard let s = ch_zstream_allocate() else { throw CocoaError(.fileWriteOutOfSpace) }
        guard ch_deflate_init_gzip(s, level) == Z_OK else {
            free(s)
            throw CocoaError(.fileWriteUnknown)
        }
        stream = s
        memberHasData = false
    }

    public func write(_ string: String) throws {
        var s = string
        s.withUTF8 { input.append(contentsOf: $0) }
        memberHasData = true
        if input.count >= 1 << 16 { try pump(flush: Z_NO_FLUSH) }
    }

    public func write(bytes: [UInt8]) throws {
        input.append(contentsOf: bytes)
        memberHasData = true
        if input.count >= 1 << 16 { try pump(flush: Z_NO_FLUSH) }
    }

    private func pump(flush: Int32) throws {
        guard let stream else { return }
        try input.withUnsafeMutableBufferPointer { buffer in
            stream.pointee.next_in = buffer.baseAddress
            stream.pointee.avail_in = UInt32(buffer.count)
            var status: Int32
            repeat {
                stream.pointee.next_out = outBuffer
                stream.pointee.avail_out = UInt32(outCapacity)
                status = deflate(stream, flush)
                let produced = outCapacity - Int(stream.pointee.avail_out)
                // write(contentsOf:) throws on I/O errors (disk full, ...);
                // the deprecated write(_:) traps on them.
                if produced > 0 { try handle.write(contentsOf: Data(bytes: outBuffer, count: produced)) }
                if status == Z_STREAM_ERROR { throw CocoaError(.fileWriteUnknown) }
            } while stream.pointee.avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END)
        }
        input.removeAll(keepingCapacity: true)
    }

    /// Ends the current member and starts a new one.
    public func startNewMember() throws {
        try pump(flush: Z_FINISH)
        if let stream {
            deflateEnd(stream)
            free(stream)
            self.stream = nil
        }
        try openMember()
    }

    /// `bytes` as one complete gzip member: files written a member at a time
    /// (`partition`'s bucket files) keep one small buffer per file instead
    /// of one deflate stream each.
    public static func member(_ bytes: [UInt8], level: Int = 1) throws -> [UInt8] {
        guard let s = ch_zstream_allocate() else { throw CocoaError(.fileWriteOutOfSpace) }
        defer {
            deflateEnd(s)
            free(s)
        }
        guard ch_deflate_init_gzip(s, Int32(level)) == Z_OK else { throw CocoaError(.fileWriteUnknown) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(s, UInt(bytes.count))) + 32)
        var input = bytes
        let status = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                s.pointee.next_in = inp.baseAddress
                s.pointee.avail_in = UInt32(inp.count)
                s.pointee.next_out = o.baseAddress
                s.pointee.avail_out = UInt32(o.count)
                return deflate(s, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw CocoaError(.fileWriteUnknown) }
        out.removeSubrange(Int(s.pointee.total_out)...)
        return out
    }

    /// Finishes the last member and closes the file.
    public func close() throws {
        try pump(flush: Z_FINISH)
        if let stream {
            deflateEnd(stream)
            free(stream)
            self.stream = nil
        }
        try handle.close()
    }
}
