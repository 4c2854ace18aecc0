import Foundation

/// What `SyntheticExportGenerator.generate` simulates and how it writes it.
///
/// The same options (whatever `threads` is) always give byte-identical files.
public struct SyntheticExportOptions: Sendable, Equatable {
    /// Number of customers (accounts) simulated.
    public var customers: Int
    /// Length of the simulated window in days; it ends on `endDate` (inclusive).
    public var days: Int
    /// Seed of every random draw.
    public var seed: UInt64
    /// Last simulated day, `yyyy-MM-dd` (UTC).
    public var endDate: String
    /// Mean activity rows per customer per day of the window: the expected
    /// total is `activityRate * customers * days` (100,000 x 180 x 1.1, about
    /// 20 million rows). Rows only fall on days a customer is subscribed, so a
    /// subscribed customer-day carries about 1.2 x this on average.
    public var activityRate: Double
    /// Worker threads; the output does not depend on it.
    public var threads: Int
    /// zlib level 0 (store) ... 9 (smallest); 1 is fastest.
    public var gzipLevel: Int
    /// The shape of the exports (the hidden process is the same for all).
    public var profile: SyntheticProfile

    public init(
        customers: Int = 300,
        days: Int = 180,
        seed: UInt64 = 42,
        endDate: String = "2026-11-23",
        activityRate: Double = 1.1,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        gzipLevel: Int = 1,
        profile: SyntheticProfile = .standard
    ) {
        self.customers = customers
        self.days = days
        self.seed = seed
        self.endDate = endDate
        self.activityRate = activityRate
        self.threads = threads
        self.gzipLevel = gzipLevel
        self.profile = profile
    }

    /// Throws `SyntheticExportError.invalidOption` for values the generator cannot use.
    public func validate() throws {
        guard customers >= 1, customers <= 10_000_000 else {
            throw SyntheticExportError.invalidOption("customers must be between 1 and 10,000,000 (got \(customers))")
        }
        guard days >= 1, days <= 3_660 else {
            throw SyntheticExportError.invalidOption("days must be between 1 and 3,660 (got \(days))")
        }
        // The hidden-health path takes one byte per customer-day in memory.
        guard customers * days <= 2_000_000_000 else {
            throw SyntheticExportError.invalidOption(
                "customers x days must stay under 2 billion (got \(customers * days))")
        }
        guard SyntheticCalendar.parse(endDate) != nil else {
            throw SyntheticExportError.invalidOption(
                "end date must be a real date written yyyy-MM-dd (got \"\(endDate)\")")
        }
        guard activityRate.isFinite, activityRate >= 0, activityRate <= 1_000 else {
            throw SyntheticExportError.invalidOption("activity rate must be between 0 and 1000 (got \(activityRate))")
        }
        guard threads >= 1 else {
            throw SyntheticExportError.invalidOption("threads must be at least 1 (got \(threads))")
        }
        guard (0...9).contains(gzipLevel) else {
            throw SyntheticExportError.invalidOption("gzip level must be 0...9 (got \(gzipLevel))")
        }
    }
}

/// What one `generate` call wrote.
public struct SyntheticExportSummary: Sendable {
    /// One written file.
    public struct File: Sendable, Equatable {
        /// Path relative to the output directory, e.g. `exports/activity-2026-10-02.csv.gz`.
        public let path: String
        /// Export kind: `accounts`, `activity`, `tickets`, `uptime`, `savings` or `truth`.
        public let export: String
        /// Data rows (CSV rows without the header, or JSON lines).
        public let rows: Int
        /// Size of the gzip file in bytes.
        public let bytes: Int
    }

    /// The output directory as given.
    public let directory: String
    /// Every file written, sorted by path.
    public let files: [File]
    /// Number of customers in accounts.csv.gz.
    public let customers: Int
    /// Customers whose `churned_at` falls inside the window (profiles with
    /// lapses: customers who went quiet at least once).
    public let churnedCustomers: Int
    /// Profiles with lapses: customers who went quiet and came back.
    public let returnedCustomers: Int
    /// First and last simulated day, `yyyy-MM-dd`.
    public let windowStart: String
    public let windowEnd: String

    /// Paths (relative to `directory`) of every file written, sorted.
    public var filesWritten: [String] { files.map(\.path) }

    /// Data rows per export kind (`accounts`, `activity`, `tickets`, `uptime`, `savings`, `truth`).
    public var rowsPerExport: [String: Int] {
        var rows: [String: Int] = [:]
        for file in files { rows[file.export, default: 0] += file.rows }
        return rows
    }

    /// Total gzip bytes written.
    public var totalBytes: Int { files.reduce(0) { $0 + $1.bytes } }
}

/// Errors of the synthetic-export generator.
public enum SyntheticExportError: Error, CustomStringConvertible, Sendable {
    case invalidOption(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): return "invalid option: \(message)"
        case .io(let message): return message
        }
    }
}
