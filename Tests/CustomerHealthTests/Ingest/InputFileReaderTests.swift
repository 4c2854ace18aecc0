import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

#if canImport(Glibc)
    import Glibc
#endif

/// The input reader in this process refuses a file before reading rows
/// from it: a header without a required column, a FIFO (without blocking).
final class InputFileReaderTests: XCTestCase {
    func testMissingColumnIsFoundBeforeAnyRowIsRead() throws {
        let f = try ExportsFolder()
        var rows = "customer_id,user_id,occurred_at\n"
        for i in 0..<1000 { rows += "c1,u\(i),2026-03-31T10:00:00Z\n" }
        try f.write("activity.csv", rows)
        let handler = CountingHandler()
        let reader = try InputFileReader(
            path: f.path("activity.csv"), settings: ExportSettings(kind: .activity),
            handler: handler, maxRowBytes: 1 << 20, includeRaw: true)
        XCTAssertThrowsError(try reader.read()) { error in
            guard case .input(let file, let message)? = error as? CustomerHealthError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "activity.csv")
            XCTAssertTrue(message.contains("event_type"), message)
        }
        XCTAssertEqual(handler.rows, 0, "no row reaches the aggregates once the header is known to be unusable")
    }

    /// In process: the reader refuses a FIFO at once. A helper thread opens
    /// the FIFO's write end after a while, so that a reader that blocks in
    /// open(2) is released (and fails this test) instead of hanging it.
    func testReaderRefusesAFIFOWithoutBlocking() throws {
        let f = try ExportsFolder()
        let path = f.path("activity.csv")
        XCTAssertEqual(mkfifo(path, 0o600), 0, "mkfifo")
        let released = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let rescue = Thread {
            if done.wait(timeout: .now() + 5) == .timedOut {
                let w = open(path, O_WRONLY | O_CLOEXEC)
                if w >= 0 { close(w) }
                released.signal()
            }
        }
        rescue.start()
        let started = Date()
        let reader = try InputFileReader(
            path: path, settings: ExportSettings(kind: .activity), handler: CountingHandler(),
            maxRowBytes: 1 << 20, includeRaw: true)
        XCTAssertThrowsError(try reader.read()) { error in
            guard case .input(let file, let message)? = error as? CustomerHealthError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "activity.csv")
            XCTAssertTrue(message.contains("FIFO") && message.contains("not a regular file"), message)
        }
        done.signal()
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "open(2) blocked on the FIFO")
        XCTAssertEqual(
            released.wait(timeout: .now()), .timedOut, "the reader had to be released by opening the FIFO's write end")
    }
}
