import Foundation
import XCTest

@testable import CustomerHealth

/// Watch mode's view of the input folder: complete new files, growth,
/// and the changes that reading on cannot explain.
final class FileTrackerTests: XCTestCase {
    var dir: URL!
    let tracker = FileTracker(settleSeconds: 30)

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tracker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ name: String, _ text: String, age: Double) throws {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: url.path)
    }

    private func observe() throws -> [FileObservation] {
        let config = try PipelineConfig.parse(text: "input: \(dir.path)\n", file: "test.yaml", baseDirectory: "/")
        let files = try IngestRunner(config: config, threads: 1, logger: .init(label: "test")).listFiles()
        return FileTracker.observe(files)
    }

    private func known(_ observations: [FileObservation], offsets: [String: Int]) throws -> [String: TrackedFile] {
        var out: [String: TrackedFile] = [:]
        for o in observations {
            if let off = offsets[o.file.name] { out[o.file.name] = try FileTracker.track(o, offset: off) }
        }
        return out
    }

    func testNewFilesAreTakenOnceSettledAndPartialNamesNever() throws {
        try write("accounts.csv", "customer_id\n", age: 3600)
        try write("activity-1.csv", "a\n", age: 1)
        try write("activity-2.csv.part", "a\n", age: 3600)
        try write("activity-3.csv.tmp", "a\n", age: 3600)
        let changes = try tracker.changes(observed: try observe(), known: [:])
        XCTAssertEqual(changes.count, 2, "\(changes)")
        guard case .new(let o) = changes[0] else { return XCTFail("\(changes)") }
        XCTAssertEqual(o.file.name, "accounts.csv")
        XCTAssertEqual(changes[1], .settling(name: "activity-1.csv"))
    }

    func testGrowthTruncationReplacementAndRotation() throws {
        try write("accounts.csv", "customer_id\nc1\n", age: 3600)
        try write("activity-1.csv", "header\nrow1\n", age: 3600)
        try write("activity-2.csv", "header\nrow1\n", age: 3600)
        try write("activity-3.csv", "header\nrow1\n", age: 3600)
        try write("activity-4.csv", "header\nrow1\n", age: 3600)
        try write("activity-5.csv.gz", "not really gzip, never read here", age: 3600)
        let first = try observe()
        let state = try known(
            first,
            offsets: [
                "accounts.csv": 15, "activity-1.csv": 12, "activity-2.csv": 12, "activity-3.csv": 12,
                "activity-4.csv": 12, "activity-5.csv.gz": 32,
            ])
        XCTAssertEqual(try tracker.changes(observed: first, known: state), [], "nothing changed")

        // 1 grows (a half-written line is the reader's business), 2 is cut
        // short, 3 is rewritten in place, 4 is replaced by a rename, the
        // accounts file is rotated away, and the gzip file gets a member.
        let h1 = try FileHandle(forWritingTo: dir.appendingPathComponent("activity-1.csv"))
        try h1.seekToEnd()
        try h1.write(contentsOf: Data("row2\nro".utf8))
        try h1.close()
        try write("activity-2.csv", "header\n", age: 3600)
        let h3 = try FileHandle(forWritingTo: dir.appendingPathComponent("activity-3.csv"))
        try h3.write(contentsOf: Data("HEADER\nrow1\nrow2\n".utf8))
        try h3.close()
        try write("activity-4.csv.part", "header\nrow9\nrow10\n", age: 3600)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("activity-4.csv"))
        try FileManager.default.moveItem(
            at: dir.appendingPathComponent("activity-4.csv.part"), to: dir.appendingPathComponent("activity-4.csv"))
        try FileManager.default.moveItem(
            at: dir.appendingPathComponent("accounts.csv"), to: dir.appendingPathComponent("old-accounts"))
        try write("accounts2.csv", "customer_id\nc1\n", age: 3600)
        let h5 = try FileHandle(forWritingTo: dir.appendingPathComponent("activity-5.csv.gz"))
        try h5.seekToEnd()
        try h5.write(contentsOf: Data("more".utf8))
        try h5.close()

        let changes = try tracker.changes(observed: try observe(), known: state)
        XCTAssertEqual(changes.count, 7, "\(changes)")
        guard case .new(let added) = changes[0], added.file.name == "accounts2.csv" else {
            return XCTFail("\(changes[0])")
        }
        guard case .grown(let grown, let from) = changes[1] else { return XCTFail("\(changes[1])") }
        XCTAssertEqual(grown.file.name, "activity-1.csv")
        XCTAssertEqual(from, 12)
        XCTAssertEqual(changes[2], .truncated(name: "activity-2.csv", read: 12, size: 7))
        XCTAssertEqual(changes[3], .replaced(name: "activity-3.csv"))
        XCTAssertEqual(changes[4], .replaced(name: "activity-4.csv"))
        XCTAssertEqual(changes[5], .settling(name: "activity-5.csv.gz"), "a gzip file that is being written waits")
        XCTAssertEqual(changes[6], .vanished(name: "accounts.csv"))
    }
}
