import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `customer-health serve ... --port 0` as a child process, and the address
/// it printed once listening. Stopped with SIGTERM when released.
final class ServeProcess {
    let process: Process
    /// `http://127.0.0.1:PORT`.
    let base: String
    private let stdout: URL

    /// Starts `serve` with `arguments` (`--port 0 --quiet` are added) and
    /// polls its standard output, for up to 30 s, for the address.
    init(_ arguments: [String]) throws {
        stdout = FileManager.default.temporaryDirectory.appendingPathComponent("ch-serve-stdout-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = ["serve"] + arguments + ["--port", "0", "--quiet"]
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        for _ in 0..<600 where !line.contains("\n") {
            usleep(50_000)
            line = (try? String(contentsOf: stdout, encoding: .utf8)) ?? ""
        }
        guard let range = line.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: stdout)
            throw HeadlessChromium.Failure(description: "serve did not say where it listens: \(line)")
        }
        base = String(line[range])
    }

    deinit {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: stdout)
    }
}
