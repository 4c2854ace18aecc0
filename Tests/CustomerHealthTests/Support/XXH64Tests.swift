import XCTest

@testable import CustomerHealth

/// The shard hash must be the one exporters can reproduce: XXH64 with seed 42,
/// as Spark's `xxhash64`. Vectors from the reference implementation (python-xxhash 3).
final class XXH64Tests: XCTestCase {
    func testReferenceVectorsWithSeed42() {
        let vectors: [(String, UInt64)] = [
            ("", 11_002_672_306_508_523_268),
            ("a", 9_864_288_744_972_464_332),
            ("cust_000001", 1_375_059_400_740_086_519),
            ("c1", 13_068_597_230_384_922_946),
            ("Acme-42", 8_538_302_599_461_187_261),
            ("ünïcödé", 17_629_127_797_477_770_010),
            (String(repeating: "x", count: 31), 16_730_281_937_987_387_870),
            (String(repeating: "y", count: 32), 5_202_031_258_905_353_636),
            (String(repeating: "z", count: 33), 10_035_381_441_739_362_615),
            ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 6_963_362_508_556_898_705),
        ]
        for (text, expected) in vectors {
            XCTAssertEqual(XXH64.hash(text, seed: 42), expected, text)
        }
    }

    func testSeedZeroOfTheEmptyInputIsTheSpecsValue() {
        XCTAssertEqual(XXH64.hash("", seed: 0), 0xEF46_DB37_51D8_E999)
    }
}
