import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import ServiceLifecycle
import Synchronization

// Every connection is bounded by a deadline, whatever it sends:
//
// - until its first request head is decoded: `FirstHeadDeadline` (the head
//   deadline, and the head size limit);
// - then, speaking HTTP: Hummingbird's idle timeout between requests,
//   `HTTPConnectionGuard`'s body deadline within one, its send-stall
//   deadline for answers the client does not read, and the linger deadline
//   once the server has given its last answer and shut its side;
// - or, upgraded to a WebSocket: the pings that the client must answer (a
//   client that does not read does not answer them either), and the close
//   timeout once either side has sent a close frame.
//
// The pipeline of a connection, before its first head:
//   FirstHeadDeadline, HTTP decoder, HTTP encoder, upgrade handler, HTTPConnectionGuard
// and after it, either
//   FirstHeadDeadline, HTTP decoder, HTTP encoder, HTTPConnectionGuard, HTTP1ToHTTPServerCodec, HTTPConnectionStateHandler, …
// or
//   FirstHeadDeadline, HTTPConnectionGuard, frame encoder, frame decoder, MaskedClientFrames, …

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

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

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

/// The limits the guards of one connection enforce.
struct ConnectionLimits: Sendable {
    /// From the connection's opening to its first request head, decoded.
    var firstHeadTimeout: TimeAmount
    /// Bytes of the first request head (request line and headers).
    var maxHeadBytes: Int
    /// From a request's head to the end of its body.
    var bodyTimeout: TimeAmount
    /// From the server shutting its side, its last answer sent, to the
    /// connection's close, if the client has not closed its side by then.
    var linger: TimeAmount
    /// How long the answers waiting for the client may stay without a byte
    /// of them sent, while the connection takes no more.
    var sendStall: TimeAmount
}

/// Shuts the server's side of the connection once all that was written has
/// gone out (the client reads the end of the stream), then closes the
/// connection when the client closes its side or, at the latest, `linger`
/// later.
///
/// Closing at once could make the kernel reset the connection while the
/// client still sends (a body, pipelined requests), and a reset can destroy
/// the answer before the client reads it; waiting for the client without a
/// limit would let it hold the connection.
func shutOutputThenClose(_ context: ChannelHandlerContext, linger: TimeAmount, promise: EventLoopPromise<Void>? = nil) {
    let shut = promise ?? context.eventLoop.makePromise(of: Void.self)
    let channel = context.channel
    shut.futureResult.whenSuccess { channel.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) } }
    context.close(mode: .output, promise: shut)
}

/// Guards a connection until its first request head has been decoded.
///
/// The WebSocket-upgrade channel starts its idle timer only after a first
/// request, and neither answers nor closes a connection whose first head
/// fails to parse (a request line without a version, say), so without this
/// such a connection, and a graceful shutdown, would wait for ever.
///
/// The deadline ends only when `HTTPConnectionGuard` reports the head decoded,
/// never on the bytes alone: whatever a client sends, the connection is
/// closed if no head has come out of the decoder in time. The raw bytes are
/// counted up to the blank line that ends the head: a head larger than
/// `maxHeadBytes` gets 431 and the connection is closed.
final class FirstHeadDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case awaitingHead
        case headDecoded
        /// Answered with an error and closing: what else comes is dropped.
        case refused
    }

    private let limits: ConnectionLimits
    private let pending: PendingConnections
    private var phase = Phase.awaitingHead
    private var deadline: Scheduled<Void>?
    /// Set while in the pipeline: `refuse` is called from another handler.
    private var context: ChannelHandlerContext?
    /// The last bytes seen, to find the blank line across reads.
    private var tail: UInt32 = 0
    private var headBytes = 0
    /// Empty lines before the request line are skipped (RFC 9112, 2.2), so
    /// they cannot end the head early; they still count towards its size.
    private var requestLineStarted = false
    private var blankLineSeen = false

    init(limits: ConnectionLimits, pending: PendingConnections) {
        self.limits = limits
        self.pending = pending
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let channel = context.channel
        pending.add(channel)
        deadline = context.eventLoop.scheduleTask(in: limits.firstHeadTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        endDeadline(context.channel)
        self.context = nil
    }

    /// The first head came out of the decoder: the deadline is over.
    func headDecoded() {
        guard phase == .awaitingHead, let context else { return }
        phase = .headDecoded
        endDeadline(context.channel)
    }

    /// Answers the first request with an empty `status` and closes the
    /// connection (once); what the client still sends is dropped meanwhile.
    /// No lingering: a client that cannot send one well-formed head gets its
    /// answer on a best-effort basis, and must not hold a connection longer.
    func refuse(_ status: HTTPResponseStatus) {
        guard phase == .awaitingHead, let context else { return }
        phase = .refused
        endDeadline(context.channel)
        let answer = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func endDeadline(_ channel: any Channel) {
        deadline?.cancel()
        deadline = nil
        pending.remove(channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .headDecoded:
            context.fireChannelRead(data)
        case .refused:
            return
        case .awaitingHead:
            if !blankLineSeen {
                for byte in unwrapInboundIn(data).readableBytesView {
                    headBytes += 1
                    if headBytes > limits.maxHeadBytes {
                        refuse(.requestHeaderFieldsTooLarge)
                        return
                    }
                    if !requestLineStarted {
                        if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") { continue }
                        requestLineStarted = true
                    }
                    tail = tail << 8 | UInt32(byte)
                    // CRLF CRLF, or LF LF from a lenient client.
                    if tail == 0x0D0A_0D0A || tail & 0xFFFF == 0x0A0A {
                        blankLineSeen = true
                        break
                    }
                }
            }
            context.fireChannelRead(data)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endDeadline(context.channel)
        context.fireChannelInactive()
    }
}

/// Watches the decoded side of a connection, after the upgrade handler.
///
/// - Tells `FirstHeadDeadline` when the first head has been decoded (the
///   upgrade handler passes it on, or upgrades to a WebSocket), and answers
///   a first head that fails to parse with 400 (431 for oversized headers):
///   the upgrade handler drops such errors and would leave the connection
///   open.
/// - Speaking HTTP: closes the connection when a request's body has not
///   arrived whole `bodyTimeout` after its head (each byte of a trickled body
///   would otherwise restart the idle timer), and answers each request in
///   its own version: HTTP/1.0 gets HTTP/1.0 and the connection is ended
///   after the answer unless the request asked for `Connection: keep-alive`
///   (as is a request of any version that does not keep the connection
///   alive). Hummingbird answers every request as HTTP/1.1 and keeps the
///   connection. Once the server's side is shut, the connection lingers
///   at most `linger`.
/// - Speaking HTTP, also closes a connection whose answers wait for a
///   client that does not read them: when the connection takes no more
///   output and not one byte has left for `sendStall`. While an answer is
///   being written Hummingbird's idle timer does nothing, so a client that
///   sends requests and never reads would otherwise hold the connection for
///   ever. (A WebSocket client that stops reading stops answering pings.)
/// - Upgraded to a WebSocket: puts `MaskedClientFrames` behind the frame
///   decoder.
///
/// Inbound and outbound parts are unwrapped as HTTP parts only once the
/// connection is known to speak HTTP; otherwise they pass through untouched
/// (raw bytes after a WebSocket upgrade).
final class HTTPConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode {
        case awaitingFirstHead
        case http
        case webSocket
    }

    /// A request read and not yet answered whole.
    private struct Exchange {
        var version: HTTPVersion
        var keepAlive: Bool
    }

    private let bodyTimeout: TimeAmount
    private let linger: TimeAmount
    private let sendStall: TimeAmount
    private var mode = Mode.awaitingFirstHead
    private var firstHead: FirstHeadDeadline?
    /// Oldest first: answers go out in the order of the requests.
    private var unanswered = CircularBuffer<Exchange>()
    private var closeAfterAnswer = false
    /// When the body of the request being read is due (nil: none is).
    private var bodyDue: NIODeadline?
    private var bodyDeadline: Scheduled<Void>?
    /// Answer bytes written so far (bodies only: heads are encoded further
    /// on, and small).
    private var bytesWritten = 0
    /// While the connection takes no more output: the next look at what is
    /// waiting to be sent, and what was waiting and written at the last.
    private var nextOutputLook: Scheduled<Void>?
    private var lastOutputLook: (waiting: Int, bytesWritten: Int)?

    init(limits: ConnectionLimits) {
        bodyTimeout = limits.bodyTimeout
        linger = limits.linger
        sendStall = limits.sendStall
    }

    func handlerAdded(context: ChannelHandlerContext) {
        firstHead = try? context.pipeline.syncOperations.handler(type: FirstHeadDeadline.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        bodyDeadline?.cancel()
        nextOutputLook?.cancel()
        firstHead = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if mode == .awaitingFirstHead {
            // Only the not-upgrading path adds Hummingbird's HTTP handlers
            // (behind this one) before it passes the first head on.
            guard (try? context.pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self)) != nil else {
                context.fireChannelRead(data)
                return
            }
            mode = .http
            firstHead?.headDecoded()
        }
        guard mode == .http else {
            context.fireChannelRead(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            unanswered.append(Exchange(version: head.version, keepAlive: head.isKeepAlive))
            bodyDue = .now() + bodyTimeout
        case .body:
            break
        case .end:
            bodyDue = nil
            bodyDeadline?.cancel()
            bodyDeadline = nil
        }
        context.fireChannelRead(data)
    }

    /// A request whose end has not come with the bytes read so far gets its
    /// body deadline; most requests end in the read of their head and never
    /// schedule one.
    func channelReadComplete(context: ChannelHandlerContext) {
        if let bodyDue, bodyDeadline == nil {
            let channel = context.channel
            bodyDeadline = context.eventLoop.scheduleTask(deadline: bodyDue) { channel.close(promise: nil) }
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if mode == .http {
            if context.channel.isWritable {
                nextOutputLook?.cancel()
                nextOutputLook = nil
            } else if nextOutputLook == nil {
                lastOutputLook = nil
                lookAtOutput(context)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Closes the connection if not one byte has left since the last look,
    /// `sendStall` ago; looks again later otherwise. What left is what
    /// waited then, plus what was written since, minus what waits now: what
    /// waits alone can grow while a slow client reads.
    private func lookAtOutput(_ context: ChannelHandlerContext) {
        nextOutputLook = nil
        guard !context.channel.isWritable else { return }
        let waiting = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        if let last = lastOutputLook, last.waiting + (bytesWritten - last.bytesWritten) - waiting <= 0 {
            context.close(promise: nil)
            return
        }
        lastOutputLook = (waiting, bytesWritten)
        nextOutputLook = context.eventLoop.assumeIsolated().scheduleTask(in: sendStall) { self.lookAtOutput(context) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if mode == .awaitingFirstHead, let parseError = error as? HTTPParserError {
            firstHead?.refuse(parseError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest)
            return
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if mode == .awaitingFirstHead, case .upgradeComplete? = event as? HTTPServerUpgradeEvents {
            mode = .webSocket
            firstHead?.headDecoded()
            // The frame decoder is in place, and no frame has been decoded
            // yet: the upgrade handler passes on what followed the head
            // only after this event.
            do {
                let decoder = try context.pipeline.syncOperations.handler(
                    type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                try context.pipeline.syncOperations.addHandler(MaskedClientFrames(), position: .after(decoder))
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard mode == .http else {
            context.write(data, promise: promise)
            return
        }
        let part = unwrapOutboundIn(data)
        if case .body(let body) = part { bytesWritten += body.readableBytes }
        guard let exchange = unanswered.first else {
            context.write(data, promise: promise)
            return
        }
        switch part {
        case .head(var head) where head.status.code >= 200:
            var keepAlive = exchange.keepAlive
            if exchange.version == .http1_0 {
                head.version = .http1_0
                // HTTP/1.0 has no chunked bodies: without a length, only the
                // close ends the answer.
                keepAlive = keepAlive && head.headers.contains(name: "content-length")
                head.headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
            } else if !keepAlive {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            closeAfterAnswer = !keepAlive
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .head, .body:
            context.write(data, promise: promise)
        case .end:
            unanswered.removeFirst()
            guard closeAfterAnswer else {
                context.write(data, promise: promise)
                return
            }
            context.writeAndFlush(data, promise: promise)
            shutOutputThenClose(context, linger: linger)
        }
    }

    /// Hummingbird shuts the server's side after its last answer (the
    /// request said `Connection: close`, or could not be parsed) and then
    /// waits for the client to close its own, for as long as the idle
    /// timeout allows: the linger deadline ends that wait sooner.
    func close(context: ChannelHandlerContext, mode closeMode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .http, closeMode == .output else {
            context.close(mode: closeMode, promise: promise)
            return
        }
        shutOutputThenClose(context, linger: linger, promise: promise)
    }
}

/// Closes a WebSocket connection, with code 1002, at the first frame from
/// the client that is not masked: RFC 6455 (5.1) says a server must, and
/// the frame decoder does not check.
final class MaskedClientFrames: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard unwrapInboundIn(data).maskKey != nil else {
            refused = true
            var reason = context.channel.allocator.buffer(capacity: 64)
            reason.write(webSocketErrorCode: .protocolError)
            reason.writeString("frames from a client must be masked")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: reason)))
                .whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }
}

/// The HTTP/1 channel with WebSocket upgrade, with the guards above.
struct GuardedUpgradeChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let limits: ConnectionLimits
    let pending: PendingConnections

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limits = limits
        let pending = pending
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstHeadDeadline(limits: limits, pending: pending))
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // Behind the upgrade handler that `inner` added.
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(limits: limits))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
