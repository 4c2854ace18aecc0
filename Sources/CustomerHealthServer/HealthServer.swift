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
    private let pendingConnections = PendingConnections()
    /// The last failure of the in-process watch loop, shown by /health.
    let watchError = Mutex<String?>(nil)

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
    public func run(
        handleSignals: Bool = true,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let maxConnections = Self.fitConnectionsToFileLimit(settings.maxConnections, logger: logger)
        if store.refresh() != nil { metrics.runLoaded() }
        if store.current == nil {
            logger.warning("\(store.lastError ?? "no run yet"); /health answers 503 until one is published")
        }
        // The watch loop is built before the server starts, so that a bad
        // checkpoint or pipeline stops `serve` at once with its error.
        let watchLoop = try settings.watch.map { try makeWatchLoop($0) }
        if let watchLoop { hub.resume(afterSeq: watchLoop.loop.lastSentSeq) }
        let app = makeApplication(maxConnections: maxConnections, onListening: onListening)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                // Shut down first (the group goes in reverse): connections
                // that never sent a request are closed, not waited for.
                .init(
                    service: PendingConnectionsCloser(pending: pendingConnections), successTerminationBehavior: .ignore),
            ],
            logger: logger)
        groupConfiguration.gracefulShutdownSignals = handleSignals ? [.sigterm, .sigint] : []
        // A connection that will not finish (a stalled client) cannot hold
        // a shutdown for longer than this.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(15)
        let services = ServiceGroup(configuration: groupConfiguration)
        serviceGroup.withLock { $0 = services }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [settings] in
                do {
                    try await services.run()
                } catch let error as IOError {
                    throw ServeError.cannotListen(
                        address: "\(settings.host):\(settings.port)", reason: String(cString: strerror(error.errnoCode))
                    )
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(Int(settings.reloadSeconds * 1000)))
                    // Loading reads and indexes files: off the concurrency pool,
                    // which serves the requests meanwhile.
                    let loaded = await withCheckedContinuation { continuation in
                        DispatchQueue.global().async { [store] in continuation.resume(returning: store.refresh()) }
                    }
                    if let run = loaded {
                        metrics.runLoaded()
                        hub.publish([
                            JSONValue.object([
                                ("type", .string("run_loaded")), ("as_of", .string(run.asOf)),
                                ("customers", .int(run.customerCount)),
                            ]).serialized()
                        ])
                    }
                }
            }
            if let watchLoop, let watch = settings.watch { group.addTask { await self.runWatch(watchLoop, watch) } }
            defer {
                stopWatch.store(true, ordering: .relaxed)
                group.cancelAll()
            }
            // The server ends first (on a signal or shutdown()), or fails;
            // either way the others are stopped.
            try await group.next()
        }
    }

    /// Each connection holds a descriptor: takes the hard limit, not the
    /// (often 1024) soft one, and keeps the connection cap below it with room
    /// for the watch loop's files, so that a crowd of clients can never make
    /// the server fail to open an export. Returns the connection cap to use.
    static func fitConnectionsToFileLimit(_ wanted: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return wanted }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let reserve = 128
        let fits = Int(clamping: limit.rlim_cur) - reserve
        if wanted > fits {
            logger.warning(
                "the open-file limit is \(limit.rlim_cur): serving at most \(max(fits, 1)) connections instead of \(wanted) (raise it with ulimit -n)"
            )
            return max(fits, 1)
        }
        return wanted
    }

    /// Stops the server gracefully: open requests are answered, WebSocket
    /// clients get a close frame, then `run` returns (within 15 s).
    public func shutdown() async {
        await serviceGroup.withLock { $0 }?.triggerGracefulShutdown()
    }

    private func makeWatchLoop(_ watch: ServeWatch) throws -> WatchLoopBox {
        var options = watch.options
        options.once = false
        options.lineSink = { [hub] lines in hub.publish(lines) }
        options.shouldStop = { [self] in stopWatch.load(ordering: .relaxed) }
        return WatchLoopBox(
            try PipelineRunner(config: watch.config, options: RunOptions(), logger: logger)
                .watchLoop(settings: watch.settings, options: options))
    }

    /// The watch loop blocks between looks, so it gets a thread of its own
    /// instead of a cooperative-pool thread. When a look fails (an export
    /// folder gone for a moment, a full disk), the loop starts again from its
    /// checkpoint after a pause that doubles up to a minute: the API stays up
    /// and the stream resumes where it left off (at-least-once, as after a
    /// restart of `watch`).
    private func runWatch(_ first: WatchLoopBox, _ watch: ServeWatch) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                var loop: WatchLoopBox? = first
                var pause = 1.0
                while !stopWatch.load(ordering: .relaxed) {
                    let started = ContinuousClock.now
                    do {
                        let current: WatchLoopBox
                        if let loop {
                            current = loop
                        } else {
                            // Building the loop rebuilds its state from the
                            // checkpoint and the files: the failure is over.
                            current = try makeWatchLoop(watch)
                            watchError.withLock { $0 = nil }
                        }
                        loop = current
                        try current.loop.run()
                        break  // run returns only when asked to stop
                    } catch {
                        loop = nil
                        if ContinuousClock.now - started > .seconds(60) { pause = 1 }
                        watchError.withLock { $0 = "\(error)" }
                        metrics.watchRestarted()
                        logger.error(
                            "the watch loop failed: \(error); starting it again from its checkpoint in \(Int(pause)) s")
                        let wake = ContinuousClock.now + .milliseconds(Int(pause * 1000))
                        while ContinuousClock.now < wake && !stopWatch.load(ordering: .relaxed) { usleep(50_000) }
                        pause = min(pause * 2, 60)
                    }
                }
                continuation.resume()
            }
            thread.name = "customer-health-watch"
            thread.start()
        }
    }

    func makeApplication(maxConnections: Int, onListening: @escaping @Sendable (Int) -> Void)
        -> some ApplicationProtocol
    {
        let router = Router(context: BasicWebSocketRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(RequestMetricsMiddleware(metrics: metrics))
        router.middlewares.add(JSONErrorMiddleware(logger: logger))
        router.middlewares.add(BearerTokenMiddleware(token: settings.token, open: [Routes.health]))
        router.middlewares.add(BodyLimitMiddleware(maxBytes: settings.maxBodyBytes))
        let api = CustomerSuccessAPI(
            store: store, metrics: metrics, watchError: { [self] in watchError.withLock { $0 } })
        api.addRoutes(to: router)
        StreamEndpoint(hub: hub, logger: logger).addRoute(to: router)
        DashboardPages(store: store, streaming: settings.watch != nil).addRoutes(to: router)

        let http1 = Self.http1Configuration(settings)
        let ws = Self.webSocketConfiguration(settings)
        let webSocketResponder = router.buildResponder()
        let limits = ConnectionLimits(settings)
        let pending = pendingConnections
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedUpgradeChannel(
                    inner: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder,
                        configuration: .init(http1: http1, ws: ws)),
                    limits: limits, pending: pending)
            },
            configuration: .init(
                address: .hostname(settings.host, port: settings.port),
                serverName: "customer-health",
                availableConnectionsDelegate: .maximum(maxConnections, logger: logger)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}

extension HealthServer {
    static func timeAmount(seconds: Double) -> TimeAmount { .milliseconds(Int64((seconds * 1000).rounded())) }

    static func http1Configuration(_ settings: ServeSettings) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(
            idleTimeout: timeAmount(seconds: settings.idleTimeoutSeconds),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: settings.maxHeaderBytes, maxHeaderListSize: settings.maxHeaderBytes,
                maxHeaderFieldCount: 100))
    }

    /// Text messages must be valid UTF-8 (RFC 6455, 8.1): the connection is
    /// closed with 1007 otherwise, instead of the text being repaired.
    static func webSocketConfiguration(_ settings: ServeSettings) -> WebSocketServerConfiguration {
        WebSocketServerConfiguration(
            maxFrameSize: 64 * 1024,
            autoPing: .enabled(timePeriod: .milliseconds(Int64((settings.webSocketPingSeconds * 1000).rounded()))),
            closeTimeout: .milliseconds(Int64((settings.webSocketCloseTimeoutSeconds * 1000).rounded())),
            validateUTF8: true)
    }
}

extension ConnectionLimits {
    init(_ settings: ServeSettings) {
        self.init(
            firstHeadTimeout: HealthServer.timeAmount(seconds: settings.requestHeadTimeoutSeconds),
            maxHeadBytes: settings.maxHeaderBytes,
            bodyTimeout: HealthServer.timeAmount(seconds: settings.requestBodyTimeoutSeconds),
            linger: HealthServer.timeAmount(seconds: settings.lingerSeconds),
            sendStall: HealthServer.timeAmount(seconds: settings.sendStallTimeoutSeconds))
    }
}

/// Hands the (non-Sendable) watch loop to the one thread that runs it.
final class WatchLoopBox: @unchecked Sendable {
    let loop: WatchLoop
    init(_ loop: WatchLoop) { self.loop = loop }
}
