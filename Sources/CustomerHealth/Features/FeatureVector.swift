/// A customer's metrics as of a day, the inputs of every score (docs/scoring.md
/// defines each). Optional values are unknown, not zero: a customer without
/// tickets has no response time.
public struct FeatureVector: Sendable, Equatable {
    public var daysSinceLastLogin: Int?
    public var logins30d: Int = 0
    public var monthlyActiveUsers: Int = 0
    public var dailyActiveUsers: Double = 0
    public var featuresUsed30d: Int = 0
    /// nil when the account's features_available is unknown.
    public var featureAdoptionRate: Double?
    public var supportTickets30d: Int = 0
    public var avgFirstResponseHours: Double?
    public var uptimePercentage: Double?
    public var costSavingsAchieved: Double = 0
    public var trainingModulesCompleted: Int = 0
    public var trainingCompletionRate: Double?
    public var apiCalls30d: Int = 0
    public var mobileSessions30d: Int = 0
    public var dashboardViews30d: Int = 0
    public var workOrders30d: Int = 0
    public var monthsSinceSubscriptionStart: Double = 0
    public var daysToFirstValue: Int?

    public init() {}

    /// Every metric, declared once: its name in features.jsonl and key_metrics,
    /// where it lives, and the decimals key_metrics shows (nil: features.jsonl
    /// only). json(), the writers of features.jsonl and key_metrics and `rescore`'s
    /// reading all go through it.
    static let fields: [FeatureField] = [
        FeatureField("days_since_last_login", .optionalInt(\.daysSinceLastLogin), shown: 0),
        FeatureField("logins_30d", .int(\.logins30d)),
        FeatureField("monthly_active_users", .int(\.monthlyActiveUsers), shown: 0),
        FeatureField("daily_active_users", .double(\.dailyActiveUsers), shown: 2),
        FeatureField("features_used_30d", .int(\.featuresUsed30d)),
        FeatureField("feature_adoption_rate", .optionalDouble(\.featureAdoptionRate), shown: 4),
        FeatureField("support_tickets_30d", .int(\.supportTickets30d), shown: 0),
        FeatureField("avg_first_response_hours", .optionalDouble(\.avgFirstResponseHours), shown: 2),
        FeatureField("uptime_percentage", .optionalDouble(\.uptimePercentage), shown: 3),
        FeatureField("cost_savings_achieved", .double(\.costSavingsAchieved), shown: 2),
        FeatureField("training_modules_completed", .int(\.trainingModulesCompleted)),
        FeatureField("training_completion_rate", .optionalDouble(\.trainingCompletionRate), shown: 4),
        FeatureField("api_calls_30d", .int(\.apiCalls30d), shown: 0),
        FeatureField("mobile_sessions_30d", .int(\.mobileSessions30d), shown: 0),
        FeatureField("dashboard_views_30d", .int(\.dashboardViews30d), shown: 0),
        FeatureField("work_orders_completed_30d", .int(\.workOrders30d), shown: 0),
        FeatureField("months_since_subscription_start", .double(\.monthsSinceSubscriptionStart), shown: 1),
        FeatureField("days_to_first_value", .optionalInt(\.daysToFirstValue)),
    ]

    /// The names used in features.jsonl and scores.jsonl's key_metrics.
    public static let fieldNames = fields.map(\.name)

    /// Full precision, for features.jsonl (rescoring must reproduce the run).
    public func json() -> JSONValue { .object(FeatureVector.fields.map { ($0.name, $0.json(self)) }) }

    /// Full precision, as json() writes it, straight into a line of features.jsonl.
    func write(to w: inout JSONStreamWriter) {
        // Fields borrowed through a buffer pointer: a `for f in fields` copy retains each name and key path.
        withUnsafeBytes(of: self) { vector in
            FeatureVector.fields.withUnsafeBufferPointer { fields in
                w.object { w in
                    for i in fields.indices {
                        w.key(fields[i].name)
                        fields[i].write(vector, to: &w)
                    }
                }
            }
        }
    }

    /// Rounded for people and dashboards: scores.jsonl's key_metrics.
    func writeDisplay(to w: inout JSONStreamWriter) {
        withUnsafeBytes(of: self) { vector in
            FeatureVector.fields.withUnsafeBufferPointer { fields in
                w.object { w in
                    for i in fields.indices {
                        guard let places = fields[i].shown else { continue }
                        w.key(fields[i].name)
                        fields[i].writeDisplay(vector, places: places, to: &w)
                    }
                }
            }
        }
    }

    /// A vector read back from features.jsonl's values by name; the name of
    /// the first required metric that is missing, or that cannot be held.
    init(values: [String: Double?]) throws(FeatureField.Missing) {
        self.init()
        for f in FeatureVector.fields { try f.set(&self, values[f.name] ?? nil) }
    }
}

/// One metric of `FeatureVector`.
struct FeatureField: Sendable {
    enum Slot: Sendable {
        case int(WritableKeyPath<FeatureVector, Int> & Sendable)
        case optionalInt(WritableKeyPath<FeatureVector, Int?> & Sendable)
        case double(WritableKeyPath<FeatureVector, Double> & Sendable)
        case optionalDouble(WritableKeyPath<FeatureVector, Double?> & Sendable)
    }

    struct Missing: Error { var name: String }

    let name: String
    let slot: Slot
    /// Decimals in key_metrics (0: a whole number); nil: not shown there.
    let shown: Int?

    /// Where the value is stored in a FeatureVector. The line writers read
    /// it there: projecting a key path looks type metadata up on every call,
    /// which showed in profiles of replay (some 50 values a customer a date).
    private let offset: Int

    init(_ name: String, _ slot: Slot, shown: Int? = nil) {
        self.name = name
        self.slot = slot
        self.shown = shown
        switch slot {
        case .int(let k): offset = MemoryLayout<FeatureVector>.offset(of: k)!
        case .optionalInt(let k): offset = MemoryLayout<FeatureVector>.offset(of: k)!
        case .double(let k): offset = MemoryLayout<FeatureVector>.offset(of: k)!
        case .optionalDouble(let k): offset = MemoryLayout<FeatureVector>.offset(of: k)!
        }
    }

    /// The field's value in SnapshotCodec's binary form.
    func encode(_ v: FeatureVector, into w: inout ByteWriter) {
        switch slot {
        case .int(let k): w.i64(v[keyPath: k])
        case .optionalInt(let k): w.optional(v[keyPath: k]) { $0.i64($1) }
        case .double(let k): w.f64(v[keyPath: k])
        case .optionalDouble(let k): w.optional(v[keyPath: k]) { $0.f64($1) }
        }
    }

    func decode(into v: inout FeatureVector, from r: inout ByteReader) throws {
        switch slot {
        case .int(let k): v[keyPath: k] = try r.i64()
        case .optionalInt(let k): v[keyPath: k] = try r.optional { r in try r.i64() }
        case .double(let k): v[keyPath: k] = try r.f64()
        case .optionalDouble(let k): v[keyPath: k] = try r.optional { r in try r.f64() }
        }
    }

    func json(_ v: FeatureVector) -> JSONValue {
        switch slot {
        case .int(let k): return .int(v[keyPath: k])
        case .optionalInt(let k): return .optionalInt(v[keyPath: k])
        case .double(let k): return .double(v[keyPath: k])
        case .optionalDouble(let k): return v[keyPath: k].map { .double($0) } ?? .null
        }
    }

    /// `vector`: the bytes of a FeatureVector.
    func write(_ vector: UnsafeRawBufferPointer, to w: inout JSONStreamWriter) {
        switch slot {
        case .int: w.int(vector.load(fromByteOffset: offset, as: Int.self))
        case .optionalInt: w.int(vector.load(fromByteOffset: offset, as: Int?.self))
        case .double: w.double(vector.load(fromByteOffset: offset, as: Double.self))
        case .optionalDouble: w.double(vector.load(fromByteOffset: offset, as: Double?.self))
        }
    }

    func writeDisplay(_ vector: UnsafeRawBufferPointer, places: Int, to w: inout JSONStreamWriter) {
        switch slot {
        case .int: w.int(vector.load(fromByteOffset: offset, as: Int.self))
        case .optionalInt: w.int(vector.load(fromByteOffset: offset, as: Int?.self))
        case .double: w.number(vector.load(fromByteOffset: offset, as: Double.self), places: places)
        case .optionalDouble: w.number(vector.load(fromByteOffset: offset, as: Double?.self), places: places)
        }
    }

    func set(_ v: inout FeatureVector, _ value: Double?) throws(Missing) {
        func whole(_ d: Double) throws(Missing) -> Int {
            guard d == d.rounded(), abs(d) < 1e15 else { throw Missing(name: name) }
            return Int(d)
        }
        switch slot {
        case .int(let k):
            guard let value else { throw Missing(name: name) }
            v[keyPath: k] = try whole(value)
        case .optionalInt(let k): v[keyPath: k] = try value.map { (d: Double) throws(Missing) -> Int in try whole(d) }
        case .double(let k):
            guard let value else { throw Missing(name: name) }
            v[keyPath: k] = value
        case .optionalDouble(let k): v[keyPath: k] = value
        }
    }
}
