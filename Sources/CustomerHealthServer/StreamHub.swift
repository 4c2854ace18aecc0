import CustomerHealth
import Foundation
import Synchronization

/// Which updates a WebSocket client asked for. Lines about no one customer
/// (kpi_update, heartbeat, run_loaded) reach every client.
public struct StreamFilter: Sendable, Equatable {
    public var customerIDs: Set<String>? = nil
    public var minPriority: String? = nil

    public init(customerIDs: Set<String>? = nil, minPriority: String? = nil) {
        self.customerIDs = customerIDs
        self.minPriority = minPriority
    }

    /// Intervention priorities, least urgent first.
    public static let priorities = ["low", "medium", "high", "critical"]

    func accepts(_ message: StreamMessage) -> Bool {
        guard let customer = message.customerID else { return true }
        if let customerIDs, !customerIDs.contains(customer) { return false }
        if let minPriority, let floor = Self.priorities.firstIndex(of: minPriority) {
            guard let p = message.priority, let rank = Self.priorities.firstIndex(of: p), rank >= floor else {
                return false
            }
        }
        return true
    }
}

/// One line of the stream, with what filters and replay need to know of it.
struct StreamMessage: Sendable {
    let text: String
    let seq: Int?
    let customerID: String?
    let priority: String?

    init(line: String) {
        text = line
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        let data = object?["data"] as? [String: Any]
        // Only numbered updates are kept for replay; a heartbeat repeats the last seq.
        seq = object?["type"] as? String == "heartbeat" ? nil : (object?["seq"] as? NSNumber)?.intValue
        customerID = data?["customer_id"] as? String
        priority = data?["intervention_priority"] as? String
    }
}

/// A connected WebSocket client: its queue of batches to send, and the
/// signal that it was dropped for falling behind.
public final class StreamClient: Sendable {
    public let id: Int
    /// Lines to send before the live ones: the updates missed since `?since=`.
    public let replay: [String]
    /// One element per published batch (the lines that pass the filter).
    public let batches: AsyncStream<[String]>
    let continuation: AsyncStream<[String]>.Continuation
    /// Lines queued and not yet handed to the connection.
    let pending = Atomic<Int>(0)
    /// Ends when the client is dropped as too slow (or disconnected).
    public let dropped: AsyncStream<Void>
    let droppedContinuation: AsyncStream<Void>.Continuation
    private let droppedFlag = Atomic<Bool>(false)
    /// Whether the hub dropped the client as too slow.
    public var wasDropped: Bool { droppedFlag.load(ordering: .relaxed) }

    init(id: Int, replay: [String]) {
        self.id = id
        self.replay = replay
        // Unbounded here: the hub bounds the queue by `pending`, in lines.
        (batches, continuation) = AsyncStream.makeStream(of: [String].self)
        (dropped, droppedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    func drop() {
        droppedFlag.store(true, ordering: .relaxed)
        continuation.finish()
        droppedContinuation.finish()
    }

    /// Called by the writer once a line is on its way to the client.
    public func sent(_ lines: Int = 1) { pending.subtract(lines, ordering: .relaxed) }
}

/// Fans the watch stream out to WebSocket clients and keeps the last
/// numbered updates for clients that reconnect with `?since=SEQ`.
public final class StreamHub: Sendable {
    public struct Limits: Sendable {
        /// A client with more lines than this still queued when the next
        /// batch comes is dropped as too slow. A client that keeps up takes
        /// any batch whole, however long (a new day can re-score every
        /// customer at once). Queued lines are shared between clients, so a
        /// deep queue costs a client little more than an array of references.
        public var clientBuffer = 50_000
        /// Numbered updates kept for `?since=` replay.
        public var replayBuffer = 10_000
        /// WebSocket clients at most (they also count as connections).
        public var maxClients = 4000
        public init() {}
    }

    private struct State {
        var clients: [Int: (client: StreamClient, filter: StreamFilter)] = [:]
        var nextID = 1
        /// A ring of the last numbered messages: `ring[(head + i) % capacity]`.
        var ring: [StreamMessage] = []
        var head = 0
        var lastSeq = 0
    }

    public let limits: Limits
    private let state = Mutex(State())
    private let metrics: ServerMetrics?

    public init(limits: Limits = Limits(), metrics: ServerMetrics? = nil) {
        self.limits = limits
        self.metrics = metrics
    }

    public var clientCount: Int { state.withLock { $0.clients.count } }

    /// Starts the numbering where the watch checkpoint left it, so that a
    /// client reconnecting after a server restart learns what it missed.
    public func resume(afterSeq seq: Int) {
        state.withLock { $0.lastSeq = max($0.lastSeq, seq) }
    }

    /// Registers a client. With `since`, its replay holds the buffered updates
    /// after that seq that pass the filter, preceded by a `replay_gap` line
    /// when some of them are no longer buffered, or when `since` is ahead of
    /// the stream (its numbering was reset). Nil when the hub is full.
    public func connect(filter: StreamFilter, since: Int?) -> StreamClient? {
        let client: StreamClient? = state.withLock { s in
            guard s.clients.count < limits.maxClients else { return nil }
            var replay: [String] = []
            if let since, since != s.lastSeq {
                let buffered = (0..<s.ring.count).map { s.ring[(s.head + $0) % s.ring.count] }
                let oldest = buffered.first?.seq ?? s.lastSeq + 1
                if oldest > since + 1 || since > s.lastSeq {
                    replay.append(
                        JSONValue.object([
                            ("type", .string("replay_gap")), ("since", .int(since)),
                            ("oldest_buffered_seq", .int(oldest)), ("last_seq", .int(s.lastSeq)),
                        ]).serialized())
                }
                replay += buffered.filter { ($0.seq ?? 0) > since && filter.accepts($0) }.map(\.text)
            }
            let client = StreamClient(id: s.nextID, replay: replay)
            s.nextID += 1
            s.clients[client.id] = (client, filter)
            return client
        }
        if client != nil { metrics?.webSocketConnected() }
        return client
    }

    public func update(_ client: StreamClient, filter: StreamFilter) {
        state.withLock { s in s.clients[client.id]?.filter = filter }
    }

    public func disconnect(_ client: StreamClient) {
        let removed = state.withLock { $0.clients.removeValue(forKey: client.id) != nil }
        client.continuation.finish()
        client.droppedContinuation.finish()
        if removed { metrics?.webSocketDisconnected() }
    }

    /// Sends lines to every client whose filter takes them, as one batch. A
    /// client still holding more than `clientBuffer` lines is dropped instead:
    /// its queue ends and its `dropped` signal fires.
    /// A numbered line at or below the last seq is dropped: the watch loop
    /// repeats its last batch when it restarts from its checkpoint.
    public func publish(_ lines: [String]) {
        let parsed = lines.map(StreamMessage.init(line:))
        var slow: [StreamClient] = []
        var sent = 0
        state.withLock { s in
            var messages: [StreamMessage] = []
            for m in parsed {
                if let seq = m.seq, seq <= s.lastSeq { continue }
                messages.append(m)
            }
            let everything = messages.map(\.text)
            for m in messages {
                if let seq = m.seq {
                    if s.ring.count < limits.replayBuffer {
                        s.ring.append(m)
                    } else if limits.replayBuffer > 0 {
                        s.ring[s.head] = m
                        s.head = (s.head + 1) % s.ring.count
                    }
                    s.lastSeq = max(s.lastSeq, seq)
                }
            }
            for (id, entry) in s.clients {
                let batch =
                    entry.filter == StreamFilter() ? everything : messages.filter(entry.filter.accepts).map(\.text)
                if batch.isEmpty { continue }
                if entry.client.pending.load(ordering: .relaxed) > limits.clientBuffer {
                    slow.append(entry.client)
                    s.clients[id] = nil
                    continue
                }
                entry.client.pending.add(batch.count, ordering: .relaxed)
                entry.client.continuation.yield(batch)
                sent += batch.count
            }
        }
        metrics?.webSocketSent(sent)
        for client in slow {
            client.drop()
            metrics?.webSocketDroppedSlow()
        }
    }
}
