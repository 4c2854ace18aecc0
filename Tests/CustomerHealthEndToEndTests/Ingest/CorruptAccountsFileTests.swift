import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// A corrupt accounts file under `on_corrupt_file: skip` stops the run
/// instead of publishing a run without customers over a good one.
final class CorruptAccountsFileTests: XCTestCase {
    /// Under on_corrupt_file: skip, a corrupt (only) accounts file is skipped,
    /// every other row becomes unknown_customer (which does not count towards
    /// max_reject_ratio), and an empty run replaces the day's good outputs with exit 0.
    func testCorruptAccountsFileUnderSkipDoesNotPublishAnEmptyRun() throws {
        let f = try ExportsFolder()
        try f.writeSample()
        try f.remove("accounts.csv")
        try f.writeGzip("accounts.csv.gz", Sample.accountsCSV)
        try f.writePipeline(maxRejectRatio: 0.001, "on_corrupt_file: skip\nas_of: 2026-03-31\n")
        XCTAssertEqual(try f.run().status, 0)
        let before = snapshotTree(f.output)
        var b = try f.bytes("accounts.csv.gz")
        b[b.count - 8] ^= 0xFF
        try f.write("accounts.csv.gz", bytes: b)
        let r = try f.run()
        XCTAssertEqual(r.status, 3, r.transcript)
        XCTAssertEqual(
            snapshotTree(f.output), before, "the good run of 2026-03-31 was replaced by one with 0 customers")
    }
}
