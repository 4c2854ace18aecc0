import Foundation

/// Which customers one shard of a sharded run owns (docs/scale-out.md).
///
/// A customer's bucket is XXH64 of its trimmed customer_id (UTF-8, seed 42)
/// modulo 256, exactly Spark's `pmod(xxhash64(trim(customer_id)), 256)`; its
/// shard is the bucket modulo the shard count. Buckets, not customers, move
/// when the count changes, so pre-bucketed exports stay valid for any count.
public struct ShardSpec: Sendable, Equatable, CustomStringConvertible {
    public static let bucketCount = 256
    public static let hashSeed: UInt64 = 42

    /// 0-based index of this shard.
    public let index: Int
    /// How many shards the run has.
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw ShardSpecError("the shard count must be at least 1, got \(count)") }
        guard count <= ShardSpec.bucketCount else {
            throw ShardSpecError(
                "the shard count must be at most \(ShardSpec.bucketCount) (the number of hash buckets), got \(count)")
        }
        guard index >= 0 && index < count else {
            throw ShardSpecError("shard index \(index) is outside 0-\(count - 1) for \(count) shard(s)")
        }
        self.index = index
        self.count = count
    }

    /// `K/N`, as `--shard` takes it.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw ShardSpecError(
                "--shard expects K/N (this shard's 0-based index and the shard count, e.g. 0/4) or auto, got \"\(text)\""
            )
        }
        try self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }
    /// The folder a shard result is published as: shard-K-of-N.
    public var folderName: String { "\(ShardSpec.folderPrefix)\(index)-of-\(count)" }
    static let folderPrefix = "shard-"

    /// How a shard's files say which shard they are.
    var json: JSONValue {
        .object([
            ("index", .int(index)), ("count", .int(count)), ("buckets", .int(ShardSpec.bucketCount)),
            ("hash", .string("xxh64 seed 42 of the trimmed customer_id, modulo 256; shard = bucket modulo count")),
        ])
    }

    /// The engines whose array jobs `--shard auto` understands: the variable
    /// holding the index and the one holding the count. Kubernetes gives no
    /// count, so its manifests pass CH_SHARD_COUNT.
    public static let engines: [(name: String, index: String, count: String)] = [
        ("Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", "CH_SHARD_COUNT"),
        ("Slurm array", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"),
        ("AWS Batch array", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"),
        ("Cloud Run job", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"),
    ]

    /// The shard an engine's environment names (`--shard auto`). Exactly one
    /// engine's index must be set, with its count; a set CH_SHARD_COUNT must
    /// agree with the engine's own count.
    public static func fromEnvironment(_ env: [String: String]) throws -> ShardSpec {
        func value(_ name: String) -> String? {
            env[name].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let present = engines.filter { value($0.index) != nil }
        guard let engine = present.first else {
            let names = engines.map { "\($0.index) (\($0.name))" }.joined(separator: ", ")
            throw ShardSpecError(
                "--shard auto found no shard index in the environment: set one of \(names), or pass --shard K/N")
        }
        if present.count > 1 {
            let set = present.map { "\($0.index)=\(value($0.index)!)" }.joined(separator: ", ")
            throw ShardSpecError(
                "--shard auto found the indexes of several engines (\(set)); unset all but one, or pass --shard K/N")
        }
        let indexText = value(engine.index)!
        guard let index = Int(indexText) else {
            throw ShardSpecError("--shard auto: \(engine.index)=\"\(indexText)\" is not a whole number")
        }
        guard let countText = value(engine.count) else {
            throw ShardSpecError(
                "--shard auto: \(engine.index) is set (\(engine.name)) but \(engine.count), the shard count, is not; set it to the number of shards"
            )
        }
        guard let count = Int(countText) else {
            throw ShardSpecError("--shard auto: \(engine.count)=\"\(countText)\" is not a whole number")
        }
        if engine.count != "CH_SHARD_COUNT", let pinned = value("CH_SHARD_COUNT"), pinned != countText {
            throw ShardSpecError(
                "--shard auto: CH_SHARD_COUNT=\(pinned) contradicts \(engine.count)=\(countText); make them equal or unset CH_SHARD_COUNT"
            )
        }
        do {
            return try ShardSpec(index: index, count: count)
        } catch let error as ShardSpecError {
            throw ShardSpecError(
                "--shard auto (\(engine.index)=\(indexText), \(engine.count)=\(countText)): \(error.message)")
        }
    }

    /// The bucket of a customer id as it appears in a field: surrounding
    /// white space is trimmed as the accounts join trims it.
    @inline(__always)
    public static func bucket(ofField field: UnsafeRawBufferPointer) -> Int {
        var start = 0
        var end = field.count
        while start < end && (field[start] == 0x20 || field[start] == 0x09) { start += 1 }
        while end > start && (field[end - 1] == 0x20 || field[end - 1] == 0x09) { end -= 1 }
        // Other white space (non-breaking spaces and the like) is trimmed by
        // Foundation's rules, as the accounts join does: the rare slow path.
        let edges =
            end > start
            && (field[start] >= 0x80 || field[end - 1] >= 0x80 || field[start] < 0x20 || field[end - 1] < 0x20)
        if edges {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: field[start..<end]), as: UTF8.self)
            return bucket(of: text.trimmingCharacters(in: .whitespaces))
        }
        return Int(
            XXH64.hash(UnsafeRawBufferPointer(rebasing: field[start..<end]), seed: hashSeed) % UInt64(bucketCount))
    }

    /// The bucket of a trimmed customer id.
    public static func bucket(of customerID: String) -> Int {
        Int(XXH64.hash(customerID, seed: hashSeed) % UInt64(bucketCount))
    }

    /// The shard a bucket belongs to.
    @inline(__always)
    public func shard(ofBucket bucket: Int) -> Int { bucket % count }

    public func owns(customerID: String) -> Bool { shard(ofBucket: ShardSpec.bucket(of: customerID)) == index }

    @inline(__always)
    public func owns(field: UnsafeRawBufferPointer) -> Bool {
        shard(ofBucket: ShardSpec.bucket(ofField: field)) == index
    }

    /// Rows whose customer cannot be read (an empty or invalid customer_id,
    /// or a record that never got as far as its fields) belong to shard 0.
    public var ownsRowsWithoutCustomer: Bool { index == 0 }
}

/// A `--shard` value that cannot be used: a usage error (exit 2).
public struct ShardSpecError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ShardSpec {
    /// The bucket a row goes to, from its customer_id field: the id's, or
    /// bucket 0 (shard 0's for every count) when the field is empty or not UTF-8.
    @inline(__always)
    static func bucket(ofRowField field: UnsafeRawBufferPointer) -> Int {
        if FieldParser.isBlank(field) || !FieldParser.isValidUTF8(field) { return 0 }
        return bucket(ofField: field)
    }

    /// Whether this shard owns a row, from its customer_id field: by the id's
    /// bucket, or shard 0's when the field is empty or not UTF-8.
    @inline(__always)
    func ownsRow(customerField field: UnsafeRawBufferPointer) -> Bool {
        if FieldParser.isBlank(field) || !FieldParser.isValidUTF8(field) { return ownsRowsWithoutCustomer }
        return owns(field: field)
    }
}
