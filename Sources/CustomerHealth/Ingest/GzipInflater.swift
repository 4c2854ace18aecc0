import CZlib
import Foundation

/// Streaming gzip decoder that reads every member of a multi-member file.
///
/// zlib's `inflate` stops at the end of the first member; we call
/// `inflateReset` there while input remains, which is what `gzip -d` does.
/// A file counts as complete only when its last member's trailer (CRC-32 and
/// length) has been checked: a file cut short, even by its 8-byte trailer,
/// fails with the compressed byte offset where it stopped.
final class GzipInflater {
    private var stream: UnsafeMutablePointer<z_stream>?
    private var output: UnsafeMutablePointer<UInt8>
    private let outputCapacity: Int
    /// Compressed bytes consumed so far, for error positions.
    private(set) var compressedOffset: Int = 0
    /// True between a member's end and the start of the next member's data.
    private(set) var atMemberBoundary = true
    private(set) var membersCompleted = 0

    init(outputCapacity: Int = 1 << 18) throws(GzipError) {
        self.outputCapacity = outputCapacity
        self.output = .allocate(capacity: outputCapacity)
        guard let stream = ch_zstream_allocate() else {
            output.deallocate()
            throw GzipError(kind: .corrupt, offset: 0, detail: "could not allocate a zlib stream")
        }
        let status = ch_inflate_init_gzip(stream)
        guard status == Z_OK else {
            free(stream)
            output.deallocate()
            throw GzipError(kind: .corrupt, offset: 0, detail: "zlib inflateInit2 failed (\(status))")
        }
        self.stream = stream
    }

    deinit {
        close()
        output.deallocate()
    }

    /// Releases zlib's state. Safe to call more than once.
    func close() {
        guard let stream else { return }
        inflateEnd(stream)
        free(stream)
        self.stream = nil
    }

    /// Inflates `input`, calling `sink` with each block of decompressed bytes.
    func feed(
        _ input: UnsafeRawBufferPointer,
        sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard let stream else {
            throw GzipError(kind: .corrupt, offset: compressedOffset, detail: "stream already closed")
        }
        guard let base = input.baseAddress, input.count > 0 else { return }
        var remaining = input.count
        var next = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        while remaining > 0 {
            atMemberBoundary = false
            stream.pointee.next_in = next
            stream.pointee.avail_in = UInt32(min(remaining, Int(UInt32.max)))
            let offered = Int(stream.pointee.avail_in)
            var status: Int32 = Z_OK
            repeat {
                stream.pointee.next_out = output
                stream.pointee.avail_out = UInt32(outputCapacity)
                status = inflate(stream, Z_NO_FLUSH)
                let produced = outputCapacity - Int(stream.pointee.avail_out)
                if status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR {
                    let consumed = offered - Int(stream.pointee.avail_in)
                    let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw GzipError(kind: .corrupt, offset: compressedOffset + consumed, detail: message)
                }
                if produced > 0 {
                    try sink(UnsafeRawBufferPointer(start: output, count: produced))
                }
                if status == Z_STREAM_END { break }
            } while status == Z_OK && (stream.pointee.avail_out == 0 || stream.pointee.avail_in > 0)
            let consumed = offered - Int(stream.pointee.avail_in)
            compressedOffset += consumed
            remaining -= consumed
            next += consumed
            if status == Z_STREAM_END {
                membersCompleted += 1
                atMemberBoundary = true
                // Another member may follow, in this block or the next one.
                inflateReset(stream)
            } else if consumed == 0 && status == Z_BUF_ERROR {
                break
            }
        }
    }

    /// Checks that the input ended exactly at the end of a member.
    func finish() throws(GzipError) {
        if compressedOffset == 0 {
            throw GzipError(kind: .empty, offset: 0, detail: "the file is empty")
        }
        if !atMemberBoundary || membersCompleted == 0 {
            throw GzipError(
                kind: .truncated, offset: compressedOffset,
                detail: "the gzip data ends before its trailer (CRC-32 and length): the file was cut short")
        }
    }
}

struct GzipError: Error, Sendable {
    enum Kind: Sendable { case empty, truncated, corrupt }
    var kind: Kind
    var offset: Int
    var detail: String
}
