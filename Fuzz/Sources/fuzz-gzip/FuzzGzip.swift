// Fuzz target `gzip`: gzip input (Sources/CustomerHealth/Ingest/GzipInflater.swift
// and the file reading path, ByteSource.decode: read(2) blocks, SHA-256,
// members inflated in turn, the complete-file check).
//
// Input: one control byte, then bytes.
//   bits 0-1 = 0: the bytes are the .gz file as stored (corrupt, truncated,
//                 multi-member, trailing garbage: whatever the fuzzer makes);
//   bits 0-1 = 1: the bytes are the text: the harness gzips it in 1-4 members
//                 (split where the bytes say) with the library's GzipFileWriter,
//                 then reads the file back;
//   bits 0-1 = 2: as 1, then the file is cut short at a point the bytes choose;
//   bits 0-1 = 3: as 1, then bytes that are not a gzip member are appended.
//   bits 2-4: the inflater's output block size for the direct run (1 << (4 + n)).
//   bit 5: also read the file as an activity export (.csv.gz) through InputFileReader.
//
// Every input is decoded twice: through `ByteSource.decode` on the file,
// and by a GzipInflater fed in small chunks (so that member boundaries and the
// trailer fall across feed() calls, as they do across 1 MiB blocks of a large file).
//
// Checks (README, "Exit codes": a corrupt or truncated gzip, "cut short, even
// by its 8-byte trailer", fails):
// - both ways agree: same bytes out, or both fail;
// - a file the harness made (modes 1-3) decodes to exactly its text (mode 1);
//   cut anywhere but at a member boundary, it fails (mode 2); with garbage
//   after its last member, it fails (mode 3);
// - decode() throws only CustomerHealthError; the inflater only GzipError.
import Foundation
import FuzzSupport
@testable import CustomerHealth

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let control = input.byte()
    let mode = control & 3
    let outputCapacity = 1 << (4 + Int((control >> 2) & 7))
    let alsoAsExport = control & 32 != 0

    var file: [UInt8]
    var text: [UInt8] = []
    var boundaries: [Int] = []  // compressed offsets where a member ends (modes 1-3)
    var cutAt: Int? = nil
    var garbage = false
    if mode == 0 {
        file = Array(input.rest)
    } else {
        let splits = input.byte(), cut = (Int(input.byte()) << 8) | Int(input.byte())
        text = Array(input.rest)
        // Up to 4 members, split at fractions of the text the split byte chooses.
        let members = 1 + Int(splits & 3)
        var pieces: [ArraySlice<UInt8>] = []
        var from = 0
        for m in 1...members {
            let to = m == members ? text.count : max(from, min(text.count, text.count * Int((splits >> 2) &+ UInt8(m * 37)) / 256))
            pieces.append(text[from..<to])
            from = to
        }
        file = []
        for (i, piece) in pieces.enumerated() {
            let path = (FuzzSupport.scratch as NSString).appendingPathComponent("member-\(i).gz")
            do {
                let writer = try GzipFileWriter(path: path, level: 6)
                try writer.write(bytes: Array(piece))
                try writer.close()
            } catch { fatalError("GzipFileWriter: \(error)") }
            file += Array(FileManager.default.contents(atPath: path) ?? Data())
            boundaries.append(file.count)
        }
        if mode == 2 && file.count > 0 {
            cutAt = cut % file.count
            file = Array(file[0..<cutAt!])
        } else if mode == 3 {
            let tail = Array(input.rest.prefix(16))
            if let first = tail.first, first != 0x1F {
                file += tail
                garbage = true
            }
        }
    }

    // 1. The file reading path.
    let path = file.withUnsafeBytes { FuzzSupport.write("input.csv.gz", $0) }
    var viaFile: [UInt8]? = []
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    require(fd >= 0, "cannot open \(path)")
    do {
        let result = try ByteSource.decode(fd: fd, name: "input.csv.gz", compressed: true) { viaFile! += $0 }
        require(result.size == file.count, "decode read \(result.size) of \(file.count) bytes")
        require(result.sha256.count == 64, "sha256 \(result.sha256)")
    } catch is CustomerHealthError {
        viaFile = nil
    } catch {
        fatalError("decode threw \(type(of: error)): \(error)")
    }
    close(fd)

    // 2. The inflater alone, fed in chunks of 1-64 bytes.
    var direct: [UInt8]? = []
    do {
        let inflater = try GzipInflater(outputCapacity: outputCapacity)
        var at = 0
        var step = 1
        try file.withUnsafeBytes { all in
            while at < all.count {
                let n = min(step, all.count - at)
                try inflater.feed(UnsafeRawBufferPointer(rebasing: all[at..<(at + n)])) { direct! += $0 }
                at += n
                step = step % 64 + 7
            }
        }
        try inflater.finish()
        inflater.close()
    } catch is GzipError {
        direct = nil
    } catch {
        fatalError("GzipInflater threw \(type(of: error)): \(error)")
    }

    require((viaFile == nil) == (direct == nil), "decode \(viaFile == nil ? "failed" : "succeeded"), the chunked inflater \(direct == nil ? "failed" : "succeeded") (\(file.count) bytes)")
    if let viaFile, let direct { require(viaFile == direct, "decode and the chunked inflater give different bytes") }

    switch mode {
    case 1:
        require(viaFile == text, "a gzip file made from \(text.count) bytes decodes to \(viaFile.map { "\($0.count) other bytes" } ?? "an error")")
    case 2:
        if let cutAt {
            if cutAt == 0 || !boundaries.contains(cutAt) {
                require(viaFile == nil, "a gzip file cut at byte \(cutAt) of \(boundaries.last ?? 0) (member ends: \(boundaries)) is accepted")
            }
        }
    case 3:
        if garbage { require(viaFile == nil, "a gzip file followed by \(file.count - (boundaries.last ?? 0)) bytes of garbage is accepted") }
    default: break
    }

    if alsoAsExport {
        _ = IngestHarness.read(path: path, setup: 0, kind: 1, smallRows: true)
    }
    return 0
}
