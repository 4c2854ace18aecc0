import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `serve` through the real executable: refusals at start, the listening
/// line, SIGTERM. The routes are tested in CustomerHealthServerTests.
final class ServeCommandTests: XCTestCase {
    func testRefusesUnsafeOrBrokenSettingsWithUsageErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let open = try CLI.run(["serve", "--output", dir.path, "--host", "0.0.0.0"])
        XCTAssertEqual(open.status, 2, open.transcript)
        XCTAssertTrue(
            open.stderr.contains("--host 0.0.0.0 is reachable from other machines: pass --token-file FILE"),
            open.transcript)

        let tokenFile = dir.appendingPathComponent("token")
        try "abc\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let short = try CLI.run(["serve", "--output", dir.path, "--host", "0.0.0.0", "--token-file", tokenFile.path])
        XCTAssertEqual(short.status, 2, short.transcript)
        XCTAssertTrue(short.stderr.contains("at least 16 characters"), short.transcript)

        let nothing = try CLI.run(["serve"])
        XCTAssertEqual(nothing.status, 2, nothing.transcript)
        XCTAssertTrue(nothing.stderr.contains("--output"), nothing.transcript)
    }

    func testPrintsWhereItListensAndStopsOnSigterm() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = ["serve", "--output", dir.appendingPathComponent("output").path, "--port", "0", "--quiet"]
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        for _ in 0..<300 where !line.contains("\n") {
            usleep(100_000)
            line = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        }
        XCTAssertNotNil(
            line.range(
                of: #"^customer-health: serving .*/output on http://127\.0\.0\.1:[1-9][0-9]*\n$"#,
                options: .regularExpression), line)
        // A client that connected and sent nothing does not hold the
        // shutdown back (its first-request deadline is 10 s away).
        let port = Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        let idle = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(idle) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(idle, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("serve did not stop within 5 s of SIGTERM")
        }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
