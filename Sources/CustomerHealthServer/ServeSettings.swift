import CustomerHealth
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How `serve` listens, what it serves and its limits.
public struct ServeSettings: Sendable {
    /// The run output folder: the server answers from OUTPUT/latest.
    public var outputDirectory: String
    public var host = "127.0.0.1"
    /// 0 picks a free port (reported once listening).
    public var port = 8012
    /// When set, every route but /health needs `Authorization: Bearer TOKEN`.
    public var token: String? = nil
    /// Seconds between looks at OUTPUT/latest.
    public var reloadSeconds = 2.0
    /// Open connections (HTTP and WebSocket); more wait in the listen queue.
    /// Lowered at start to fit the open-file limit.
    public var maxConnections = 4096
    /// Largest request body taken (the API has no route that needs one).
    public var maxBodyBytes = 1024
    /// Largest first request head (request line and headers) of a
    /// connection, and largest header field: more gets 431.
    public var maxHeaderBytes = 16 * 1024
    /// An HTTP connection with no request for this long is closed.
    public var idleTimeoutSeconds = 60.0
    /// A connection whose first request head has not been decoded (whole,
    /// within the size limit) this long after it opened is closed.
    public var requestHeadTimeoutSeconds = 10.0
    /// A request whose body has not arrived whole this long after its head
    /// closes its connection.
    public var requestBodyTimeoutSeconds = 10.0
    /// While the connection to a client takes no more output (it does not
    /// read its answers), at least one byte of them must leave this often,
    /// or the connection is closed.
    public var sendStallTimeoutSeconds = 60.0
    /// Once the server has sent a connection's last answer and shut its side
    /// (HTTP/1.0, `Connection: close`, a request it could not parse), it
    /// waits this long at most for the client to close its side, dropping
    /// what still comes, then closes the connection.
    public var lingerSeconds = 2.0
    /// The server pings each WebSocket client this often; a client that has
    /// not answered a ping by the next one is closed.
    public var webSocketPingSeconds = 30.0
    /// After its close frame, the server waits this long for the client's
    /// before it closes the connection.
    public var webSocketCloseTimeoutSeconds = 5.0
    public var stream = StreamHub.Limits()
    /// Runs the watch mode in process and broadcasts its lines when set.
    public var watch: ServeWatch? = nil

    public init(outputDirectory: String) { self.outputDirectory = outputDirectory }

    /// Loopback addresses (127.0.0.0/8, ::1) and `localhost`: the only hosts
    /// allowed without a token.
    public var bindsLoopbackOnly: Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) } == Array(repeating: 0, count: 15) + [1]
        }
        return false
    }

    public func validate() throws {
        if !bindsLoopbackOnly && token == nil {
            throw ServeError.settings(
                "--host \(host) is reachable from other machines: pass --token-file FILE so that requests must carry a bearer token"
            )
        }
        if !(0...65535).contains(port) { throw ServeError.settings("--port must be between 0 and 65535") }
        if !(0.01...86_400).contains(reloadSeconds) {
            throw ServeError.settings("--reload must be from 0.01 to 86400 seconds")
        }
        if stream.clientBuffer < 1 || stream.replayBuffer < 0 || stream.maxClients < 1 || maxConnections < 1 {
            throw ServeError.settings(
                "client buffer, max clients and max connections must be at least 1, the replay buffer at least 0")
        }
        let deadlines = [
            idleTimeoutSeconds, requestHeadTimeoutSeconds, requestBodyTimeoutSeconds, sendStallTimeoutSeconds,
            lingerSeconds, webSocketPingSeconds, webSocketCloseTimeoutSeconds,
        ]
        if !deadlines.allSatisfy({ (0.001...86_400).contains($0) }) {
            throw ServeError.settings("the connection timeouts must be from 0.001 to 86400 seconds")
        }
    }

    /// Reads a bearer token: the file's first line, trimmed. It must not be
    /// empty, and should be readable by its owner only.
    public static func readToken(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServeError.settings("\(path): the token file cannot be read")
        }
        let token =
            String(decoding: data, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard token.count >= 16 else {
            throw ServeError.settings(
                "\(path): the token must be at least 16 characters on the first line (e.g. `openssl rand -hex 32 > \(path)`)"
            )
        }
        return token
    }
}

/// The watch mode `serve --watch` runs in process.
public struct ServeWatch: Sendable {
    public var config: PipelineConfig
    public var settings: WatchSettings
    public var options: WatchOptions

    public init(config: PipelineConfig, settings: WatchSettings, options: WatchOptions) {
        self.config = config
        self.settings = settings
        self.options = options
    }
}
