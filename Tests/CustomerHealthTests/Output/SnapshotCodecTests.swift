import Foundation
import XCTest

@testable import CustomerHealth

/// snapshots.bin gives back every snapshot exactly: the merge's outputs are
/// byte-identical to a run's only if every bit survives.
final class SnapshotCodecTests: XCTestCase {
    func snapshots() -> [CustomerSnapshot] {
        var features = FeatureVector()
        features.daysSinceLastLogin = 3
        features.dailyActiveUsers = 0.1 + 0.2
        features.featureAdoptionRate = 1.0 / 3.0
        features.uptimePercentage = nil
        features.costSavingsAchieved = 922_337_203_685.4775
        features.daysToFirstValue = -1
        var previous = FeatureVector()
        previous.avgFirstResponseHours = .ulpOfOne
        let full = AccountRecord(
            customerID: "Zürich GmbH, \"quoted\"", name: "名前", plan: "", mrr: 170.28,
            subscriptionStart: CalendarDay("2024-10-02")!,
            churnedAt: CalendarDay("2026-01-31"), subscriptionEnd: CalendarDay("2026-02-28"), seats: Int.max,
            featuresAvailable: 0,
            trainingModules: -5, acquisitionCost: 1602.34, nps: 10)
        let bare = AccountRecord(
            customerID: "c2", name: "", plan: "pro", mrr: nil, subscriptionStart: CalendarDay("2025-01-01")!,
            churnedAt: nil,
            seats: nil, featuresAvailable: nil, trainingModules: nil, acquisitionCost: nil, nps: nil)
        let spells = [
            CustomerLifecycle.Spell(from: CalendarDay("2025-03-01")!, until: CalendarDay("2025-04-01")),
            CustomerLifecycle.Spell(from: CalendarDay("2025-06-01")!, until: nil),
        ]
        return [
            CustomerSnapshot(
                account: full, lifecycle: CustomerLifecycle(start: full.subscriptionStart, spells: spells),
                active: true,
                features: features, previous: previous, modelInputs: [0.5, .nan, -0.0, .infinity, 1e-300]),
            CustomerSnapshot(
                account: bare, lifecycle: CustomerLifecycle(start: bare.subscriptionStart), active: false,
                features: nil, previous: nil),
        ]
    }

    func encoded(_ snaps: [CustomerSnapshot]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UUID().uuidString).bin")
        let w = try OutputFileWriter(path: url.path)
        try SnapshotCodec.write(snaps, to: w)
        try w.close()
        return url
    }

    func testRoundTripIsExactToTheBit() throws {
        let snaps = snapshots()
        let url = try encoded(snaps)
        defer { try? FileManager.default.removeItem(at: url) }
        let back = try SnapshotCodec.read(path: url.path)
        XCTAssertEqual(back.count, 2)
        for (a, b) in zip(snaps, back) {
            XCTAssertEqual(a.account.customerID, b.account.customerID)
            XCTAssertEqual(a.account.name, b.account.name)
            XCTAssertEqual(a.account.mrr?.bitPattern, b.account.mrr?.bitPattern)
            XCTAssertEqual(a.account.seats, b.account.seats)
            XCTAssertEqual(a.account.churnedAt, b.account.churnedAt)
            XCTAssertEqual(a.account.subscriptionEnd, b.account.subscriptionEnd)
            XCTAssertEqual(a.account.trainingModules, b.account.trainingModules)
            XCTAssertEqual(a.account.nps, b.account.nps)
            XCTAssertEqual(a.lifecycle, b.lifecycle)
            XCTAssertEqual(a.active, b.active)
            XCTAssertEqual(a.features, b.features)
            XCTAssertEqual(a.previous, b.previous)
            XCTAssertEqual(a.modelInputs?.map(\.bitPattern), b.modelInputs?.map(\.bitPattern))
        }
        // What features.jsonl says of them is the same line.
        let asOf = CalendarDay("2026-03-31")!
        for (a, b) in zip(snaps, back) {
            XCTAssertEqual(
                OutputRenderers.featuresJSONL([a], asOf: asOf, inputNames: ["a", "b", "c", "d", "e"]),
                OutputRenderers.featuresJSONL([b], asOf: asOf, inputNames: ["a", "b", "c", "d", "e"]))
        }
    }

    func testADamagedFileIsAnErrorNotACrash() throws {
        let url = try encoded(snapshots())
        defer { try? FileManager.default.removeItem(at: url) }
        let data = try Data(contentsOf: url)
        for cut in [data.count - 1, data.count / 2, 12, 9] {
            try data.prefix(cut).write(to: url)
            XCTAssertThrowsError(try SnapshotCodec.read(path: url.path), "cut at \(cut)") { error in
                XCTAssertTrue("\(error)".contains("is cut short or damaged"), "\(error)")
            }
        }
        var flipped = data
        flipped[16] = 0xFF  // a string length far past the end
        try flipped.write(to: url)
        XCTAssertThrowsError(try SnapshotCodec.read(path: url.path))
        try Data("not a snapshot".utf8).write(to: url)
        XCTAssertThrowsError(try SnapshotCodec.read(path: url.path)) { error in
            XCTAssertTrue("\(error)".contains("is not a snapshot file"), "\(error)")
        }
    }
}
