/// The five exports of the data contract (docs/data-contract.md).
public enum ExportKind: String, CaseIterable, Sendable, Comparable {
    case accounts, activity, tickets, uptime, savings

    public static func < (a: ExportKind, b: ExportKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Contract column names, in the order the row parsers index them.
    public var columns: [String] {
        switch self {
        case .accounts:
            return ["customer_id", "name", "plan", "mrr", "subscription_start", "churned_at", "seats",
                "features_available", "training_modules", "acquisition_cost", "nps"]
        case .activity:
            return ["customer_id", "user_id", "occurred_at", "event_type", "feature", "duration_s"]
        case .tickets:
            return ["ticket_id", "customer_id", "opened_at", "first_response_at", "resolved_at", "priority", "status"]
        case .uptime:
            return ["customer_id", "date", "uptime_pct"]
        case .savings:
            return ["customer_id", "recorded_at", "amount", "category"]
        }
    }

    /// Columns that may be absent from the header altogether.
    public var optionalColumns: Set<String> {
        switch self {
        case .accounts: return ["acquisition_cost", "nps", "name"]
        case .activity: return ["feature", "duration_s"]
        case .tickets: return ["first_response_at", "resolved_at", "priority", "status"]
        case .uptime: return []
        case .savings: return ["category"]
        }
    }

    /// Default file globs, matched against names in the input folder.
    public var defaultGlobs: [String] {
        switch self {
        case .accounts: return ["accounts*.csv", "accounts*.csv.gz", "accounts*.jsonl", "accounts*.jsonl.gz"]
        case .activity: return ["activity*.csv", "activity*.csv.gz", "activity*.jsonl", "activity*.jsonl.gz"]
        case .tickets: return ["tickets*.csv", "tickets*.csv.gz", "tickets*.jsonl", "tickets*.jsonl.gz"]
        case .uptime: return ["uptime*.csv", "uptime*.csv.gz", "uptime*.jsonl", "uptime*.jsonl.gz"]
        case .savings: return ["savings*.csv", "savings*.csv.gz", "savings*.jsonl", "savings*.jsonl.gz"]
        }
    }
}

/// The event types of the activity export.
enum EventType: UInt8, CaseIterable {
    case login, featureUse, apiCall, mobileSession, dashboardView, workOrderCompleted, trainingCompleted

    var name: String {
        switch self {
        case .login: return "login"
        case .featureUse: return "feature_use"
        case .apiCall: return "api_call"
        case .mobileSession: return "mobile_session"
        case .dashboardView: return "dashboard_view"
        case .workOrderCompleted: return "work_order_completed"
        case .trainingCompleted: return "training_completed"
        }
    }

    static let allNames = allCases.map(\.name).joined(separator: ", ")

    @inline(__always)
    static func parse(_ f: UnsafeRawBufferPointer) -> EventType? {
        // Compare on length first: each name has a distinct length but two.
        switch f.count {
        case 5: return equal(f, "login") ? .login : nil
        case 11: return equal(f, "feature_use") ? .featureUse : nil
        case 8: return equal(f, "api_call") ? .apiCall : nil
        case 14:
            if equal(f, "mobile_session") { return .mobileSession }
            if equal(f, "dashboard_view") { return .dashboardView }
            return nil
        case 20: return equal(f, "work_order_completed") ? .workOrderCompleted : nil
        case 18: return equal(f, "training_completed") ? .trainingCompleted : nil
        default: return nil
        }
    }

    @inline(__always)
    private static func equal(_ f: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard f.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<f.count where f[i] != p[i] { return false }
        return true
    }
}
