import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The second layer of reading an input file: the decompressed stream cut
/// into physical lines, each handed with its line number and byte offset to
/// a record decoder (CSV or JSONL; the splitter knows neither).
///
/// A physical line ends at LF, at CRLF (one line end) or at a CR not followed
/// by LF (old Mac exports): the same bytes libcsv ends an unquoted record at,
/// so that line numbers, byte offsets and the records agree whatever the
/// file uses. A line that goes on past a read block waits in a carry buffer;
/// a line longer than the limit is rejected and the rest of it dropped as it
/// arrives, so nothing here holds more than one line.
final class LineSplitter<Decoder: RecordDecoder> {
    let decoder: Decoder
    let maxRowBytes: Int

    private var carry: [UInt8] = []
    /// `carry` is a whole line ending in a CR that ended a read block: an LF
    /// at the start of the next block belongs to the same line end.
    private var carryEndsWithCR = false
    /// Inside a line over the limit, already rejected: its bytes are dropped up to its end.
    private(set) var skippingOverlongLine = false
    /// The overlong line being skipped ended in a CR that ended a block: skip an LF after it.
    private var skipLFAfterCR = false
    /// The number of the last line handed on (or skipped).
    private(set) var lineNumber = 0
    /// Where the next line starts in the decompressed stream.
    private(set) var streamOffset = 0
    private var sawFirstBytes = false
    /// The first bytes of the stream, while fewer than 3 of them have come
    /// (a block can be that short, e.g. a gzip member of 1 byte): enough to
    /// tell a byte-order mark.
    private var bomProbe: [UInt8] = []

    init(decoder: Decoder, maxRowBytes: Int) {
        self.decoder = decoder
        self.maxRowBytes = maxRowBytes
    }

    /// Goes on from where an earlier read stopped (watch mode): the stream
    /// starts at `offset`, after `linesBefore` lines, so it has no byte-order
    /// mark; `insideOverlongLine`: that read stopped inside a line already
    /// rejected as too long, whose rest is dropped.
    func resume(offset: Int, linesBefore: Int, insideOverlongLine: Bool) {
        sawFirstBytes = true
        lineNumber = linesBefore
        streamOffset = offset
        skippingOverlongLine = insideOverlongLine
    }

    /// Takes the next block of the decompressed stream.
    func take(_ data: UnsafeRawBufferPointer) throws {
        if !sawFirstBytes {
            // A UTF-8 byte order mark is not part of the first column's name.
            // It may come split over blocks: hold the first bytes until three.
            let probed = min(3 - bomProbe.count, data.count)
            bomProbe.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<probed]))
            if bomProbe.count < 3 && bomProbe.elementsEqual(utf8BOM.prefix(bomProbe.count)) { return }
            try endBOMProbe()
            try split(UnsafeRawBufferPointer(rebasing: data[probed...]))
        } else {
            try split(data)
        }
    }

    /// The stream has ended here: a line still in the carry (no line break
    /// at the end of the file, or a CR whose LF never came) is a line.
    func finish() throws {
        if !sawFirstBytes && !bomProbe.isEmpty {
            // Fewer than three bytes in all, the start of a byte-order mark: text after all.
            try endBOMProbe()
        }
        carryEndsWithCR = false
        skipLFAfterCR = false
        if !carry.isEmpty {
            try lineFromCarry()
        }
    }

    /// The line taken so far is known to end at its CR: no LF follows it
    /// (the header line of a file read on from the middle, read by itself).
    func endLineAtCR() throws {
        guard carryEndsWithCR else { return }
        carryEndsWithCR = false
        try lineFromCarry()
    }

    /// Drops a line still without its line break (watch mode: it is being
    /// written, and is taken whole on the next read).
    func dropPartialLine() {
        carry.removeAll()
        carryEndsWithCR = false
    }

    /// The first bytes are known: skip a byte-order mark, or read them as text.
    private func endBOMProbe() throws {
        sawFirstBytes = true
        let probe = bomProbe
        bomProbe = []
        if probe == utf8BOM {
            streamOffset += 3
        } else {
            try probe.withUnsafeBytes { try split($0) }
        }
    }

    /// Where a block's own lines start: after an LF that completes the CRLF
    /// of a carried line ending in CR (which then goes to the decoder), or
    /// that follows an overlong line's CR. Nil when the decoder stopped.
    @inline(__always)
    private func resumeAfterCR(_ base: UnsafeRawPointer) throws -> Int? {
        var start = 0
        if carryEndsWithCR {
            carryEndsWithCR = false
            if base.load(as: UInt8.self) == 0x0A {
                carry.append(0x0A)
                start = 1
            }
            try lineFromCarry()
            if decoder.stopped { return nil }
        } else if skipLFAfterCR {
            skipLFAfterCR = false
            if base.load(as: UInt8.self) == 0x0A {
                streamOffset += 1
                start = 1
            }
        }
        return start
    }

    /// A run of line breaks at `start`, with nothing carried: between records,
    /// blank lines are counted, not parsed (libcsv would skip them); inside a
    /// record (a quoted CSV field), the run goes to the decoder in one call.
    /// Returns where the run ends (`start` when it takes none: only a CR at
    /// the end of the block, which the general case holds), nil when the
    /// decoder stopped.
    @inline(__always)
    private func lineBreakRun(_ data: UnsafeRawBufferPointer, from start: Int) throws -> Int? {
        let base = data.baseAddress!
        let count = data.count
        if decoder.isIdle {
            let end = LineScan.blankRun(base, from: start, count: count, lines: &lineNumber)
            if end > start { streamOffset += end - start }
            return end > start ? end : start
        }
        var lines = 0
        let end = LineScan.blankRun(base, from: start, count: count, lines: &lines)
        guard end > start,
            try decoder.feedLineBreaks(
                UnsafeRawBufferPointer(rebasing: data[start..<end]), firstNumber: lineNumber + 1, offset: streamOffset)
        else { return start }
        lineNumber += lines
        streamOffset += end - start
        return decoder.stopped ? nil : end
    }

    /// Splits decompressed bytes into physical lines (ending at LF, CRLF or
    /// a lone CR) and hands each to `line`. A line that goes on past the
    /// block waits in `carry`; so does one ending in a CR that ends the block,
    /// until the next block tells whether an LF follows.
    private func split(_ data: UnsafeRawBufferPointer) throws {
        guard let base = data.baseAddress, data.count > 0 else { return }
        let count = data.count
        guard var start = try resumeAfterCR(base) else { return }
        // Where the next LF and CR are (count: none in the rest of the block),
        // found with memchr and kept until passed, so that a file without CRs
        // (or LFs) is not searched for them again on every line.
        var nextLF = -1
        var nextCR = -1
        while start < count {
            let first = base.load(fromByteOffset: start, as: UInt8.self)
            if (first == 0x0A || first == 0x0D) && carry.isEmpty && !skippingOverlongLine {
                guard let end = try lineBreakRun(data, from: start) else { return }
                if end > start {
                    start = end
                    continue
                }
            }
            if nextLF < start { nextLF = LineScan.find(0x0A, base, from: start, count: count) }
            if nextCR < start { nextCR = LineScan.find(0x0D, base, from: start, count: count) }
            let end: Int
            if nextCR < nextLF {
                guard nextCR + 1 < count else {
                    // A CR ends the block: whether an LF follows is for the next block to say.
                    if skippingOverlongLine {
                        skippingOverlongLine = false
                        skipLFAfterCR = true
                        streamOffset += count - start
                    } else {
                        carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<count]))
                        carryEndsWithCR = true
                    }
                    return
                }
                end = nextCR + 1 == nextLF ? nextLF + 1 : nextCR + 1
            } else if nextLF < count {
                end = nextLF + 1
            } else {
                // No line end in the rest of the block.
                if !skippingOverlongLine {
                    carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<count]))
                    if carry.count > maxRowBytes {
                        try overlongLine()
                    }
                } else {
                    streamOffset += count - start
                }
                return
            }
            if skippingOverlongLine {
                skippingOverlongLine = false
                streamOffset += end - start
                start = end
                continue
            }
            if carry.isEmpty {
                try line(UnsafeRawBufferPointer(rebasing: data[start..<end]))
            } else {
                carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<end]))
                try lineFromCarry()
            }
            start = end
            if decoder.stopped { return }
        }
    }

    private func lineFromCarry() throws {
        let whole = carry
        carry.removeAll(keepingCapacity: true)
        try whole.withUnsafeBytes { try line($0) }
    }

    /// A partial line past the limit: reject it now and drop the rest of it as it arrives.
    private func overlongLine() throws {
        try rejectOverlong(length: carry.count, prefix: Array(carry.prefix(1024)))
        carry.removeAll(keepingCapacity: false)
        skippingOverlongLine = true
    }

    /// Rejects a physical line over the limit, whether or not it spans read blocks.
    private func rejectOverlong(length: Int, prefix: [UInt8]) throws {
        lineNumber += 1
        try decoder.rejectOverlongLine(number: lineNumber, offset: streamOffset, prefix: prefix)
        streamOffset += length
    }

    private func line(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count > maxRowBytes {
            try rejectOverlong(length: bytes.count, prefix: Array(bytes.prefix(1024)))
            return
        }
        lineNumber += 1
        let offset = streamOffset
        streamOffset += bytes.count
        try decoder.decode(line: bytes, number: lineNumber, offset: offset)
    }
}

/// What the line splitter hands lines to: the decoder of one record format.
/// Called once per line (or run of line breaks), never per byte.
protocol RecordDecoder: AnyObject {
    /// One physical line, with its line break when it has one, its number
    /// (from 1) and its byte offset in the decompressed stream.
    func decode(line: UnsafeRawBufferPointer, number: Int, offset: Int) throws
    /// True when no record is open: a blank line is then nothing but a line
    /// (counted, not decoded).
    var isIdle: Bool { get }
    /// A run of bare line breaks (LF, CRLF and CR each end a line) met while
    /// a record is open, from line `firstNumber` at `offset`: taken in one
    /// call (true), or false to have them one line at a time.
    func feedLineBreaks(_ run: UnsafeRawBufferPointer, firstNumber: Int, offset: Int) throws -> Bool
    /// A physical line longer than the limit, `prefix` its first bytes:
    /// rejected here (with any record it belongs to); the splitter drops the rest of it.
    func rejectOverlongLine(number: Int, offset: Int, prefix: [UInt8]) throws
    /// Where the record still open began (the number of the line before it,
    /// and its byte offset): watch mode stops there and takes it whole on the next read.
    var openRecordStart: (line: Int, offset: Int)? { get }
    /// True once the read has stopped (a problem with the file itself): no more lines.
    var stopped: Bool { get }
    /// True while the file's first line, a header, has not been read: no rows can have been taken.
    var awaitsHeader: Bool { get }
    /// The stream has ended: a record still open is reported; a file that
    /// ended without what the format needs (a header) throws.
    func finish() throws
}

/// A UTF-8 byte-order mark.
private let utf8BOM: [UInt8] = [0xEF, 0xBB, 0xBF]

/// Byte scans of the splitter.
private enum LineScan {
    @inline(__always)
    static func find(_ byte: UInt8, _ base: UnsafeRawPointer, from: Int, count: Int) -> Int {
        guard let p = memchr(base + from, Int32(byte), count - from) else { return count }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// The end of the run of line breaks at `from`, counting its lines (LF,
    /// CRLF and CR each end one). Stops before a CR that is the block's last
    /// byte. Eight bytes at a time through runs of one kind.
    @inline(__always)
    static func blankRun(_ base: UnsafeRawPointer, from: Int, count: Int, lines: inout Int) -> Int {
        let lf8: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        let cr8: UInt64 = 0x0D0D_0D0D_0D0D_0D0D
        let crlf4: UInt64 = 0x0A0D_0A0D_0A0D_0A0D  // "\r\n" four times, little-endian
        var i = from
        var n = 0
        while i < count {
            if i + 8 < count {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                if word == lf8 {
                    n += 8
                    i += 8
                    continue
                }
                if word == crlf4 {
                    n += 4
                    i += 8
                    continue
                }
                if word == cr8 {
                    // Eight line ends; the last CR's may be a CRLF (i + 8 < count: its next byte is here).
                    n += 8
                    i += 8
                    if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { i += 1 }
                    continue
                }
            }
            let b = base.load(fromByteOffset: i, as: UInt8.self)
            if b == 0x0A {
                n += 1
                i += 1
            } else if b == 0x0D {
                guard i + 1 < count else { break }
                n += 1
                i += base.load(fromByteOffset: i + 1, as: UInt8.self) == 0x0A ? 2 : 1
            } else {
                break
            }
        }
        lines += n
        return i
    }
}
