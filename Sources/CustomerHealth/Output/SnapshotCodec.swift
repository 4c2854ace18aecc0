import Foundation

/// Customer snapshots in a compact binary form, exact to the bit: how a
/// shard hands its customers to the merge (shard-K-of-N/snapshots.bin).
/// Decoding is a copy of fixed-width values, some ten times faster than
/// reading features.jsonl back, and every Double comes back with its bits,
/// so the merge renders features.jsonl and scores exactly as the shard
/// would have. Little-endian; the feature fields in FeatureVector.fields order.
///
///     "CHSNAP1\n", count: u64, then per customer:
///     customer_id, name, plan: u32 length + UTF-8
///     mrr: opt f64; subscription_start: i32; churned_at, subscription_end: opt i32
///     seats, features_available, training_modules: opt i64; acquisition_cost: opt f64; nps: opt i64
///     lifecycle: start i32, spells u32, each from i32 + until opt i32
///     active: u8; features, previous: opt vector; model_inputs: opt (u32 count + f64 each)
///     (opt: a u8 0 or 1, then the value when 1)
enum SnapshotCodec {
    static let magic = Array("CHSNAP1\n".utf8)

    static func write(_ snapshots: [CustomerSnapshot], to w: OutputFileWriter) throws {
        var out = ByteWriter()
        out.bytes(magic)
        out.u64(UInt64(snapshots.count))
        for s in snapshots {
            encode(s, into: &out)
            if out.buffer.count >= 1 << 20 {
                try w.write(bytes: out.buffer)
                out.buffer.removeAll(keepingCapacity: true)
            }
        }
        try w.write(bytes: out.buffer)
    }

    static func read(path: String) throws -> [CustomerSnapshot] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: no such file, or no permission")
        }
        guard data.starts(with: magic) else {
            throw CustomerHealthError.input(
                file: path, message: "is not a snapshot file of this version of customer-health")
        }
        return try data.withUnsafeBytes { raw throws(CustomerHealthError) -> [CustomerSnapshot] in
            var r = ByteReader(raw)
            do {
                _ = try r.bytes(magic.count)
                let count = Int(try r.u64())
                guard count <= raw.count else { throw ByteReader.End() }
                var out: [CustomerSnapshot] = []
                out.reserveCapacity(count)
                for _ in 0..<count { out.append(try decode(&r)) }
                guard r.atEnd else { throw ByteReader.End() }
                return out
            } catch {
                throw CustomerHealthError.input(file: path, message: "is cut short or damaged at byte \(r.offset)")
            }
        }
    }

    private static func encode(_ s: CustomerSnapshot, into out: inout ByteWriter) {
        let a = s.account
        out.string(a.customerID)
        out.string(a.name)
        out.string(a.plan)
        out.optional(a.mrr) { $0.f64($1) }
        out.i32(a.subscriptionStart.number)
        out.optional(a.churnedAt) { $0.i32($1.number) }
        out.optional(a.subscriptionEnd) { $0.i32($1.number) }
        out.optional(a.seats) { $0.i64($1) }
        out.optional(a.featuresAvailable) { $0.i64($1) }
        out.optional(a.trainingModules) { $0.i64($1) }
        out.optional(a.acquisitionCost) { $0.f64($1) }
        out.optional(a.nps) { $0.i64($1) }
        out.i32(s.lifecycle.start.number)
        out.u32(UInt32(s.lifecycle.spells.count))
        for spell in s.lifecycle.spells {
            out.i32(spell.from.number)
            out.optional(spell.until) { $0.i32($1.number) }
        }
        out.u8(s.active ? 1 : 0)
        out.optional(s.features) { w, v in for f in FeatureVector.fields { f.encode(v, into: &w) } }
        out.optional(s.previous) { w, v in for f in FeatureVector.fields { f.encode(v, into: &w) } }
        out.optional(s.modelInputs) { w, x in
            w.u32(UInt32(x.count))
            for v in x { w.f64(v) }
        }
    }

    private static func decode(_ r: inout ByteReader) throws -> CustomerSnapshot {
        let account = AccountRecord(
            customerID: try r.string(), name: try r.string(), plan: try r.string(),
            mrr: try r.optional { try $0.f64() },
            subscriptionStart: CalendarDay(number: try r.i32()),
            churnedAt: try r.optional { CalendarDay(number: try $0.i32()) },
            subscriptionEnd: try r.optional { CalendarDay(number: try $0.i32()) },
            seats: try r.optional { try $0.i64() },
            featuresAvailable: try r.optional { try $0.i64() }, trainingModules: try r.optional { try $0.i64() },
            acquisitionCost: try r.optional { try $0.f64() }, nps: try r.optional { try $0.i64() })
        let start = CalendarDay(number: try r.i32())
        let spellCount = Int(try r.u32())
        guard spellCount <= r.remaining else { throw ByteReader.End() }
        var spells: [CustomerLifecycle.Spell] = []
        for _ in 0..<spellCount {
            spells.append(
                .init(
                    from: CalendarDay(number: try r.i32()), until: try r.optional { CalendarDay(number: try $0.i32()) })
            )
        }
        let active = try r.u8() == 1
        func vector(_ r: inout ByteReader) throws -> FeatureVector {
            var v = FeatureVector()
            for f in FeatureVector.fields { try f.decode(into: &v, from: &r) }
            return v
        }
        let features = try r.optional { r in try vector(&r) }
        let previous = try r.optional { r in try vector(&r) }
        let inputs: [Double]? = try r.optional { r in
            let n = Int(try r.u32())
            guard n <= r.remaining else { throw ByteReader.End() }
            var x: [Double] = []
            x.reserveCapacity(n)
            for _ in 0..<n { x.append(try r.f64()) }
            return x
        }
        return CustomerSnapshot(
            account: account, lifecycle: CustomerLifecycle(start: start, spells: spells), active: active,
            features: features, previous: previous, modelInputs: inputs)
    }
}

/// Appends little-endian values to a byte buffer.
struct ByteWriter {
    var buffer: [UInt8] = []

    mutating func bytes(_ b: [UInt8]) { buffer.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { buffer.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func i64(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            u32(UInt32(u.count))
            buffer.append(contentsOf: u)
        }
    }
    mutating func optional<T>(_ v: T?, _ body: (inout ByteWriter, T) -> Void) {
        if let v {
            u8(1)
            body(&self, v)
        } else {
            u8(0)
        }
    }
}

/// Reads what ByteWriter wrote; every read checks that the bytes are there.
struct ByteReader {
    struct End: Error {}

    let raw: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    var remaining: Int { raw.count - offset }
    var atEnd: Bool { offset == raw.count }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw End() }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: raw[offset..<offset + n])
    }
    mutating func u8() throws -> UInt8 { try bytes(1)[0] }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try bytes(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try bytes(8).loadUnaligned(as: UInt64.self)) }
    mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    mutating func i64() throws -> Int { Int(Int64(bitPattern: try u64())) }
    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }
    mutating func string() throws -> String {
        let n = Int(try u32())
        let b = try bytes(n)
        guard let s = String(validating: b.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else { throw End() }
        return s
    }
    mutating func optional<T>(_ body: (inout ByteReader) throws -> T) throws -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try body(&self)
        default: throw End()
        }
    }
}
