import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// Watch mode's aggregates, fed file by file and a growing file piece by
/// piece, end in the same scores as a batch run on the final files.
final class LiveExportsTests: XCTestCase {
    func testFilesFedInBatchesGiveTheScoresOfABatchRun() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("live-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var options = SyntheticExportOptions()
        options.customers = 150
        options.days = 45
        options.seed = 3
        _ = try SyntheticExportGenerator.generate(options: options, to: root.path)
        let exports = root.appendingPathComponent("exports")
        // One day's activity arrives as a plain CSV that grows in three pieces.
        let growing = try SyntheticGenTestSupport.gunzip(exports.appendingPathComponent("activity-2026-11-20.csv.gz"))
        try FileManager.default.removeItem(at: exports.appendingPathComponent("activity-2026-11-20.csv.gz"))
        let bytes = Array(growing.utf8)
        let cuts = [0, bytes.count / 3 + 7, 2 * bytes.count / 3 + 3, bytes.count]
        let growingURL = exports.appendingPathComponent("activity-2026-11-20.csv")
        FileManager.default.createFile(atPath: growingURL.path, contents: nil)

        let config = try PipelineConfig.parse(
            text: "input: \(exports.path)\nmax_reject_ratio: 1\n", file: "test.yaml", baseDirectory: "/")
        let runner = IngestRunner(config: config, threads: 2, logger: .init(label: "test"))
        let all = try runner.listFiles()
        let live = try LiveExports(config: config, accountFiles: all.filter { $0.kind == .accounts })
        let events = all.filter { $0.kind != .accounts && $0.name != growingURL.lastPathComponent }
        func read(_ f: InputFile, resume: InputFileReader.Resume? = nil) -> LiveExports.Read {
            LiveExports.Read(file: f, resume: resume, stopAt: nil, rank: all.firstIndex(where: { $0.name == f.name })!)
        }
        // The first half of the files, then the rest, each batch knowing whom it touched.
        let half = events.count / 2
        let touched = try live.add(events.prefix(half).map { read($0) }).touched
        XCTAssertFalse(touched.isEmpty)
        XCTAssertEqual(touched, touched.sorted())
        _ = try live.add(events.dropFirst(half).map { read($0) })
        var resume: InputFileReader.Resume? = nil
        for k in 1..<cuts.count {
            let handle = try FileHandle(forWritingTo: growingURL)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(bytes[cuts[k - 1]..<cuts[k]]))
            try handle.close()
            let file = InputFile(
                kind: .activity, path: growingURL.path, name: growingURL.lastPathComponent, size: cuts[k])
            resume = try live.add([read(file, resume: resume)]).consumed[file.name]
        }
        XCTAssertEqual(resume?.offset, bytes.count)

        let batch = try runner.run()
        let liveData = live.result()
        XCTAssertEqual(liveData.rowsRead, batch.rowsRead)
        let asOf = try XCTUnwrap(batch.latestActivityDay)
        XCTAssertEqual(liveData.latestActivityDay, asOf)
        var pipeline = PipelineRunner(config: config, options: RunOptions(threads: 2), logger: .init(label: "test"))
        pipeline.progress = nil
        func scores(_ data: IngestResult) -> String {
            let snaps = pipeline.snapshots(data, asOf: asOf)
            return OutputRenderers.scoresJSONL(
                PortfolioScorer.score(
                    snaps, asOf: asOf, settings: config.scoring.resolvingTargets(from: snaps), threads: 2,
                    applicability: pipeline.applicability(data, asOf: asOf)))
        }
        XCTAssertEqual(scores(liveData), scores(batch))
    }
}
