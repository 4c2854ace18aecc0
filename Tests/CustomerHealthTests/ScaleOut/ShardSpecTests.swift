import Foundation
import XCTest

@testable import CustomerHealth

/// `--shard auto` and the hash, without running anything.
final class ShardSpecTests: XCTestCase {
    func testEachEngineOfShardAuto() throws {
        XCTAssertEqual(
            try ShardSpec.fromEnvironment(["JOB_COMPLETION_INDEX": "2", "CH_SHARD_COUNT": "5"]),
            try ShardSpec(index: 2, count: 5))
        XCTAssertEqual(
            try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"]),
            try ShardSpec(index: 0, count: 3))
        XCTAssertEqual(
            try ShardSpec.fromEnvironment(["AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "10"]),
            try ShardSpec(index: 9, count: 10))
        XCTAssertEqual(
            try ShardSpec.fromEnvironment([
                "CLOUD_RUN_TASK_INDEX": "1", "CLOUD_RUN_TASK_COUNT": "2", "CH_SHARD_COUNT": "2",
            ]),
            try ShardSpec(index: 1, count: 2))
    }

    func testShardAutoRefusesWhatItCannotUse() {
        let cases: [([String: String], String)] = [
            ([:], "found no shard index"),
            (["JOB_COMPLETION_INDEX": "1"], "CH_SHARD_COUNT, the shard count, is not"),
            (["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"], "is not a whole number"),
            (["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "2"], "outside 0-1"),
            (
                ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "0"],
                "several engines"
            ),
            (
                ["AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "2", "CH_SHARD_COUNT": "3"],
                "contradicts"
            ),
            (["CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "300"], "at most 256"),
        ]
        for (env, expected) in cases {
            XCTAssertThrowsError(try ShardSpec.fromEnvironment(env), "\(env)") { error in
                XCTAssertTrue("\(error)".contains(expected), "\(env): \(error)")
            }
        }
        for text in ["3", "1/0", "-1/2", "a/b", "2/2", "1/2/3"] {
            XCTAssertThrowsError(try ShardSpec(parsing: text), text)
        }
    }

    /// Buckets as an exporter computes them: `pmod(xxhash64(trim(customer_id)), 256)`
    /// in Spark; Python `xxhash.xxh64_intdigest(id.strip().encode(), seed=42) % 256`.
    func testBucketVectors() throws {
        // (id, Spark's signed xxhash64, bucket), from python-xxhash 3.
        let vectors: [(String, Int64, Int)] = [
            ("cust_000001", 1_375_059_400_740_086_519, 247), ("acme", -2_095_142_721_866_474_813, 195),
            ("Zürich GmbH", 5_117_192_533_857_696_112, 112), ("", -7_444_071_767_201_028_348, 4),
            ("c-000042", -8_320_923_456_862_816_878, 146), ("ACME-7", 3_030_281_847_117_369_059, 227),
        ]
        for (id, spark, bucket) in vectors {
            XCTAssertEqual(Int64(bitPattern: XXH64.hash(id, seed: 42)), spark, id)
            XCTAssertEqual(ShardSpec.bucket(of: id), bucket, id)
            // pmod of the signed value is the unsigned value modulo 256.
            XCTAssertEqual(Int(((spark % 256) + 256) % 256), bucket, id)
        }
        // The field form trims spaces around the id, as the accounts join does.
        let field = Array("  cust_000001\t".utf8)
        field.withUnsafeBytes { XCTAssertEqual(ShardSpec.bucket(ofField: $0), 247) }
        let nbsp = Array("\u{00A0}acme\u{00A0}".utf8)
        nbsp.withUnsafeBytes { XCTAssertEqual(ShardSpec.bucket(ofField: $0), 195) }
        let spec = try ShardSpec(index: 3, count: 4)
        XCTAssertTrue(spec.owns(customerID: "cust_000001"), "bucket 247 is shard 3 of 4")
        XCTAssertTrue(spec.owns(customerID: "acme"), "bucket 195 is shard 3 of 4")
        XCTAssertFalse(spec.owns(customerID: "Zürich GmbH"), "bucket 112 is shard 0 of 4")
    }
}
