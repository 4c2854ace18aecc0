/// The exports of the data contract, each declared once: its columns (name,
/// type, whether the header must have it, whether a row may leave it empty,
/// what is allowed), its default globs and its row handler. The header check,
/// row decoding, the pipeline's `columns:` check, the JSONL key paths and the
/// tables of docs/data-contract.md all read these declarations.
public enum ExportKind: String, CaseIterable, Sendable, Comparable {
    case accounts, activity, tickets, uptime, savings

    public static func < (a: ExportKind, b: ExportKind) -> Bool { a.index < b.index }

    /// This export's contract.
    public var contract: ExportContract {
        switch self {
        case .accounts:
            return ExportContract(kind: self, rowIs: "customer (the customer table)", columns: AccountsColumn.specs)
        case .activity: return ExportContract(kind: self, rowIs: "product event", columns: ActivityColumn.specs)
        case .tickets:
            return ExportContract(kind: self, rowIs: "version of a support ticket", columns: TicketsColumn.specs)
        case .uptime: return ExportContract(kind: self, rowIs: "customer and day", columns: UptimeColumn.specs)
        case .savings: return ExportContract(kind: self, rowIs: "recorded cost saving", columns: SavingsColumn.specs)
        }
    }

    /// Contract column names, in the order the row handlers index them.
    public var columns: [String] { contract.columns.map(\.name) }

    /// Default file globs, matched against names in the input folder.
    public var defaultGlobs: [String] { ["csv", "csv.gz", "jsonl", "jsonl.gz"].map { "\(rawValue)*.\($0)" } }

    /// Position in `allCases`, for per-export arrays (a switch: `allCases`
    /// builds an array at every call, and rows ask for this).
    var index: Int {
        switch self {
        case .accounts: return 0
        case .activity: return 1
        case .tickets: return 2
        case .uptime: return 3
        case .savings: return 4
        }
    }

    /// Whether `partition` splits this export's files by customer bucket:
    /// every row is about one customer. Accounts (every shard needs every
    /// customer) and tickets (a ticket's versions may name several) stay whole.
    public var isSplitByCustomer: Bool { self == .activity || self == .uptime || self == .savings }

    /// Accounts and activity are needed; the other exports may be absent
    /// (their score parts are then not applicable: docs/scoring.md).
    public var isRequired: Bool { self == .accounts || self == .activity }
}

/// One export's columns, in handler order.
public struct ExportContract: Sendable {
    public let kind: ExportKind
    /// What one row stands for, for the docs.
    public let rowIs: String
    public let columns: [ExportColumn]

    public func column(named name: String) -> ExportColumn? { columns.first { $0.name == name } }

    /// The columns table of docs/data-contract.md, generated from the declarations.
    public func markdownTable() -> String {
        var rows: [[String]] = [["Column", "Type", "Column", "Value", "Allowed"]]
        for c in columns {
            rows.append(["`\(c.name)`", c.type.docName, c.header.docText, c.value.docText, c.allowed])
        }
        let widths = (0..<5).map { i in rows.map { $0[i].count }.max()! }
        func line(_ cells: [String]) -> String {
            "| "
                + cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                    separator: " | ") + " |"
        }
        var out = [
            line(rows[0]), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|",
        ]
        out += rows.dropFirst().map(line)
        return out.joined(separator: "\n")
    }
}

/// How a column's text is read (docs/data-contract.md, "Field types").
public enum ColumnType: Sendable, Equatable {
    case text
    /// The export's `timestamp_format`.
    case timestamp
    /// The export's `date_format` (or the pipeline's).
    case date
    /// A timestamp, or else a date; only its UTC day counts.
    case timestampOrDate
    /// A decimal kept exactly as an integer of 10^-scale units, at least `minimum`.
    case decimal(scale: Int, minimum: Int64?)
    /// A decimal read as a number (money), at least 0.
    case amount
    /// A whole number in a range.
    case integer(ClosedRange<Int>)

    var docName: String {
        switch self {
        case .text: return "text"
        case .timestamp: return "timestamp"
        case .date: return "date"
        case .timestampOrDate: return "timestamp or date"
        case .decimal, .amount: return "decimal"
        case .integer: return "integer"
        }
    }
}

/// Whether a column must be in the header.
public enum HeaderRule: Sendable, Equatable {
    case required
    case optional
    /// Optional, unless the pipeline's churn definition reads it.
    case requiredByChurnDefinition(ChurnSource)

    var docText: String {
        switch self {
        case .required: return "required"
        case .optional: return "optional"
        case .requiredByChurnDefinition(let s): return "optional; required by `churn_definition.from: \(s.rawValue)`"
        }
    }
}

/// Whether a row may leave the column empty.
public enum ValueRule: Sendable, Equatable {
    case required
    case mayBeEmpty
    /// Documented in the Allowed column (depends on other fields).
    case conditional(String)

    var docText: String {
        switch self {
        case .required: return "required"
        case .mayBeEmpty: return "may be empty"
        case .conditional(let s): return s
        }
    }
}

/// One column of an export.
public struct ExportColumn: Sendable {
    public let name: String
    public let type: ColumnType
    public let header: HeaderRule
    public let value: ValueRule
    /// What is allowed, and what an absent column means.
    public let allowed: String

    init(
        _ name: String, _ type: ColumnType, header: HeaderRule = .required, value: ValueRule = .required,
        _ allowed: String = ""
    ) {
        self.name = name
        self.type = type
        self.header = header
        self.value = value
        self.allowed = allowed
    }

    /// True when the header must have the column under `churn`.
    func isRequired(churn: ChurnDefinition) -> Bool {
        switch header {
        case .required: return true
        case .optional: return false
        case .requiredByChurnDefinition(let source): return churn.source == source
        }
    }
}

/// A column enum of one export: its cases are the columns in contract order.
protocol ContractColumn: RawRepresentable, CaseIterable where RawValue == Int {
    var spec: ExportColumn { get }
}

extension ContractColumn {
    static var specs: [ExportColumn] { allCases.map(\.spec) }
}

enum AccountsColumn: Int, ContractColumn {
    case customerID, name, plan, mrr, subscriptionStart, churnedAt, subscriptionEnd, seats, featuresAvailable,
        trainingModules
    case acquisitionCost, nps

    var spec: ExportColumn {
        switch self {
        case .customerID: return ExportColumn("customer_id", .text, "unique; spaces around it are trimmed")
        case .name: return ExportColumn("name", .text, header: .optional, value: .mayBeEmpty)
        case .plan: return ExportColumn("plan", .text, header: .optional, value: .mayBeEmpty, "absent: no plan (empty)")
        case .mrr:
            return ExportColumn(
                "mrr", .amount, header: .optional, value: .mayBeEmpty,
                "≥ 0 (monthly recurring revenue); absent or empty: unknown, so ROI is not applicable and MRR sums leave it out"
            )
        case .subscriptionStart: return ExportColumn("subscription_start", .date, "`date_format`")
        case .churnedAt:
            return ExportColumn(
                "churned_at", .timestampOrDate, header: .requiredByChurnDefinition(.churnedAt),
                value: .conditional("empty while active"),
                "`timestamp_format`, else `date_format`; its UTC day counts")
        case .subscriptionEnd:
            return ExportColumn(
                "subscription_end", .timestampOrDate, header: .requiredByChurnDefinition(.subscriptionEnd),
                value: .conditional("empty while it runs"),
                "`timestamp_format`, else `date_format`; the day the subscription ended (or will end)")
        case .seats:
            return ExportColumn(
                "seats", .integer(1...10_000_000), header: .optional, value: .mayBeEmpty,
                "1 to 10,000,000; absent or empty: unknown, so the per-seat score parts are not applicable")
        case .featuresAvailable:
            return ExportColumn(
                "features_available", .integer(1...100_000), header: .optional, value: .mayBeEmpty,
                "1 to 100,000 (features in the plan); absent or empty: unknown, so adoption is not applicable")
        case .trainingModules:
            return ExportColumn(
                "training_modules", .integer(0...100_000), header: .optional, value: .mayBeEmpty,
                "0 to 100,000 (modules in the plan); absent or empty: unknown, so training is not applicable")
        case .acquisitionCost:
            return ExportColumn("acquisition_cost", .amount, header: .optional, value: .mayBeEmpty, "≥ 0")
        case .nps:
            return ExportColumn(
                "nps", .integer(0...10), header: .optional, value: .mayBeEmpty, "0 to 10 (latest survey answer)")
        }
    }
}

enum ActivityColumn: Int, ContractColumn {
    case customerID, userID, occurredAt, eventType, feature, duration

    var spec: ExportColumn {
        switch self {
        case .customerID: return ExportColumn("customer_id", .text, "must be in accounts")
        case .userID: return ExportColumn("user_id", .text)
        case .occurredAt: return ExportColumn("occurred_at", .timestamp)
        case .eventType:
            return ExportColumn(
                "event_type", .text,
                "the product's event name: a built-in kind (\(EventKind.allNames)) or a name that `events:` maps (docs/pipeline.md#events)"
            )
        case .feature:
            return ExportColumn(
                "feature", .text, header: .optional, value: .conditional("see right"),
                "the feature of a `feature_use` event and the module of a `training_completed` one; when empty, an event mapped by `events:` uses its own name, an event named `feature_use` or `training_completed` is rejected"
            )
        case .duration:
            return ExportColumn(
                "duration_s", .decimal(scale: 3, minimum: 0), header: .optional, value: .mayBeEmpty,
                "≥ 0; checked, not used in scores")
        }
    }
}

enum TicketsColumn: Int, ContractColumn {
    case ticketID, customerID, openedAt, firstResponseAt, resolvedAt, priority, status

    var spec: ExportColumn {
        switch self {
        case .ticketID: return ExportColumn("ticket_id", .text, "the update key")
        case .customerID: return ExportColumn("customer_id", .text, "must be in accounts")
        case .openedAt: return ExportColumn("opened_at", .timestamp)
        case .firstResponseAt:
            return ExportColumn(
                "first_response_at", .timestamp, header: .optional, value: .mayBeEmpty, "not before `opened_at`")
        case .resolvedAt:
            return ExportColumn(
                "resolved_at", .timestamp, header: .optional, value: .mayBeEmpty, "not before `opened_at`")
        case .priority:
            return ExportColumn("priority", .text, header: .optional, value: .mayBeEmpty, "free text, not used")
        case .status: return ExportColumn("status", .text, header: .optional, value: .mayBeEmpty, "free text, not used")
        }
    }
}

enum UptimeColumn: Int, ContractColumn {
    case customerID, date, uptimePct

    var spec: ExportColumn {
        switch self {
        case .customerID: return ExportColumn("customer_id", .text, "must be in accounts")
        case .date: return ExportColumn("date", .date, "`date_format`")
        case .uptimePct: return ExportColumn("uptime_pct", .decimal(scale: 3, minimum: nil), "0 to 100")
        }
    }
}

enum SavingsColumn: Int, ContractColumn {
    case customerID, recordedAt, amount, category

    var spec: ExportColumn {
        switch self {
        case .customerID: return ExportColumn("customer_id", .text, "must be in accounts")
        case .recordedAt: return ExportColumn("recorded_at", .date, "`date_format`")
        case .amount: return ExportColumn("amount", .decimal(scale: 4, minimum: nil), "≥ 0")
        case .category:
            return ExportColumn("category", .text, header: .optional, value: .mayBeEmpty, "free text, not used")
        }
    }
}
