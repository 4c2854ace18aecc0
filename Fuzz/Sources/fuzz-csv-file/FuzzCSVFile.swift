// Fuzz target `csv-file`: a CSV export read whole, as `run` reads it:
// InputFileReader (line splitting, BOM, header mapping, libcsv through
// CSVRecordReader) and the export's real row handler (field parsing, range
// checks, customer lookup), under the settings of a real pipeline file.
//
// Input: two control bytes, then the file's bytes.
//   byte 0: bits 0-2 the export (accounts, activity, tickets, uptime, savings),
//           bit 3 max_row_bytes 1024 instead of the pipeline's,
//           bit 4 also read it as the watch mode does, in two steps (see below),
//           bit 5 also read it with its rows across the 1 MiB read-block boundary,
//           bit 6 also read it gzipped (.csv.gz)
//   byte 1: low 4 bits: the pipeline file (pipelines/nightly.yaml, then
//           pipelines/examples/*.yaml in name order); high 4 bits: where the
//           first step of the two-step read stops, and how far before the
//           1 MiB boundary the rows start.
//
// Checks: rows read = accepted + rejected + unknown customer; one reject
// record per rejected row; read() throws only CustomerHealthError. For the
// two-step read (the watch mode reading a growing file: first the prefix,
// then the rest from where it stopped) of a file that ends with a newline,
// holds no quote and no over-long line: the two steps read and accept the
// same rows as one read of the whole file. Moved across InputFileReader's
// 1 MiB read-block boundary (the first line, then empty lines up to just
// before the boundary, then the rest: the CR, CRLF, BOM and carry handling
// between blocks), and gzipped, the file reads the same rows, accepted and
// rejected with the same codes.
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSVFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let c0 = input.byte(), c1 = input.byte()
    let kind = Int(c0 & 7) % IngestHarness.kindNames.count
    let smallRows = c0 & 8 != 0
    let setup = Int(c1) % IngestHarness.setupCount
    let bytes = input.rest
    let name = "\(IngestHarness.kindNames[kind])-fuzz.csv"
    let path = FuzzSupport.write(name, bytes)
    let whole = IngestHarness.read(path: path, setup: setup, kind: kind, smallRows: smallRows)

    if c0 & 16 != 0 {
        let limit = smallRows ? 1024 : 1 << 20
        var longest = 0, run = 0
        for b in bytes { if b == 0x0A { run = 0 } else { run += 1; longest = max(longest, run) } }
        // Accounts are not read in steps by the watch mode (and reject a customer_id repeated within one file).
        let comparable = kind != 0 && whole.error == nil && bytes.last == 0x0A && !bytes.contains(UInt8(ascii: "\"")) && longest < limit
        // Step 1: the file as it was when first seen.
        let cut = bytes.count * Int(c1 >> 4) / 16
        FuzzSupport.write(name, UnsafeRawBufferPointer(rebasing: bytes[0..<cut]))
        let first = IngestHarness.read(path: path, setup: setup, kind: kind, smallRows: smallRows, watch: true)
        // Step 2: the whole file, from where step 1 stopped.
        FuzzSupport.write(name, bytes)
        let resume = first.error == nil ? (first.consumedOffset, first.consumedLines, first.consumedInsideRejectedLine) : (0, 0, false)
        require(resume.0 >= 0 && resume.0 <= cut, "step 1 consumed up to byte \(resume.0) of \(cut)")
        let second = IngestHarness.read(path: path, setup: setup, kind: kind, smallRows: smallRows, watch: true, resume: resume)
        if comparable && first.error == nil && second.error == nil {
            require(first.rowsRead + second.rowsRead == whole.rowsRead && first.rowsAccepted + second.rowsAccepted == whole.rowsAccepted,
                "read in two steps (cut at \(cut)): \(first) + \(second); read whole: \(whole)")
        }
    }
    // Where the file is read in 1 MiB blocks, and gzipped: the same rows.
    if c0 & 32 != 0, let padded = IngestHarness.padded(bytes, straddle: 1 + Int(c1 >> 4) * 67, csv: true) {
        let paddedPath = FuzzSupport.write(name, padded)
        let across = IngestHarness.read(path: paddedPath, setup: setup, kind: kind, smallRows: smallRows)
        require(across.sameRows(as: whole), "with its rows moved across the 1 MiB read-block boundary (empty lines after line 1): \(across); read as it is: \(whole)")
        if c0 & 64 != 0 {
            let gz = IngestHarness.read(path: IngestHarness.writeGzip(name + ".gz", padded), setup: setup, kind: kind, smallRows: smallRows)
            require(gz.sameRows(as: whole), "gzipped, rows across the 1 MiB boundary: \(gz); plain: \(whole)")
        }
    } else if c0 & 64 != 0 {
        let gz = IngestHarness.read(path: IngestHarness.writeGzip(name + ".gz", Array(bytes)), setup: setup, kind: kind, smallRows: smallRows)
        require(gz.sameRows(as: whole), "gzipped: \(gz); plain: \(whole)")
    }
    return 0
}
