import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Helpers shared by the fuzz targets: a scratch folder on tmpfs for the
/// targets that read files, the repository's location, a silent logger and
/// the small export set of the test suite (`Tests/.../ExportsFolder.swift`).
public enum FuzzSupport {
    /// The repository root: $CUSTOMER_HEALTH_REPO, else two folders above this package.
    public static let repository: String = {
        if let r = ProcessInfo.processInfo.environment["CUSTOMER_HEALTH_REPO"], !r.isEmpty { return r }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }()

    /// A folder of this process's own: $FUZZ_SCRATCH/<pid> (run.sh sets it and
    /// removes it afterwards), else /dev/shm or /tmp. Removed at a normal exit.
    public static let scratch: String = {
        let env = ProcessInfo.processInfo.environment["FUZZ_SCRATCH"]
        let base = env.flatMap { $0.isEmpty ? nil : $0 }
            ?? (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        let dir = (base as NSString).appendingPathComponent("customer-health-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        scratchToRemove = dir
        atexit { if let d = scratchToRemove { try? FileManager.default.removeItem(atPath: d) } }
        return dir
    }()
    nonisolated(unsafe) private static var scratchToRemove: String?

    /// Writes `bytes` to scratch/<name> (replacing it) and returns the path.
    @discardableResult
    public static func write(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
        let path = (scratch as NSString).appendingPathComponent(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        require(fd >= 0, "cannot create \(path): errno \(errno)")
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            require(n > 0, "cannot write \(path): errno \(errno)")
            done += n
        }
        close(fd)
        return path
    }

    @discardableResult
    public static func write(_ name: String, _ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { write(name, $0) }
    }

    /// A logger that drops everything (the fuzzers' output is libFuzzer's own).
    public static let silentLogger = Logger(label: "customer-health-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The customer ids the row handlers know: the test suite's sample, the
    /// generator's `cust_NNNNNN` and the first column of the example exports' accounts.
    public static let customerIDs: [String] = {
        var ids = ["c1", "c2", "c3", "c4"] + (0..<16).map { String(format: "cust_%06d", $0) }
        let examples = (repository as NSString).appendingPathComponent("pipelines/examples")
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: examples))?.sorted() ?? [] {
            for file in ["accounts.csv", "subscriptions.csv"] {
                let path = ((examples as NSString).appendingPathComponent(dir) as NSString).appendingPathComponent(file)
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                for line in text.split(separator: "\n").dropFirst().prefix(50) {
                    if let first = line.split(separator: ",", omittingEmptySubsequences: false).first, !first.isEmpty {
                        ids.append(String(first))
                    }
                }
            }
        }
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }
    }()
}

/// The small export set of the test suite (Tests/CustomerHealthTestSupport/ExportsFolder.swift,
/// `Sample`), scored as of 2026-03-31: the `serve` target serves a run made from it.
public enum SampleExports {
    public static let files: [(name: String, text: String)] = [
        ("accounts.csv", """
            customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules,acquisition_cost,nps
            c1,Acme Corp,pro,1000,2025-01-01,,10,10,4,5000,9
            c2,Beta Ltd,basic,500,2025-06-01,,5,8,2,2000,5
            c3,Gamma Inc,enterprise,2000,2025-03-01,,20,10,4,,
            c4,Delta GmbH,basic,300,2024-06-01,2026-03-15,3,8,2,1500,7

            """),
        ("activity-2026-03.csv", """
            customer_id,user_id,occurred_at,event_type,feature,duration_s
            c1,u1,2026-03-31T09:00:00Z,login,,
            c1,u2,2026-03-30T10:00:00Z,feature_use,reports,30
            c1,u1,2026-03-29T11:00:00Z,api_call,,
            c2,v1,2026-03-20T08:00:00Z,login,,
            c2,v1,2026-03-20T08:05:00Z,work_order_completed,,
            c3,w1,2026-02-01T08:00:00Z,login,,
            c3,w2,2026-03-31T23:59:59Z,dashboard_view,,
            c4,x1,2026-03-01T12:00:00Z,login,,

            """),
        ("tickets-2026-03.jsonl", """
            {"ticket_id": "t1", "customer_id": "c1", "opened_at": "2026-03-10T10:00:00Z", "first_response_at": "2026-03-10T14:00:00Z", "resolved_at": null, "priority": "high", "status": "open"}
            {"ticket_id": "t2", "customer_id": "c2", "opened_at": "2026-03-12T10:00:00Z", "first_response_at": "2026-03-13T10:00:00Z", "resolved_at": "2026-03-14T10:00:00Z", "priority": "low", "status": "closed"}

            """),
        ("uptime-2026-03.csv", """
            customer_id,date,uptime_pct
            c1,2026-03-30,99.95
            c1,2026-03-31,99.85
            c2,2026-03-31,97.5
            c3,2026-03-31,100

            """),
        ("savings.csv", """
            customer_id,recorded_at,amount,category
            c1,2025-06-01,12000.50,energy
            c1,2026-03-01,3000,labour
            c3,2026-02-01,500.25,energy

            """),
    ]
}

/// Reads the fuzz input as a little stream of control values, then the rest.
public struct FuzzBytes {
    public let base: UnsafePointer<UInt8>?
    public let count: Int
    public private(set) var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        base = data
        count = data == nil ? 0 : size
    }

    /// The next byte, or 0 past the end.
    public mutating func byte() -> UInt8 {
        guard position < count, let base else { return 0 }
        defer { position += 1 }
        return base[position]
    }

    /// Everything not taken yet.
    public var rest: UnsafeRawBufferPointer {
        guard let base, position < count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + position, count: count - position)
    }
}

/// A check of a fuzz target: when it fails, the process stops with the
/// message (unlike `precondition`, whose message an optimized build drops),
/// and libFuzzer saves the input as a crash.
@inline(never)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        let text = "fuzz check failed (\(file):\(line)): \(message())\n"
        FileHandle.standardError.write(Data(text.utf8))
        fatalError(text, file: file, line: line)
    }
}
