/// An open-addressing hash table from byte strings to dense integer ids.
///
/// Ingest looks up a customer, a user and a feature for each of millions of
/// rows; doing that on raw field bytes, without building a `String` per
/// field, is what keeps aggregation off the profile. Ids are assigned in
/// insertion order, so `key(of:)` recovers the bytes.
struct ByteKeyTable {
    /// One probe position: the full hash, the id, and the first 16 key bytes
    /// inline, so that a lookup of a short key (customer ids are) touches one
    /// cache line instead of three.
    struct Slot {
        var hash: UInt64 = 0
        var id: Int32 = -1
        var length: Int32 = 0
        var prefix0: UInt64 = 0
        var prefix1: UInt64 = 0
    }

    private var slots: [Slot]
    private var hashes: [UInt64] = []  // per id
    private var keyStarts: [Int] = [0]  // per id, plus the end
    private var keyBytes: [UInt8] = []
    private var mask: Int

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
    }

    var count: Int { hashes.count }

    @inline(__always)
    static func prefix(_ key: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let n = key.count
        if n >= 16 {
            return (
                key.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                key.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            )
        }
        var w0: UInt64 = 0
        var w1: UInt64 = 0
        if n >= 8 {
            w0 = key.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            for i in 8..<n { w1 |= UInt64(key[i]) << (UInt64(i - 8) * 8) }
        } else {
            for i in 0..<n { w0 |= UInt64(key[i]) << (UInt64(i) * 8) }
        }
        return (w0, w1)
    }

    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        // A multiply-xorshift over 8-byte words: fast, and good enough for ids.
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ seed ^ UInt64(key.count)
        var i = 0
        let n = key.count
        while i + 8 <= n {
            let w = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(key[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }

    @inline(__always)
    private func matches(_ slot: Slot, _ h: UInt64, _ key: UnsafeRawBufferPointer, _ p: (UInt64, UInt64)) -> Bool {
        guard slot.hash == h, Int(slot.length) == key.count, slot.prefix0 == p.0, slot.prefix1 == p.1 else {
            return false
        }
        if key.count <= 16 { return true }
        let start = keyStarts[Int(slot.id)]
        return keyBytes.withUnsafeBytes { stored in
            memcmp(stored.baseAddress! + start + 16, key.baseAddress! + 16, key.count - 16) == 0
        }
    }

    func find(_ key: UnsafeRawBufferPointer) -> Int? {
        let h = ByteKeyTable.hash(key)
        let p = ByteKeyTable.prefix(key)
        return slots.withUnsafeBufferPointer { slots in
            var position = Int(truncatingIfNeeded: h) & mask
            while true {
                let slot = slots[position]
                if slot.id < 0 { return nil }
                if matches(slot, h, key, p) { return Int(slot.id) }
                position = (position + 1) & mask
            }
        }
    }

    /// The id of `key`, inserting it when new.
    mutating func findOrInsert(_ key: UnsafeRawBufferPointer) -> Int {
        let h = ByteKeyTable.hash(key)
        let p = ByteKeyTable.prefix(key)
        var position = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[position]
            if slot.id < 0 { break }
            if matches(slot, h, key, p) { return Int(slot.id) }
            position = (position + 1) & mask
        }
        let id = hashes.count
        hashes.append(h)
        keyBytes.append(contentsOf: key)
        keyStarts.append(keyBytes.count)
        slots[position] = Slot(hash: h, id: Int32(id), length: Int32(key.count), prefix0: p.0, prefix1: p.1)
        if hashes.count * 2 > slots.count { grow() }
        return id
    }

    mutating func findOrInsert(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { findOrInsert(UnsafeRawBufferPointer($0)) }
    }

    func find(_ key: String) -> Int? {
        var key = key
        return key.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    private mutating func grow() {
        let old = slots
        let size = slots.count * 2
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
        for slot in old where slot.id >= 0 {
            var position = Int(truncatingIfNeeded: slot.hash) & mask
            while slots[position].id >= 0 { position = (position + 1) & mask }
            slots[position] = slot
        }
    }

    func withKey<R>(_ id: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let start = keyStarts[id]
        let end = keyStarts[id + 1]
        return keyBytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    func key(_ id: Int) -> String {
        withKey(id) { String(decoding: $0, as: UTF8.self) }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
