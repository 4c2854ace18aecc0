import Foundation
import XCTest

@testable import CustomerHealth

final class ByteKeyTableTests: XCTestCase {
    func testIdsAreDenseInInsertionOrderAndSurviveGrowth() {
        var table = ByteKeyTable(capacity: 4)
        let keys = (0..<20_000).map { "customer-\($0 * 7919 % 100_003)" }
        for (i, k) in keys.enumerated() {
            XCTAssertEqual(table.findOrInsert(k), i)
        }
        XCTAssertEqual(table.count, keys.count)
        for (i, k) in keys.enumerated() {
            XCTAssertEqual(table.find(k), i, k)
            XCTAssertEqual(table.findOrInsert(k), i, "inserting again returns the same id")
            XCTAssertEqual(table.key(i), k)
        }
        XCTAssertEqual(table.count, keys.count)
        XCTAssertNil(table.find("customer-100004"))
    }

    func testKeysAreComparedByEveryByte() {
        var table = ByteKeyTable()
        let keys: [[UInt8]] = [
            [], [0], [0, 0], Array("abcdefgh".utf8), Array("abcdefgi".utf8), Array("abcdefghi".utf8),
            Array("abcdefgh\0".utf8), [0xFF, 0xFE], Array("Zürich".utf8), Array("Zu\u{308}rich".utf8),
        ]
        for (i, k) in keys.enumerated() {
            XCTAssertEqual(k.withUnsafeBytes { table.findOrInsert($0) }, i, "\(k)")
        }
        for (i, k) in keys.enumerated() {
            XCTAssertEqual(k.withUnsafeBytes { table.find($0) }, i, "\(k)")
            XCTAssertEqual(table.withKey(i) { Array($0) }, k)
        }
    }

    func testStringAndByteLookupsAgree() {
        var table = ByteKeyTable()
        let id = table.findOrInsert("cust_12345")
        XCTAssertEqual(Array("cust_12345".utf8).withUnsafeBytes { table.find($0) }, id)
        XCTAssertNil(table.find("cust_1234"))
        XCTAssertNil(table.find("cust_123456"))
    }
}
