/// What ingest holds in memory, store by store (`validate --memory`): the
/// figures that say where a run's memory goes and how it grows with
/// customers and with history, measured on the user's own exports.
public struct MemoryShare: Sendable, Equatable {
    /// The store, in words ("activity: user, feature and module days").
    public var store: String
    /// Heap bytes held: each array's capacity and header, not only its count.
    public var bytes: Int
    /// Entries held (days, words, versions), where the store counts any.
    public var entries: Int
}

/// The heap bytes an array holds: its header and capacity (0 when it has no buffer of its own).
@inline(__always)
func heapBytes<T>(of array: [T]) -> Int {
    array.capacity == 0 ? 0 : 32 + array.capacity * MemoryLayout<T>.stride
}

extension IngestResult {
    /// The stores ingest filled, largest first.
    public func memoryFootprint() -> [MemoryShare] {
        var nameDays = (0, 0)
        var names = (0, 0)
        var counts = (0, 0)
        var logins = (0, 0)
        var products = (0, 0)
        var uptime = (0, 0)
        var savings = (0, 0)
        let customers = aggregates.customers
        for c in 0..<aggregates.customerCount {
            let a = customers[c]
            nameDays.0 += heapBytes(of: a.nameDays)
            nameDays.1 += a.nameDays.count
            names.0 += a.names.heapBytes
            names.1 += a.names.count
            counts.0 += heapBytes(of: a.counts.words)
            counts.1 += a.counts.words.count
            logins.0 += heapBytes(of: a.logins.days)
            logins.1 += a.logins.days.count
            products.0 += heapBytes(of: a.products.words) + heapBytes(of: a.namedFeatures.words)
            products.1 += a.products.words.count + a.namedFeatures.words.count
            uptime.0 += heapBytes(of: a.uptime.days)
            uptime.1 += a.uptime.days.count
            savings.0 += a.savings.heapBytes
            savings.1 += a.savings.count
        }
        var accountBytes = heapBytes(of: accounts)
        for a in accounts {
            accountBytes += [a.customerID, a.name, a.plan].reduce(0) {
                $0 + ($1.utf8.count > 15 ? 32 + $1.utf8.count : 0)
            }
        }
        var lifecycleBytes = heapBytes(of: lifecycles)
        for l in lifecycles { lifecycleBytes += heapBytes(of: l.spells) }
        let shares = [
            MemoryShare(store: "activity: user, feature and module days", bytes: nameDays.0, entries: nameDays.1),
            MemoryShare(store: "activity: names (user, feature and module hashes)", bytes: names.0, entries: names.1),
            MemoryShare(store: "activity: event counts by day and kind", bytes: counts.0, entries: counts.1),
            MemoryShare(store: "activity: login days", bytes: logins.0, entries: logins.1),
            MemoryShare(store: "activity: named product events by day", bytes: products.0, entries: products.1),
            MemoryShare(store: "uptime: days", bytes: uptime.0, entries: uptime.1),
            MemoryShare(store: "savings: days", bytes: savings.0, entries: savings.1),
            MemoryShare(
                store: "per-customer records (fixed size)",
                bytes: aggregates.customerCount * MemoryLayout<CustomerActivity>.stride,
                entries: aggregates.customerCount),
            MemoryShare(
                store: "tickets: versions and indexes",
                bytes: heapBytes(of: ticketVersions) + heapBytes(of: ticketStart) + heapBytes(of: ticketOffsets)
                    + heapBytes(of: ticketsOfCustomer),
                entries: ticketVersions.count),
            MemoryShare(store: "accounts", bytes: accountBytes, entries: accounts.count),
            MemoryShare(store: "churn lifecycles", bytes: lifecycleBytes, entries: lifecycles.count),
        ]
        return shares.sorted { $0.bytes > $1.bytes }
    }
}

/// Gives back an array's spare capacity: arrays grown by appending hold up
/// to half again their count. `Array(array)` would share the same buffer,
/// slack and all; a copy into a buffer of the exact size does not.
func shrinkToFit<T>(_ array: inout [T]) {
    guard array.capacity > array.count + max(8, array.count / 16) else { return }
    array = [T](unsafeUninitializedCapacity: array.count) { buffer, initialized in
        initialized = array.withUnsafeBufferPointer { buffer.initialize(fromContentsOf: $0) }
    }
}
