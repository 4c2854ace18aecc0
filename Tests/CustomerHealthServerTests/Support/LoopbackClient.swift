import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1 with a receive timeout, for
/// speaking HTTP/1.1 and WebSocket to the server under test byte by byte.
final class LoopbackSocket: @unchecked Sendable {
    let fd: Int32
    private var pending: [UInt8] = []

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// `receiveBuffer` shrinks the socket's receive buffer (a client that
    /// reads slowly fills it sooner).
    init(port: Int, timeoutSeconds: Int = 10, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads more bytes; false at the end of the stream.
    private func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            throw Failure(description: errno == EAGAIN ? "timed out waiting for the server" : "recv: errno \(errno)")
        }
        if n == 0 { return false }
        pending += buffer[0..<n]
        return true
    }

    func read(count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else {
                throw Failure(description: "connection closed after \(pending.count) of \(count) bytes")
            }
        }
        defer { pending.removeFirst(count) }
        return Array(pending[0..<count])
    }

    func readLine() throws -> String {
        while true {
            if let i = pending.firstIndex(of: 0x0A) {
                defer { pending.removeFirst(i + 1) }
                return String(decoding: pending[0..<i], as: UTF8.self).trimmingCharacters(in: ["\r"])
            }
            guard try fill() else { throw Failure(description: "connection closed in a header line") }
        }
    }

    func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { pending = [] }
        return pending
    }
}

/// One HTTP answer.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    /// The status line's version ("HTTP/1.1").
    var version = ""
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
    func object() throws -> [String: Any] {
        guard let o = try json() as? [String: Any] else {
            throw LoopbackSocket.Failure(description: "not a JSON object: \(text)")
        }
        return o
    }
}

enum HTTPClient {
    /// GET (or another method) with `Connection: close`.
    static func request(
        port: Int, _ path: String, method: String = "GET", headers: [String: String] = [:], body: [UInt8] = []
    ) throws -> HTTPAnswer {
        let socket = try LoopbackSocket(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty { head += "Content-Length: \(body.count)\r\n" }
        try socket.send(Array((head + "\r\n").utf8) + body)
        return method == "HEAD" ? try readHead(socket) : try readAnswer(socket)
    }

    static func get(port: Int, _ path: String, token: String? = nil) throws -> HTTPAnswer {
        try request(port: port, path, headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:])
    }

    static func readAnswer(_ socket: LoopbackSocket) throws -> HTTPAnswer {
        var answer = try readHead(socket)
        if let length = answer.headers["content-length"].flatMap(Int.init) {
            answer.body = try socket.read(count: length)
        } else {
            answer.body = try socket.readToEnd()
        }
        return answer
    }
}

/// A minimal WebSocket client (RFC 6455): text frames, masked as clients must.
/// Used by one thread at a time.
final class WebSocketTestClient: @unchecked Sendable {
    let socket: LoopbackSocket
    /// Set when the server sent a close frame: its code.
    private(set) var closeCode: Int?

    enum Frame: Equatable {
        case text(String)
        case close(Int)
    }

    init(
        port: Int, path: String = "/ws/customer-health", headers: [String: String] = [:], receiveBuffer: Int32? = nil,
        timeoutSeconds: Int = 10
    ) throws {
        socket = try LoopbackSocket(port: port, timeoutSeconds: timeoutSeconds, receiveBuffer: receiveBuffer)
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        try socket.send(head + "\r\n")
        let answer = try HTTPClient.readHead(socket)
        guard answer.status == 101 else {
            throw UpgradeRefused(status: answer.status)
        }
    }

    struct UpgradeRefused: Error { var status: Int }

    /// Sends a masked text frame.
    func send(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try socket.send(frame)
    }

    /// The next text or close frame (pings are answered, pongs skipped).
    func next() throws -> Frame {
        while true {
            let head = try socket.read(count: 2)
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                let b = try socket.read(count: 2)
                length = Int(b[0]) << 8 | Int(b[1])
            } else if length == 127 {
                length = try socket.read(count: 8).reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = try socket.read(count: length)
            switch opcode {
            case 0x1:
                return .text(String(decoding: payload, as: UTF8.self))
            case 0x8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                closeCode = code
                return .close(code)
            case 0x9:
                let mask: [UInt8] = [1, 2, 3, 4]
                try socket.send(
                    [0x8A, 0x80 | UInt8(payload.count)] + mask
                        + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
            default:
                continue
            }
        }
    }

    /// The next text frame, parsed; fails on a close frame.
    func nextObject() throws -> [String: Any] {
        switch try next() {
        case .text(let text):
            guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw LoopbackSocket.Failure(description: "not a JSON object: \(text)")
            }
            return o
        case .close(let code):
            throw LoopbackSocket.Failure(description: "the server closed the stream with code \(code)")
        }
    }
}

extension HTTPClient {
    static func readHead(_ socket: LoopbackSocket) throws -> HTTPAnswer {
        let statusLine = try socket.readLine()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw LoopbackSocket.Failure(description: "bad status line: \(statusLine)")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try socket.readLine()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        return HTTPAnswer(status: status, headers: headers, body: [], version: String(parts[0]))
    }
}

extension LoopbackSocket {
    /// How a connection ended: what the server sent, when it shut its side
    /// (end of stream), and when the connection was closed for good (nil:
    /// still open when the client gave up).
    struct Ending {
        var received: [UInt8] = []
        var endOfStreamAt: Date?
        var closedAt: Date?
        var text: String { String(decoding: received, as: UTF8.self) }
    }

    enum StreamState { case open, endOfStream, reset }

    /// Bytes that never make a whole request: sent after the end of the
    /// stream to tell a closed connection (the kernel answers with a reset)
    /// from one the server has only shut its side of.
    static let incompleteRequest = Array("GET /".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 4096)

    /// Sends without throwing: false once the server has closed (or reset)
    /// the connection.
    func trySend(_ bytes: [UInt8]) -> Bool { (try? send(bytes)) != nil }

    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Reads what the server sends for up to `seconds`, returning early at
    /// the end of the stream or a reset.
    func drain(for seconds: Double, into received: inout [UInt8]) -> StreamState {
        received += pending
        pending = []
        let until = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = until.timeIntervalSinceNow
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, left <= 0 ? 0 : Int32((left * 1000).rounded(.up)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return .open }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                received += buffer[0..<n]
                continue
            }
            if n == 0 { return .endOfStream }
            if errno == EAGAIN || errno == EINTR { continue }
            return .reset
        }
    }

    /// Waits until the server closes the connection or `giveUp` passes,
    /// polling. After the end of the stream it sends `probe` a byte every
    /// 20 ms: a closed connection answers with a reset.
    func waitForClose(until giveUp: Date, probe: [UInt8] = LoopbackSocket.incompleteRequest) -> Ending {
        var ending = Ending()
        switch drain(for: giveUp.timeIntervalSinceNow, into: &ending.received) {
        case .open: return ending
        case .reset:
            ending.closedAt = Date()
            return ending
        case .endOfStream:
            ending.endOfStreamAt = Date()
        }
        var sent = 0
        while Date() < giveUp {
            guard trySend([probe[sent % probe.count]]) else {
                ending.closedAt = Date()
                return ending
            }
            sent += 1
            usleep(20_000)
            if drain(for: 0, into: &ending.received) == .reset {
                ending.closedAt = Date()
                return ending
            }
        }
        return ending
    }

    /// Sends `bytes` one at a time, `interval` seconds apart (the bytes
    /// themselves probe for a close), then waits, until the server closes the
    /// connection or `giveUp` passes.
    func trickle(_ bytes: [UInt8], every interval: Double, until giveUp: Date) -> Ending {
        var ending = Ending()
        for byte in bytes where Date() < giveUp {
            guard trySend([byte]) else {
                ending.closedAt = Date()
                return ending
            }
            switch drain(for: min(interval, giveUp.timeIntervalSinceNow), into: &ending.received) {
            case .open:
                continue
            case .reset:
                ending.closedAt = Date()
                return ending
            case .endOfStream:
                ending.endOfStreamAt = ending.endOfStreamAt ?? Date()
                usleep(20_000)
            }
        }
        let rest = waitForClose(until: giveUp)
        ending.received += rest.received
        ending.endOfStreamAt = ending.endOfStreamAt ?? rest.endOfStreamAt
        ending.closedAt = rest.closedAt
        return ending
    }
}

extension WebSocketTestClient {
    /// The start of a frame that announces 65,535 bytes: never whole, so
    /// probing with it cannot end the connection.
    static let incompleteFrame: [UInt8] = [0x81, 0xFE, 0xFF, 0xFF] + [UInt8](repeating: 0x61, count: 4096)

    /// A text frame as a client must not send it: unmasked.
    static func unmaskedTextFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        precondition(payload.count < 126)
        return [0x81, UInt8(payload.count)] + payload
    }

    /// A masked text frame whose payload is `payload`, valid UTF-8 or not.
    static func maskedTextFrame(_ payload: [UInt8]) -> [UInt8] {
        precondition(payload.count < 126)
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        return [0x81, 0x80 | UInt8(payload.count)] + mask
            + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }
}
