// Fuzz target `http`: the HTTP request path of `serve`
// (Sources/CustomerHealthServer), in process and without sockets.
//
// Input: the raw bytes a client sends on one connection (one request or
// several, pipelined; a WebSocket upgrade and frames after it).
//
// Each input goes into an NIOAsyncTestingChannel set up exactly as a
// connection accepted by `serve`: GuardedUpgradeChannel (the first-head
// deadline, head-size limit and body deadline) around Hummingbird's HTTP/1 + WebSocket
// upgrade channel (NIOHTTP1's parser), the router with serve's middlewares
// (metrics, JSON errors, bearer token, body limit), the customer-success API
// and the WebSocket stream endpoint, answering from a real run (the test
// suite's sample exports, scored once at start-up by PipelineRunner). The
// input is written, the client's side is half-closed, and the connection is
// served to its end; the answer is read back.
//
// The channel is assembled as HealthServer.makeApplication assembles it
// (GuardedUpgradeChannel with its ConnectionLimits, the same HTTP/1 and
// WebSocket configuration, from the same ServeSettings defaults).
//
// Every input is sent twice: to a server without a token (the loopback
// default) and to one that requires `Authorization: Bearer <token>` (the
// token is fuzz-token-0123456789abcdef).
//
// Checks: nothing traps or leaks; the server ends the connection within
// 180 s of virtual time after the client half-closed it (the event loop's
// clock is moved on while the connection stays open, so every deadline of
// serve fires); every answer starts with an HTTP/1.x status line; no answer
// is a 500 (an error nobody expected reached JSONErrorMiddleware).
//
// Keep the two in step (see docs/fuzzing.md) until makeApplication is split
// so that this target can call it.
import CustomerHealth
@testable import CustomerHealthServer
import Dispatch
import Foundation
import FuzzSupport
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

let fuzzToken = "fuzz-token-0123456789abcdef"

struct ParseErrorWhileWritingResponse: Error {}

/// One `serve` configuration: its settings, store, hub, metrics and router.
final class ServeStack: @unchecked Sendable {
    let settings: ServeSettings
    let store: RunStore
    let metrics: ServerMetrics
    let hub: StreamHub
    let pending = PendingConnections()
    let channelSetup: GuardedUpgradeChannel
    let logger = FuzzSupport.silentLogger

    init(output: String, token: String?) {
        var settings = ServeSettings(outputDirectory: output)
        settings.token = token
        self.settings = settings
        store = RunStore(outputDirectory: output, logger: logger)
        guard store.refresh() != nil, store.current != nil else { fatalError("fuzz-http: no run to serve in \(output): \(store.lastError ?? "?")") }
        metrics = ServerMetrics(store: store)
        hub = StreamHub(limits: settings.stream, metrics: metrics)

        // As HealthServer.makeApplication.
        let router = Router(context: BasicWebSocketRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(RequestMetricsMiddleware(metrics: metrics))
        router.middlewares.add(JSONErrorMiddleware(logger: logger))
        router.middlewares.add(BearerTokenMiddleware(token: settings.token, open: [Routes.health]))
        router.middlewares.add(BodyLimitMiddleware(maxBytes: settings.maxBodyBytes))
        let api = CustomerSuccessAPI(store: store, metrics: metrics, watchError: { nil })
        api.addRoutes(to: router)
        StreamEndpoint(hub: hub, logger: logger).addRoute(to: router)

        // The same configuration as HealthServer.makeApplication, from the same settings.
        let http1 = HealthServer.http1Configuration(settings)
        let ws = HealthServer.webSocketConfiguration(settings)
        let limits = ConnectionLimits(settings)
        let responder = router.buildResponder()
        let logger = self.logger
        // As Hummingbird's Application.run: the responder of every HTTP request.
        let httpResponder: HTTPChannelHandler.Responder = { request, responseWriter, channel in
            let context = BasicWebSocketRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.server] = "customer-health"
            do {
                try await responseWriter.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // As Hummingbird's HTTPChannelError.parseErrorWhileWritingResponse
                // (package-internal): not a parser error, or another answer would be written.
                throw ParseErrorWhileWritingResponse()
            }
        }
        channelSetup = GuardedUpgradeChannel(
            inner: HTTP1WebSocketUpgradeChannel(responder: httpResponder, webSocketResponder: responder,
                                                configuration: .init(http1: http1, ws: ws)),
            limits: limits, pending: pending)
    }

    /// Serves one connection that sends `bytes` and then half-closes;
    /// returns what the server wrote, or nil when the connection never ends.
    ///
    /// Time on the connection's event loop is virtual: when the server has
    /// not ended the connection (it waits for more of a request, or for the
    /// next one), the clock is moved on a second at a time, so that its
    /// deadlines (first head 10 s, body 10 s, idle 60 s, WebSocket ping 30 s
    /// and close 5 s) fire as they would for a client that goes quiet.
    func serve(_ bytes: [UInt8]) async -> (answer: [UInt8], ended: Bool, virtualSeconds: Int) {
        let channel = NIOAsyncTestingChannel()
        var written: [UInt8] = []
        let done = DoneSignal()
        var virtualSeconds = 0
        do {
            let value = try await channel.eventLoop.flatSubmit { [channelSetup, logger] in
                channelSetup.setup(channel: channel, logger: logger)
            }.get()
            let handler = Task { [channelSetup, logger] in
                await channelSetup.handle(value: value, logger: logger)
                done.signal()
            }
            do {
                try await channel.writeInbound(ByteBuffer(bytes: bytes))
            } catch {
                // A parser error surfaces here as well; the server answers it.
            }
            // A client waits for the answer to a whole request head before it
            // closes its side (a head is whole only after a blank line): the
            // answer, and a WebSocket upgrade decision, are made in tasks of
            // their own, so wait (up to 100 ms) for the first bytes of it.
            if containsBlankLine(bytes) {
                for _ in 0..<200 {
                    if let out = try? await channel.readOutbound(as: ByteBuffer.self) {
                        written += out.readableBytesView
                        break
                    }
                    if done.signalled { break }
                    try? await Task.sleep(for: .microseconds(500))
                }
            }
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            var finished = await done.wait(milliseconds: 200)
            while !finished && virtualSeconds < maxVirtualSeconds {
                await channel.testingEventLoop.advanceTime(by: .seconds(1))
                virtualSeconds += 1
                finished = await done.wait(milliseconds: 5)
            }
            if !finished {
                // Give up on it: close it from our side so that the process can go on.
                _ = try? await channel.close()
                _ = await done.wait(milliseconds: 2000)
                handler.cancel()
            }
            while let out = try? await channel.readOutbound(as: ByteBuffer.self) {
                written += out.readableBytesView
            }
            // As a socket channel's close does: the pipeline's handlers are removed.
            _ = try? await channel.finish(acceptAlreadyClosed: true)
            return (written, finished, virtualSeconds)
        } catch {
            fatalError("fuzz-http: the connection could not be set up: \(error)")
        }
    }
}

private func containsBlankLine(_ b: [UInt8]) -> Bool {
    var i = 0
    while i + 1 < b.count {
        if b[i] == 0x0A && (b[i + 1] == 0x0A || (b[i + 1] == 0x0D && i + 2 < b.count && b[i + 2] == 0x0A)) { return true }
        i += 1
    }
    return false
}

/// Longer than every deadline of a connection together (10 + 10 + 60 + 30 + 30 + 5 s).
let maxVirtualSeconds = 180

/// Set once when a connection's handler returns; waited for with a timeout.
final class DoneSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var isDone = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Bool, Never>)?
    private var nextID = 0

    var signalled: Bool { lock.lock(); defer { lock.unlock() }; return isDone }

    func signal() {
        lock.lock()
        isDone = true
        let w = waiter
        waiter = nil
        lock.unlock()
        w?.continuation.resume(returning: true)
    }

    /// True when done (now or within the time), false on timeout.
    func wait(milliseconds: Int) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            lock.lock()
            if isDone { lock.unlock(); c.resume(returning: true); return }
            nextID += 1
            let id = nextID
            waiter = (id, c)
            lock.unlock()
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { [self] in
                lock.lock()
                // Only this wait's own timer ends it.
                guard let w = waiter, w.id == id else { lock.unlock(); return }
                waiter = nil
                lock.unlock()
                w.continuation.resume(returning: false)
            }
        }
    }
}

/// Makes a run from the sample exports once, and the two server stacks.
let stacks: [ServeStack] = {
    let root = (FuzzSupport.scratch as NSString).appendingPathComponent("serve")
    let exports = (root as NSString).appendingPathComponent("exports")
    let output = (root as NSString).appendingPathComponent("out")
    try! FileManager.default.createDirectory(atPath: exports, withIntermediateDirectories: true)
    for (name, text) in SampleExports.files {
        try! Data(text.utf8).write(to: URL(fileURLWithPath: (exports as NSString).appendingPathComponent(name)))
    }
    let pipeline = "version: 1\ninput: exports\noutput: out\nmax_reject_ratio: 1\n"
    do {
        let config = try PipelineConfig.parse(text: pipeline, file: (root as NSString).appendingPathComponent("pipeline.yaml"), baseDirectory: root)
        _ = try PipelineRunner(config: config, options: RunOptions(threads: 1), logger: FuzzSupport.silentLogger).run()
    } catch {
        fatalError("fuzz-http: cannot make the run to serve: \(error)")
    }
    return [ServeStack(output: output, token: nil), ServeStack(output: output, token: fuzzToken)]
}()

/// FUZZ_DEBUG=1: print each answer (to see what the server did with an input).
private let debug = ProcessInfo.processInfo.environment["FUZZ_DEBUG"] == "1"

private let statusLine = Array("HTTP/1.".utf8)

private func check(_ answer: [UInt8], _ stack: ServeStack) {
    if answer.isEmpty { return }  // nothing complete to answer (e.g. half a request line)
    require(answer.starts(with: statusLine), "the answer does not start with a status line: \(String(decoding: answer.prefix(200), as: UTF8.self).debugDescription)")
    // Any "HTTP/1.1 500" status line in the answer (pipelined requests get one answer each).
    let text = String(decoding: answer, as: UTF8.self)
    require(!text.contains(" 500 Internal Server Error\r\n"), "the server answered 500 (token: \(stack.settings.token != nil)): \(text.prefix(600).debugDescription)")
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzHTTPInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    _ = stacks.count
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(FuzzBytes(data, size).rest)
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var answers: [(answer: [UInt8], ended: Bool, virtualSeconds: Int)] = []
    Task.detached {
        for stack in stacks { answers.append(await stack.serve(bytes)) }
        done.signal()
    }
    done.wait()
    for (answer, stack) in zip(answers, stacks) {
        if debug {
            FileHandle.standardError.write(Data("fuzz-http (token: \(stack.settings.token != nil)): ended \(answer.ended) after \(answer.virtualSeconds) virtual s; answer:\n\(String(decoding: answer.answer, as: UTF8.self).debugDescription)\n".utf8))
        }
        require(answer.ended, "the connection is still open \(maxVirtualSeconds) s after the client sent its bytes and half-closed (token: \(stack.settings.token != nil)); the server wrote: \(String(decoding: answer.answer.prefix(300), as: UTF8.self).debugDescription)")
        check(answer.answer, stack)
    }
    return 0
}
