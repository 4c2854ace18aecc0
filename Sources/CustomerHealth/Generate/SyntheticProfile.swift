/// Product profiles of the generator: the same hidden process (health,
/// churn hazard, truth) behind exports shaped like other products' (docs/generator.md#profiles).
/// Each writes, beside its exports, a pipeline file that reads them.
public enum SyntheticProfile: String, CaseIterable, Sendable {
    /// The field-service product the tool was built on: five exports, the seven built-in event names.
    case standard = "default"
    /// A collaboration product with its own event names and column names (no API, mobile, work-order or
    /// training events), no savings export, and accounts without seats or training modules.
    case ownEvents = "own-events"
    /// Only accounts and activity; accounts without features_available or training_modules.
    case twoExports = "two-exports"
    /// No churned_at: a churned customer goes quiet, and some come back; churn is defined by inactivity.
    case inactivity
    /// Activity as nested JSON Lines in the shape of a Segment export, with epoch-millisecond timestamps.
    case nestedJSONL = "nested-jsonl"

    /// One line for `generate --help` and the docs.
    public var summary: String {
        switch self {
        case .standard: return "field-service product: five exports, the built-in event names, churned_at"
        case .ownEvents:
            return
                "own event and column names, no API/mobile/work-order/training events, no savings; accounts without seats"
        case .twoExports: return "accounts and activity only; accounts without features_available and training_modules"
        case .inactivity:
            return "no churned_at: churned customers go quiet and some come back (churn = 30 days without activity)"
        case .nestedJSONL: return "activity as Segment-style nested JSONL with epoch-millisecond timestamps"
        }
    }

    var writesSavings: Bool { self != .ownEvents && self != .twoExports }
    var writesTickets: Bool { self != .twoExports }
    var writesUptime: Bool { self != .twoExports }
    var writesChurnedAt: Bool { self != .inactivity }
    var writesSeats: Bool { self != .ownEvents }
    var writesFeaturesAvailable: Bool { self != .twoExports }
    var writesTrainingModules: Bool { self != .twoExports && self != .ownEvents }
    /// Churned customers stop all activity and may come back later.
    public var lapses: Bool { self == .inactivity }

    /// Days without activity that define churn in the profile's pipeline.
    static let inactivityDays = 30
    /// Daily probability that a customer who went quiet comes back (about one in three within 45 days).
    static let returnProbability = 1.0 / 120

    /// The own-events product's event names, with the built-in kind each maps to in its pipeline.
    static let ownEventNames = [
        "Session Started", "Document Edited", "Report Exported", "Comment Added", "Invite Sent", "Dashboard Viewed",
        "Export Failed",
    ]

    /// Relative weights of the own-events product's events at health h:
    /// editing, reports, comments and invites grow with health; failed
    /// exports come with trouble.
    static func ownEventWeights(h: Double) -> [Double] {
        [
            0.30 + 0.30 * (1 - h),  // Session Started
            0.20 + 0.25 * h,  // Document Edited
            0.03 + 0.12 * h,  // Report Exported
            0.06 + 0.10 * h,  // Comment Added
            0.005 + 0.04 * h,  // Invite Sent
            0.10 + 0.04 * h,  // Dashboard Viewed
            0.01 + 0.08 * (1 - h) * (1 - h),  // Export Failed
        ]
    }

    /// The features of the own-events product: what `features_available` counts.
    static let ownFeatureEvents = 4

    /// The nested-JSONL profile's names for the seven built-in kinds (Segment's Object Action style).
    static let segmentEventNames = [
        "Signed In", "Feature Used", "API Called", "Mobile Session Started", "Dashboard Viewed", "Work Order Completed",
        "Training Completed",
    ]

    /// The pipeline that reads this profile's exports, written beside them.
    func pipelineYAML() -> String {
        let exports = exportsYAML
        let extra = eventsAndChurnYAML
        return """
            # Reads the exports of `customer-health generate --profile \(rawValue)`.
            # \(summary)
            version: 1
            input: exports
            output: output
            max_reject_ratio: 0.001

            \(exports)\(extra)
            churn:
              model: models/churn-model.json
              if_missing: train
              observe_every: 30d
              validation_dates: 1
              min_positives: 50
              on_insufficient_data: warn

            """
    }

    /// The `exports:` section: the files this profile writes, with the
    /// columns and timestamp format of its activity export.
    private var exportsYAML: String {
        var exports = """
            exports:
              accounts:
                files: "accounts*.csv.gz"

            """
        switch self {
        case .ownEvents:
            exports += """
                  activity:
                    files: "events-*.csv.gz"
                    columns: {customer_id: account_id, user_id: user, occurred_at: timestamp, event_type: event_name}

                """
        case .nestedJSONL:
            exports += """
                  activity:
                    files: "events-*.jsonl.gz"
                    timestamp_format: epoch_ms
                    columns: {customer_id: context.groupId, user_id: userId, occurred_at: timestamp, event_type: event, feature: properties.feature}

                """
        default:
            exports += """
                  activity:
                    files: "activity-*.csv.gz"

                """
        }
        if writesTickets { exports += "  tickets:\n    files: \"tickets-*.jsonl.gz\"\n" }
        if writesUptime { exports += "  uptime:\n    files: \"uptime-*.csv.gz\"\n" }
        if writesSavings { exports += "  savings:\n    files: \"savings*.csv.gz\"\n" }
        return exports
    }

    /// The `events:` or `churn_definition:` section the profile needs, or "".
    private var eventsAndChurnYAML: String {
        var extra = ""
        switch self {
        case .ownEvents:
            extra = """

                # The product's own event names: two are built-in kinds, four are
                # features of the plan (counted as feature_use, each name its own
                # feature), and failed exports are kept as a named product event.
                events:
                  map:
                    "Session Started": login
                    "Dashboard Viewed": dashboard_view
                    "Document Edited": feature
                    "Report Exported": feature
                    "Comment Added": feature
                    "Invite Sent": feature
                  other: keep

                """
        case .nestedJSONL:
            extra = """

                events:
                  map:
                    "Signed In": login
                    "Feature Used": feature_use
                    "API Called": api_call
                    "Mobile Session Started": mobile_session
                    "Dashboard Viewed": dashboard_view
                    "Work Order Completed": work_order_completed
                    "Training Completed": training_completed
                  other: reject

                """
        case .inactivity:
            extra = """

                # The exports have no churned_at: a customer is churned after
                # \(SyntheticProfile.inactivityDays) days without any activity, and active again when it comes back.
                churn_definition:
                  from: inactivity
                  inactivity_days: \(SyntheticProfile.inactivityDays)

                """
        default: break
        }
        return extra
    }
}
