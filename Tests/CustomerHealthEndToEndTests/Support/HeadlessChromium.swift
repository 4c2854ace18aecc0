import CustomerHealthTestSupport
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Headless Chromium driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: commands on fd 3, replies and events on fd 4,
/// each a JSON message ended by a NUL byte). The tests see what a reader's
/// browser does: every request it makes, every console message and uncaught
/// exception, and what the page's DOM and canvases hold.
final class HeadlessChromium {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A page load: the URLs requested and the console errors seen.
    struct PageLog {
        var requests: [String] = []
        var consoleErrors: [String] = []
    }

    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var nextID = 0
    private var session: String?
    private(set) var log = PageLog()
    private let profile: URL

    /// The browser executable, or nil when this machine has none (`make test`
    /// installs Debian's chromium).
    static var executable: String? {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where access(path, X_OK) == 0 {
            return path
        }
        return nil
    }

    init() throws {
        guard let executable = Self.executable else {
            throw XCTSkip("no chromium on this machine: `make test` installs Debian's chromium package")
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("ch-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var commands: [Int32] = [0, 0]
        var replies: [Int32] = [0, 0]
        guard pipe(&commands) == 0, pipe(&replies) == 0 else { throw Failure(description: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, commands[0], 3)
        posix_spawn_file_actions_adddup2(&actions, replies[1], 4)
        let devNull = Glibc.open("/dev/null", O_WRONLY)
        posix_spawn_file_actions_adddup2(&actions, devNull, 1)
        posix_spawn_file_actions_adddup2(&actions, devNull, 2)
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
            "--user-data-dir=\(profile.path)", "about:blank",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, &argv, environ)
        Glibc.close(devNull)
        Glibc.close(commands[0])
        Glibc.close(replies[1])
        guard status == 0 else {
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        toBrowser = commands[1]
        fromBrowser = replies[0]
        let target = try call("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"] as? String else { throw Failure(description: "no target: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        session = attached["sessionId"] as? String
        for domain in ["Page.enable", "Runtime.enable", "Network.enable", "Log.enable"] { _ = try call(domain) }
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        Glibc.close(toBrowser)
        Glibc.close(fromBrowser)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sets the viewport (a phone is 390 wide).
    func viewport(width: Int, height: Int, mobile: Bool = false) throws {
        _ = try call(
            "Emulation.setDeviceMetricsOverride",
            ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile])
    }

    /// Headers sent with every request of the page (a bearer token).
    func headers(_ headers: [String: String]) throws {
        _ = try call("Network.setExtraHTTPHeaders", ["headers": headers])
    }

    /// Opens `url` and waits until the page sets `data-ready` on its body
    /// (it does once its charts and tables are built), polling.
    func open(_ url: String, timeout: Double = 30) throws {
        log = PageLog()
        _ = try call("Page.navigate", ["url": url])
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try evaluate("document.body && document.body.getAttribute('data-ready')") as? String == "true" { return }
            try pump(until: Date().addingTimeInterval(0.05))
        }
        throw Failure(description: "\(url) did not get ready in \(timeout) s; console errors: \(log.consoleErrors)")
    }

    /// The value of a JavaScript expression in the page (JSON-like values).
    func evaluate(_ expression: String) throws -> Any? {
        let reply = try call(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = reply["exceptionDetails"] { throw Failure(description: "\(expression) threw: \(exception)") }
        return (reply["result"] as? [String: Any])?["value"]
    }

    /// A PNG of the whole page at the current width.
    func screenshot(to path: String) throws {
        let size =
            try evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]") as? [Any]
        let width = (size?.first as? NSNumber)?.intValue ?? 1280
        let height = (size?.last as? NSNumber)?.intValue ?? 2000
        let shot = try call(
            "Page.captureScreenshot",
            [
                "format": "png", "captureBeyondViewport": true,
                "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1],
            ])
        guard let base64 = shot["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw Failure(description: "no screenshot")
        }
        try png.write(to: URL(fileURLWithPath: path))
    }

    // MARK: Protocol

    private func call(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session, !method.hasPrefix("Target.") { message["sessionId"] = session }
        var bytes = Array(try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: "chromium closed its command pipe") }
            sent += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let reply = try readMessage(until: deadline) else {
                throw Failure(description: "\(method): no reply in \(timeout) s")
            }
            if (reply["id"] as? Int) == id {
                if let error = reply["error"] { throw Failure(description: "\(method) failed: \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
            note(reply)
        }
    }

    /// Reads events until `deadline`.
    private func pump(until deadline: Date) throws {
        while let event = try readMessage(until: deadline) { note(event) }
    }

    private func note(_ event: [String: Any]) {
        let params = event["params"] as? [String: Any] ?? [:]
        switch event["method"] as? String {
        case "Network.requestWillBeSent":
            if let url = (params["request"] as? [String: Any])?["url"] as? String { log.requests.append(url) }
        case "Runtime.exceptionThrown":
            log.consoleErrors.append("exception: \(params["exceptionDetails"] ?? "")")
        case "Runtime.consoleAPICalled" where ["error", "warning", "assert"].contains(params["type"] as? String ?? ""):
            log.consoleErrors.append("console.\(params["type"] ?? ""): \(params["args"] ?? "")")
        case "Log.entryAdded":
            if let entry = params["entry"] as? [String: Any],
                ["error", "warning"].contains(entry["level"] as? String ?? "")
            {
                log.consoleErrors.append("\(entry["source"] ?? ""): \(entry["text"] ?? "") \(entry["url"] ?? "")")
            }
        default: break
        }
    }

    /// One message, or nil when none came before `deadline`.
    private func readMessage(until deadline: Date) throws -> [String: Any]? {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let data = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                return (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            }
            let wait = deadline.timeIntervalSinceNow
            if wait <= 0 { return nil }
            var fds = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, Int32(min(wait, 1) * 1000))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = read(fromBrowser, &chunk, chunk.count)
            if n <= 0 { throw Failure(description: "chromium exited") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
