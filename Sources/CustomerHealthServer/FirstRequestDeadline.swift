import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Connections still waiting for their first request head: a graceful
/// shutdown closes them at once instead of waiting for their deadline.
///
/// A connection the kernel had queued when the shutdown began may be set up
/// only after `closeAll`: once closing, `add` closes it there and then, so
/// that it cannot hold the shutdown for its whole deadline.
final class PendingConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }
    private let state = Mutex(State())

    func add(_ channel: any Channel) {
        let admitted = state.withLock { state in
            if state.closing { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        if !admitted { channel.close(promise: nil) }
    }

    func remove(_ channel: any Channel) { _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeAll() {
        let channels = state.withLock { state in
            state.closing = true
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// Waits for the graceful shutdown, then closes the pending connections.
struct PendingConnectionsCloser: Service {
    let pending: PendingConnections

    func run() async throws {
        try? await gracefulShutdown()
        pending.closeAll()
    }
}

/// Guards a connection until its first request head has arrived whole.
///
/// The WebSocket-upgrade channel starts its idle timer only after a first
/// request, and leaves a head above the size limit unanswered, so without
/// this a client that connects and sends nothing (or too much) would hold
/// its connection, and a graceful shutdown, for ever. It reads the raw bytes
/// for the blank line that ends the first head: a head larger than
/// `maxHeadBytes` gets 431 and the connection is closed, as is one that has
/// not arrived within `timeout`. After the first head it only passes bytes on.
final class FirstRequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let maxHeadBytes: Int
    private let pending: PendingConnections
    private var deadline: Scheduled<Void>?
    /// The last bytes seen, to find "\r\n\r\n" across reads.
    private var tail: UInt32 = 0
    private var seen = 0
    private var done = false

    init(timeout: TimeAmount, maxHeadBytes: Int, pending: PendingConnections) {
        self.timeout = timeout
        self.maxHeadBytes = maxHeadBytes
        self.pending = pending
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        pending.add(channel)
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    private func finish(_ context: ChannelHandlerContext) {
        done = true
        deadline?.cancel()
        pending.remove(context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) { finish(context) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done {
            let buffer = unwrapInboundIn(data)
            for byte in buffer.readableBytesView {
                tail = tail << 8 | UInt32(byte)
                seen += 1
                if tail == 0x0D0A_0D0A {
                    finish(context)
                    break
                }
                if seen > maxHeadBytes {
                    finish(context)
                    let answer = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    let channel = context.channel
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).whenComplete { _ in channel.close(promise: nil) }
                    return
                }
            }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context)
        context.fireChannelInactive()
    }
}

/// The HTTP/1 channel with WebSocket upgrade, with a deadline for the first
/// request head.
struct DeadlinedUpgradeChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let headTimeout: TimeAmount
    let maxHeadBytes: Int
    let pending: PendingConnections

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstRequestDeadline(timeout: headTimeout, maxHeadBytes: maxHeadBytes, pending: pending))
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
