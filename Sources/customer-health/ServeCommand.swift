import ArgumentParser
import CustomerHealth
import CustomerHealthServer
import Dispatch
import Foundation
import Logging
import Synchronization

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the customer-success HTTP API and the WebSocket stream from a run's outputs.",
        discussion: """
            Answers from the newest complete run (OUTPUT/latest) and switches to a newer one \
            as soon as it is published, whole: a request never mixes two runs.

            Routes:
              GET /api/customer-success/health/{customer_id}   a customer's line of scores.jsonl
              GET /api/customer-success/kpis                   kpis.json
              GET /api/customer-success/at-risk?priority=critical,high&limit=100&offset=0
              GET /health                                      liveness, age of the data (503 without a run)
              GET /metrics                                     Prometheus metrics
              GET /openapi.json                                the API's schema
              WS  /ws/customer-health                          the watch stream (with --watch)

            With --watch PIPELINE the watch mode runs in process and its lines go to every \
            WebSocket client. A client may send {"subscribe": {"customer_ids": [...]}} or \
            {"subscribe": {"min_priority": "high"}}, and may reconnect with ?since=SEQ to get \
            the updates it missed while they are still buffered (--replay-buffer). A client \
            that falls more than --client-buffer lines behind is closed (code 1008); the others \
            never wait.

            Listens on 127.0.0.1 unless --host says otherwise; any other address needs \
            --token-file, and then every route but /health needs Authorization: Bearer TOKEN. \
            Details: docs/serve.md.

            Examples:
              customer-health serve --output output
              customer-health serve --output output --watch pipelines/nightly.yaml --port 8012
              customer-health serve --output /srv/health --host 0.0.0.0 --token-file /etc/customer-health/token
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp("The run output folder (default: the --watch pipeline's `output`).", valueName: "dir"))
    var output: String?

    @Option(name: .long, help: "Address to listen on. Anything but loopback needs --token-file.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on; 0 picks a free one (printed once listening).")
    var port = 8012

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run the watch mode of this pipeline in process and stream its lines over WebSocket.", valueName: "pipeline"
        ))
    var watch: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Watch state folder (default: the pipeline's watch.state, or OUTPUT/.watch).", valueName: "dir"))
    var state: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A file whose first line is the bearer token requests must carry (at least 16 characters).",
            valueName: "file"))
    var tokenFile: String?

    @Option(name: .long, help: ArgumentHelp("Seconds between looks for a newer run.", valueName: "seconds"))
    var reload = 2.0

    @Option(
        name: .long,
        help:
            "Open connections at most, WebSocket clients included; more wait in the listen queue. Lowered to fit the open-file limit."
    )
    var maxConnections = 4096

    @Option(name: .long, help: "WebSocket clients at most; more are refused.")
    var maxClients = 4000

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A WebSocket client with more lines than this still unsent when the next batch comes is dropped as too slow.",
            valueName: "lines"))
    var clientBuffer = 50_000

    @Option(
        name: .long,
        help: ArgumentHelp("Numbered updates kept for clients that reconnect with ?since=SEQ.", valueName: "lines"))
    var replayBuffer = 10_000

    @Flag(name: .long, help: "Log warnings and errors only.")
    var quiet = false

    func validate() throws {
        if output == nil && watch == nil {
            throw ValidationError("pass --output DIR (or --watch PIPELINE, whose output is used)")
        }
    }

    func run() throws {
        CommandSupport.bootstrapLogging(quiet: quiet)
        let logger = Logger(label: "customer-health")
        var serveWatch: ServeWatch? = nil
        var outputDirectory = output
        if let watch {
            let config = try PipelineConfig.load(path: watch)
            serveWatch = ServeWatch(
                config: config, settings: config.watch, options: WatchOptions(pipeline: config, state: state))
            if outputDirectory == nil { outputDirectory = config.outputDirectory }
        }
        var settings = ServeSettings(outputDirectory: outputDirectory!)
        settings.host = host
        settings.port = port
        settings.token = try tokenFile.map(ServeSettings.readToken(path:))
        settings.reloadSeconds = reload
        settings.maxConnections = maxConnections
        settings.stream.maxClients = maxClients
        settings.stream.clientBuffer = clientBuffer
        settings.stream.replayBuffer = replayBuffer
        settings.watch = serveWatch
        let server = try HealthServer(settings: settings, logger: logger)

        // The command layer is synchronous: the server runs on the
        // concurrency pool while the main thread waits for it to end.
        let failure = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let host = self.host
        let folder = settings.outputDirectory
        Task {
            do {
                try await server.run(onListening: { port in
                    Console.out("customer-health: serving \(folder) on http://\(host):\(port)")
                })
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
