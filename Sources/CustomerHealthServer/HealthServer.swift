import CustomerHealth
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `customer-health serve`: the customer-success HTTP API and WebSocket
/// stream, answered from the newest complete run under OUTPUT.
public final class HealthServer: Sendable {
    public let settings: ServeSettings
    public let store: RunStore
    public let hub: StreamHub
    public let metrics: ServerMetrics
    let logger: Logger
    private let stopWatch = Atomic<Bool>(false)
    private let serviceGroup = Mutex<ServiceGroup?>(nil)

    public init(settings: ServeSettings, logger: Logger) throws {
        try settings.validate()
        self.settings = settings
        self.logger = logger
        store = RunStore(outputDirectory: settings.outputDirectory, logger: logger)
        metrics = ServerMetrics(store: store)
        hub = StreamHub(limits: settings.stream, metrics: metrics)
    }

    /// Serves until SIGTERM or SIGINT (with `handleSignals`) or `shutdown()`.
    /// `onListening` gets the port once the socket is bound.
    public func run(handleSignals: Bool = true,
                    onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        Self.raiseOpenFileLimit()
        if store.refresh() != nil { metrics.runLoaded() }
        if store.current == nil { logger.warning("\(store.lastError ?? "no run yet"); /health answers 503 until one is published") }
        // The watch loop is built before the server starts, so that a bad
        // checkpoint or pipeline stops `serve` at once with its error.
        let watchLoop = try settings.watch.map { try makeWatchLoop($0) }
        let app = makeApplication(onListening: onListening)
        let services = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        serviceGroup.withLock { $0 = services }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [settings] in
                do {
                    try await services.run()
                } catch let error as IOError {
                    throw ServeError.cannotListen(address: "\(settings.host):\(settings.port)", reason: String(cString: strerror(error.errnoCode)))
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(Int(settings.reloadSeconds * 1000)))
                    if let run = store.refresh() {
                        metrics.runLoaded()
                        hub.publish([#"{"type": "run_loaded", "as_of": "\#(run.asOf)", "customers": \#(run.customerCount)}"#])
                    }
                }
            }
            if let watchLoop { group.addTask { try await Self.runOnThread(watchLoop) } }
            defer {
                stopWatch.store(true, ordering: .relaxed)
                group.cancelAll()
            }
            // The first task to end (the server on a signal, or the watch
            // loop failing) ends the others.
            try await group.next()
        }
    }

    /// Each connection holds a descriptor: take the hard limit, not the
    /// (often 1024) soft one, so that thousands of WebSocket clients fit.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Stops the server gracefully: open requests are answered, WebSocket
    /// clients get a close frame (going away), then `run` returns.
    public func shutdown() async {
        await serviceGroup.withLock { $0 }?.triggerGracefulShutdown()
    }

    private func makeWatchLoop(_ watch: ServeWatch) throws -> WatchLoopBox {
        var options = watch.options
        options.once = false
        options.lineSink = { [hub] lines in hub.publish(lines) }
        options.shouldStop = { [self] in stopWatch.load(ordering: .relaxed) }
        return WatchLoopBox(try WatchLoop(config: watch.config, settings: watch.settings, options: options, logger: logger))
    }

    /// The watch loop blocks between looks, so it gets a thread of its own
    /// instead of a cooperative-pool thread.
    private static func runOnThread(_ box: WatchLoopBox) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try box.loop.run()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "customer-health-watch"
            thread.start()
        }
    }

    func makeApplication(onListening: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.middlewares.add(RequestMetricsMiddleware(metrics: metrics))
        router.middlewares.add(JSONErrorMiddleware(logger: logger))
        router.middlewares.add(BearerTokenMiddleware(token: settings.token, open: ["/health"]))
        router.middlewares.add(BodyLimitMiddleware(maxBytes: settings.maxBodyBytes))
        let api = CustomerSuccessAPI(store: store, metrics: metrics)
        api.addRoutes(to: router)
        StreamEndpoint(hub: hub, logger: logger).addRoute(to: router)

        var http1 = HTTP1Channel.Configuration(
            idleTimeout: .milliseconds(Int64(settings.idleTimeoutSeconds * 1000)),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: settings.maxHeaderBytes, maxHeaderListSize: settings.maxHeaderBytes, maxHeaderFieldCount: 100))
        http1.additionalChannelHandlers = { [] }
        let ws = WebSocketServerConfiguration(maxFrameSize: 64 * 1024, autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(5))
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(http1: http1, ws: ws)),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port),
                serverName: "customer-health",
                availableConnectionsDelegate: .maximum(settings.maxConnections, logger: logger)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}

/// Hands the (non-Sendable) watch loop to the one thread that runs it.
final class WatchLoopBox: @unchecked Sendable {
    let loop: WatchLoop
    init(_ loop: WatchLoop) { self.loop = loop }
}
