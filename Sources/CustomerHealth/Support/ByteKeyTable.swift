/// An open-addressing hash table from byte strings to dense integer ids.
///
/// Ingest looks up a customer, a user and a feature for each of millions of
/// rows; doing that on raw field bytes, without building a `String` per
/// field, is what keeps aggregation off the profile. Ids are assigned in
/// insertion order, so `key(of:)` recovers the bytes.
struct ByteKeyTable {
    private var slots: [Int32]  // id + 1, 0 when empty
    private var hashes: [UInt64] = []  // per id
    private var keyStarts: [Int] = [0]  // per id, plus the end
    private var keyBytes: [UInt8] = []
    private var mask: Int

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { hashes.count }

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
    private func keyEquals(_ id: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = keyStarts[id]
        let length = keyStarts[id + 1] - start
        guard length == key.count else { return false }
        return keyBytes.withUnsafeBytes { stored in
            guard length > 0 else { return true }
            return memcmp(stored.baseAddress! + start, key.baseAddress!, length) == 0
        }
    }

    func find(_ key: UnsafeRawBufferPointer) -> Int? {
        let h = ByteKeyTable.hash(key)
        var position = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(slots[position])
            if entry == 0 { return nil }
            if hashes[entry - 1] == h && keyEquals(entry - 1, key) { return entry - 1 }
            position = (position + 1) & mask
        }
    }

    /// The id of `key`, inserting it when new.
    mutating func findOrInsert(_ key: UnsafeRawBufferPointer) -> Int {
        let h = ByteKeyTable.hash(key)
        var position = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(slots[position])
            if entry == 0 { break }
            if hashes[entry - 1] == h && keyEquals(entry - 1, key) { return entry - 1 }
            position = (position + 1) & mask
        }
        let id = hashes.count
        hashes.append(h)
        keyBytes.append(contentsOf: key)
        keyStarts.append(keyBytes.count)
        slots[position] = Int32(id + 1)
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
        let size = slots.count * 2
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        for id in 0..<hashes.count {
            var position = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[position] != 0 { position = (position + 1) & mask }
            slots[position] = Int32(id + 1)
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
