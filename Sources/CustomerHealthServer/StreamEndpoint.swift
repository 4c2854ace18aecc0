import CustomerHealth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import ServiceLifecycle

/// `WS /ws/customer-health`: the watch stream, filtered per client.
///
/// Query: `since=SEQ` replays the buffered updates after SEQ; `customer_ids`
/// (comma-separated) and `min_priority` set the first filter. Messages from
/// the client: {"subscribe": {"customer_ids": [...], "min_priority": "high"}}
/// replaces the filter and is acknowledged with a `subscribed` line.
struct StreamEndpoint: Sendable {
    let hub: StreamHub
    let logger: Logger

    func addRoute(to router: Router<BasicWebSocketRequestContext>) {
        router.ws(
            RouterPath(Routes.stream),
            shouldUpgrade: { request, _ in
                guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                    throw APIError(
                        .upgradeRequired,
                        "\(Routes.stream) is a WebSocket: connect with a WebSocket client (Upgrade: websocket)",
                        headers: [.upgrade: "websocket"])
                }
                _ = try Self.connectOptions(request.uri.queryParameters)
                guard hub.clientCount < hub.limits.maxClients else {
                    throw APIError(
                        .serviceUnavailable,
                        "the stream has its maximum of \(hub.limits.maxClients) clients; try again later")
                }
                return .upgrade([:])
            },
            onUpgrade: { inbound, outbound, context in
                let (filter, since) = try Self.connectOptions(context.request.uri.queryParameters)
                guard let client = hub.connect(filter: filter, since: since) else {
                    try await outbound.close(.unknown(1013), reason: "too many clients; try again later")
                    return
                }
                defer { hub.disconnect(client) }
                do {
                    // A server shutting down ends the session; the WebSocket
                    // layer then sends a normal close frame (1000).
                    try await cancelWhenGracefulShutdown { try await session(client, inbound, outbound) }
                } catch is CancellationError {
                    return
                }
                if client.wasDropped {
                    logger.warning(
                        "dropped a WebSocket client that fell more than \(hub.limits.clientBuffer) lines behind")
                    // The close frame may not get through to a client that stopped
                    // reading; the server's close timeout then ends the connection.
                    try? await withTimeout(.seconds(2)) {
                        try await outbound.close(
                            .policyViolation, reason: "too slow: more than \(hub.limits.clientBuffer) lines queued")
                    }
                }
            })
    }

    /// Sends the client its replay and its batches, and takes its subscribe
    /// messages, until it leaves, its queue ends, or the hub drops it (which
    /// also cancels a write stuck on a client that stopped reading).
    private func session(_ client: StreamClient, _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for line in client.replay { try await outbound.write(.text(line)) }
                for await batch in client.batches {
                    for line in batch {
                        try await outbound.write(.text(line))
                        client.sent()
                    }
                }
            }
            group.addTask {
                for try await message in inbound.messages(maxSize: 64 * 1024) {
                    try await outbound.write(.text(subscribe(client, message)))
                }
            }
            group.addTask {
                for await _ in client.dropped {}
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The filter and `since` of a connection's query.
    static func connectOptions(_ query: FlatDictionary<Substring, Substring>) throws -> (StreamFilter, Int?) {
        var since: Int? = nil
        if let text = query["since"] {
            guard let n = Int(text), n >= 0 else {
                throw APIError(.badRequest, "since must be a sequence number (0 or more), not \"\(text)\"")
            }
            since = n
        }
        var filter = StreamFilter()
        if let ids = query["customer_ids"] {
            filter.customerIDs = Set(ids.split(separator: ",").map(String.init))
        }
        if let p = query["min_priority"] {
            guard StreamFilter.priorities.contains(String(p)) else {
                throw APIError(.badRequest, "min_priority must be one of low, medium, high, critical, not \"\(p)\"")
            }
            filter.minPriority = String(p)
        }
        return (filter, since)
    }

    /// Applies a subscribe message; returns the line that answers it.
    func subscribe(_ client: StreamClient, _ message: WebSocketMessage) -> String {
        func error(_ text: String) -> String {
            JSONValue.object([("type", .string("error")), ("message", .string(text))]).serialized()
        }
        guard case .text(let text) = message,
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
            let body = object["subscribe"] as? [String: Any]
        else {
            return error(#"send {"subscribe": {"customer_ids": ["..."]}} or {"subscribe": {"min_priority": "high"}}"#)
        }
        var filter = StreamFilter()
        if let ids = body["customer_ids"], !(ids is NSNull) {
            guard let list = ids as? [String] else {
                return error("customer_ids must be a list of customer id strings")
            }
            filter.customerIDs = Set(list)
        }
        if let p = body["min_priority"], !(p is NSNull) {
            guard let p = p as? String, StreamFilter.priorities.contains(p) else {
                return error("min_priority must be one of low, medium, high, critical")
            }
            filter.minPriority = p
        }
        hub.update(client, filter: filter)
        return JSONValue.object([
            ("type", .string("subscribed")),
            ("customer_ids", filter.customerIDs.map { .array($0.sorted().map(JSONValue.string)) } ?? .null),
            ("min_priority", .optionalString(filter.minPriority)),
        ]).serialized()
    }
}

/// Runs `body`, giving up after `limit`.
func withTimeout(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await body() }
        group.addTask { try await Task.sleep(for: limit) }
        try await group.next()
        group.cancelAll()
    }
}
