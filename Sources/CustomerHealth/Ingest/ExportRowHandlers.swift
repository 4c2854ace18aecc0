import Dispatch
import Foundation
import Synchronization

/// One row of the accounts export, parsed. Optional values are unknown:
/// the export has no such column, or left the field empty.
public struct AccountRecord: Sendable {
    public var customerID: String
    public var name: String
    public var plan: String
    public var mrr: Double?
    public var subscriptionStart: CalendarDay
    public var churnedAt: CalendarDay?
    public var subscriptionEnd: CalendarDay? = nil
    public var seats: Int?
    public var featuresAvailable: Int?
    public var trainingModules: Int?
    public var acquisitionCost: Double?
    public var nps: Int?

    public init(
        customerID: String, name: String, plan: String, mrr: Double?, subscriptionStart: CalendarDay,
        churnedAt: CalendarDay?,
        subscriptionEnd: CalendarDay? = nil, seats: Int?, featuresAvailable: Int?, trainingModules: Int?,
        acquisitionCost: Double?, nps: Int?
    ) {
        self.customerID = customerID
        self.name = name
        self.plan = plan
        self.mrr = mrr
        self.subscriptionStart = subscriptionStart
        self.churnedAt = churnedAt
        self.subscriptionEnd = subscriptionEnd
        self.seats = seats
        self.featuresAvailable = featuresAvailable
        self.trainingModules = trainingModules
        self.acquisitionCost = acquisitionCost
        self.nps = nps
    }

    /// Seats for per-seat figures: the known value, else 1.
    public var seatsOrOne: Int { max(1, seats ?? 1) }
}

/// Reads the fields of one export's rows by their declared column (type,
/// range, whether a row may leave it empty), naming the column in every
/// rejection.
struct FieldReader {
    let kind: ExportKind
    let contract: ExportContract
    /// Per column, from the contract: read once here so that the row loop
    /// touches plain values, not the declarations' strings.
    private let types: [ColumnType]
    private let valueRequired: [Bool]
    let timestampFormat: TimestampFormat
    let tokens: [TimestampFormat.Token]
    let dateFormat: TimestampFormat
    let dateTokens: [TimestampFormat.Token]

    init(settings: ExportSettings, dateFormat: TimestampFormat) {
        kind = settings.kind
        contract = settings.kind.contract
        types = contract.columns.map(\.type)
        valueRequired = contract.columns.map { $0.value == .required }
        timestampFormat = settings.timestampFormat
        tokens = settings.timestampFormat.tokens
        let effectiveDate = settings.dateFormat ?? dateFormat
        self.dateFormat = effectiveDate
        dateTokens = effectiveDate.tokens
    }

    @inline(__always)
    func spec<C: ContractColumn>(_ c: C) -> ExportColumn { contract.columns[c.rawValue] }

    func name<C: ContractColumn>(_ c: C) -> String { spec(c).name }

    @inline(__always)
    func quoted(_ f: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: f.prefix(80), as: UTF8.self)
        return "\"\(text)\(f.count > 80 ? "..." : "")\""
    }

    /// The field's bytes, or nil when the row leaves it blank (or the header
    /// lacks the column) and the column's value may be empty.
    @inline(__always)
    func present<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> UnsafeRawBufferPointer? {
        let f = row.field(c.rawValue)
        if FieldParser.isBlank(f) {
            if valueRequired[c.rawValue] && row.has(c.rawValue) {
                throw RowRejection(column: name(c), code: .missingValue, message: "\(name(c)) is empty")
            }
            return nil
        }
        return f
    }

    @inline(__always)
    func required<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> UnsafeRawBufferPointer {
        let f = row.field(c.rawValue)
        if FieldParser.isBlank(f) {
            throw RowRejection(column: name(c), code: .missingValue, message: "\(name(c)) is empty")
        }
        return f
    }

    /// The field checked as UTF-8 (possibly empty).
    @inline(__always)
    func utf8<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> UnsafeRawBufferPointer {
        let f = row.field(c.rawValue)
        guard FieldParser.isValidUTF8(f) else {
            throw RowRejection(column: name(c), code: .invalidUTF8, message: "\(name(c)) is not valid UTF-8")
        }
        return f
    }

    /// Text: nil when blank and allowed to be; a required blank value is `missing_value`.
    func text<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> String? {
        guard try present(row, c) != nil else { return nil }
        return String(decoding: try utf8(row, c), as: UTF8.self)
    }

    /// Seconds since 1970 of a timestamp, date, or timestamp-or-date column, as declared.
    func timestamp<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> Int64? {
        guard let f = try present(row, c) else { return nil }
        switch types[c.rawValue] {
        case .date: return try instant(f, c, dateOnly: true)
        case .timestampOrDate:
            do throws(RowRejection) {
                return try instant(f, c, dateOnly: false)
            } catch {
                if let d = try? instant(f, c, dateOnly: true) { return d }
                throw error
            }
        default: return try instant(f, c, dateOnly: false)
        }
    }

    /// The UTC day of a timestamp or date column.
    func day<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> CalendarDay? {
        try timestamp(row, c).map { CalendarDay(number: Int32(dayOf($0))) }
    }

    private func instant<C: ContractColumn>(_ f: UnsafeRawBufferPointer, _ c: C, dateOnly: Bool) throws(RowRejection)
        -> Int64
    {
        let format = dateOnly ? dateFormat : timestampFormat
        do throws(FieldError) {
            let seconds = try FieldParser.timestamp(f, format: format, tokens: dateOnly ? dateTokens : tokens)
            let day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
            guard day >= 0 && day < Int64(DayIndex.max) else {
                throw FieldError(message: "is outside the supported range 1970-2149")
            }
            return seconds
        } catch {
            throw RowRejection(
                column: name(c), code: .badValue,
                message: "\(name(c)) \(quoted(f)) \(error.message): expected \(format.expectation(dateOnly: dateOnly))")
        }
    }

    /// An exact decimal in 10^-scale units, checked against its declared minimum.
    func decimal<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> Int64? {
        guard let f = try present(row, c) else { return nil }
        guard case .decimal(let scale, let minimum) = types[c.rawValue] else {
            preconditionFailure("\(name(c)) is not a decimal column")
        }
        let v: Int64
        do throws(FieldError) { v = try FieldParser.decimal(f, scale: scale) } catch {
            throw RowRejection(column: name(c), code: .badValue, message: "\(name(c)) \(quoted(f)) \(error.message)")
        }
        if let minimum, v < minimum {
            throw RowRejection(column: name(c), code: .badValue, message: "\(name(c)) \(quoted(f)) is negative")
        }
        return v
    }

    /// An amount of money (at least 0), read to six decimals.
    func amount<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> Double? {
        guard let f = try present(row, c) else { return nil }
        let v: Double
        do throws(FieldError) { v = try FieldParser.double(f) } catch {
            throw RowRejection(column: name(c), code: .badValue, message: "\(name(c)) \(quoted(f)) \(error.message)")
        }
        guard v >= 0 else {
            throw RowRejection(column: name(c), code: .badValue, message: "\(name(c)) \(v) is negative")
        }
        return v
    }

    /// A whole number within the declared range.
    func integer<C: ContractColumn>(_ row: RowView, _ c: C) throws(RowRejection) -> Int? {
        guard let f = try present(row, c) else { return nil }
        guard case .integer(let range) = types[c.rawValue] else {
            preconditionFailure("\(name(c)) is not an integer column")
        }
        let v: Int
        do throws(FieldError) { v = try FieldParser.integer(f) } catch {
            throw RowRejection(column: name(c), code: .badValue, message: "\(name(c)) \(quoted(f)) \(error.message)")
        }
        guard range.contains(v) else {
            throw RowRejection(
                column: name(c), code: .badValue,
                message: "\(name(c)) \(v) is outside \(range.lowerBound)-\(range.upperBound)")
        }
        return v
    }
}

@inline(__always)
func dayOf(_ seconds: Int64) -> DayIndex {
    DayIndex(truncatingIfNeeded: seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400)
}

/// What a row handler of an event export works with.
struct RowHandlerContext {
    var reader: FieldReader
    var customers: CustomerDirectory
    var accumulator: IngestAccumulator
    /// The file's position in name order among all input files (ticket tie-breaks).
    var fileRank: Int
    var events: EventVocabulary
    var registry: ProductEventRegistry
    /// False when reading bucket files of `partition`: the file's counts
    /// over all rows come from its partition summary instead.
    var countsAllRows = true
}

extension ExportKind {
    /// The row handler of one of this export's files (accounts are read apart, first).
    func makeHandler(_ c: RowHandlerContext) -> RowHandler? {
        switch self {
        case .activity:
            let handler = ActivityRowHandler(
                reader: c.reader, customers: c.customers, accumulator: c.accumulator, vocabulary: c.events,
                registry: c.registry)
            handler.countsAllRows = c.countsAllRows
            return handler
        case .tickets:
            return TicketsRowHandler(
                reader: c.reader, customers: c.customers, accumulator: c.accumulator, fileRank: c.fileRank)
        case .uptime: return UptimeRowHandler(reader: c.reader, customers: c.customers, accumulator: c.accumulator)
        case .savings: return SavingsRowHandler(reader: c.reader, customers: c.customers, accumulator: c.accumulator)
        case .accounts: return nil
        }
    }
}

/// Parses accounts rows. Accounts files are snapshots read in name order: a
/// later file's row replaces an earlier file's row for the same customer, and
/// a customer_id repeated within one file is rejected.
final class AccountsRowHandler: RowHandler {
    var reader: FieldReader
    var records: [String: AccountRecord] = [:]
    var seen: Set<String>

    init(reader: FieldReader, seen: Set<String>) {
        self.reader = reader
        self.seen = seen
    }

    /// Starts the next snapshot file.
    func startFile() { seen.removeAll(keepingCapacity: true) }

    func handle(_ row: RowView, line: Int) -> RowRejection? {
        do throws(RowRejection) {
            typealias C = AccountsColumn
            let id = try reader.text(row, C.customerID)!.trimmingCharacters(in: .whitespaces)
            if seen.contains(id) {
                return RowRejection(
                    column: "customer_id", code: .duplicate,
                    message: "customer_id \"\(id)\" appears twice in this accounts file; the first row is kept")
            }
            let record = AccountRecord(
                customerID: id, name: try reader.text(row, C.name) ?? "", plan: try reader.text(row, C.plan) ?? "",
                mrr: try reader.amount(row, C.mrr), subscriptionStart: try reader.day(row, C.subscriptionStart)!,
                churnedAt: try reader.day(row, C.churnedAt), subscriptionEnd: try reader.day(row, C.subscriptionEnd),
                seats: try reader.integer(row, C.seats),
                featuresAvailable: try reader.integer(row, C.featuresAvailable),
                trainingModules: try reader.integer(row, C.trainingModules),
                acquisitionCost: try reader.amount(row, C.acquisitionCost),
                nps: try reader.integer(row, C.nps))
            seen.insert(id)
            records[id] = record
            return nil
        } catch {
            return error
        }
    }
}

/// Looks customer ids up in the accounts table.
struct CustomerDirectory: @unchecked Sendable {
    let table: ByteKeyTable
    let count: Int

    @inline(__always)
    func index<C: ContractColumn>(_ row: RowView, column: C, reader: FieldReader) throws(RowRejection) -> Int32 {
        let f = row.field(column.rawValue)
        if let i = table.find(f) { return Int32(i) }
        if FieldParser.isBlank(f) {
            throw RowRejection(column: "customer_id", code: .missingValue, message: "customer_id is empty")
        }
        guard FieldParser.isValidUTF8(f) else {
            throw RowRejection(column: "customer_id", code: .invalidUTF8, message: "customer_id is not valid UTF-8")
        }
        // Trimmed spaces are a formatting slip, not another customer.
        let trimmed = String(decoding: f, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if let i = table.find(trimmed) { return Int32(i) }
        throw RowRejection(
            column: "customer_id", code: .unknownCustomer,
            message: "customer_id \(reader.quoted(f)) is not in the accounts export; the row is not scored")
    }
}

/// One version (row) of a support ticket, in 48 bytes: a million ticket
/// rows must not cost hundreds of MB.
struct TicketVersion: Sendable {
    static let none = Int64.min
    var ticket: Int32
    var customer: Int32
    /// Tie-break for equal stamps: later file name, then later line, wins.
    var fileRank: Int32
    var line: Int32
    var opened: Int64
    var firstResponseAt: Int64
    var resolvedAt: Int64
    /// The row's own time: its latest timestamp. The latest row wins.
    var stamp: Int64

    var firstResponse: Int64? { firstResponseAt == TicketVersion.none ? nil : firstResponseAt }

    func supersedes(_ other: TicketVersion) -> Bool {
        if stamp != other.stamp { return stamp > other.stamp }
        if fileRank != other.fileRank { return fileRank > other.fileRank }
        return line > other.line
    }
}

/// Per-worker aggregates of the event exports, indexed by customer. Workers
/// each fill their own and merge at the end: no locks while rows stream.
/// The per-customer state lives in raw storage so that the hot loop pays no
/// copy-on-write or exclusivity checks on the outer array.
final class IngestAccumulator: @unchecked Sendable {
    let customerCount: Int
    let customers: UnsafeMutablePointer<CustomerActivity>
    var ticketTable = ByteKeyTable(capacity: 1024)
    /// Every version of every ticket (flat; `ticket` is the id in ticketTable):
    /// a score as of T uses the latest version known by T.
    var tickets: [TicketVersion] = []
    var latestActivityDay: Int = -1
    var earliestActivityDay: Int = Int.max
    var eventCounts = [Int](repeating: 0, count: EventKind.allCases.count)
    /// The first day with an event of each built-in kind (Int.max: none yet).
    var firstKindDay = [Int](repeating: Int.max, count: EventKind.allCases.count)
    /// The first day with a row of each export (Int.max: none yet).
    var firstExportDay = [Int](repeating: Int.max, count: ExportKind.allCases.count)
    /// Events per named product event, by registry number.
    var productEventCounts: [Int] = []
    /// Events per event name mapped to `feature`, by registry number.
    var namedFeatureCounts: [Int] = []
    /// Events whose name `events:` says to ignore.
    var ignoredEvents = 0
    /// The same event counts over every accepted row, this shard's customers
    /// or not: what spans all customers (the choice of the churn model's
    /// event-derived inputs), equal in every shard. Unsharded, they equal the
    /// counts above.
    var allRowsEventCounts = [Int](repeating: 0, count: EventKind.allCases.count)
    var allRowsProductEventCounts: [Int] = []
    var allRowsNamedFeatureCounts: [Int] = []

    @inline(__always)
    func sawExportRow(_ kind: ExportKind, day: Int) {
        let k = kind.index
        if day < firstExportDay[k] { firstExportDay[k] = day }
    }

    init(customerCount: Int) {
        self.customerCount = customerCount
        customers = .allocate(capacity: max(1, customerCount))
        customers.initialize(repeating: CustomerActivity(), count: customerCount)
    }

    deinit {
        customers.deinitialize(count: customerCount)
        customers.deallocate()
    }

    func release() {
        tickets = []
        ticketTable = ByteKeyTable()
    }

    /// Frees every customer's day series (after the last features were computed).
    func releaseSeries(threads: Int) { forEachCustomer(threads: threads) { $0 = CustomerActivity() } }

    /// Trims spare array capacity after ingest, in parallel over customers.
    func compact(threads: Int) { forEachCustomer(threads: threads) { $0.compact() } }

    private func forEachCustomer(threads: Int, _ body: @Sendable (inout CustomerActivity) -> Void) {
        let n = customerCount
        let box = UnsafeSendable(customers)
        ParallelMap.forEachChunk(count: n, threads: threads, minimum: 1024) { range in
            for c in range { body(&box.value[c]) }
        }
    }

    /// The customers with any row here, in index order (watch mode: whose
    /// scores a batch of new rows can change).
    func touchedCustomers() -> [Int] {
        var touched = [Bool](repeating: false, count: customerCount)
        for c in 0..<customerCount where !customers[c].isEmpty { touched[c] = true }
        for v in tickets where v.customer >= 0 && Int(v.customer) < customerCount { touched[Int(v.customer)] = true }
        return touched.indices.filter { touched[$0] }
    }

    /// Adds another worker's totals, freeing them customer by customer so that
    /// peak memory stays near one full copy.
    func merge(_ other: IngestAccumulator) {
        for c in 0..<customerCount {
            customers[c].merge(other.customers[c])
            other.customers[c] = CustomerActivity()
        }
        if tickets.isEmpty && ticketTable.count == 0 {
            // Nothing here yet: take the other's tickets and table as they are.
            swap(&tickets, &other.tickets)
            swap(&ticketTable, &other.ticketTable)
        } else if !other.tickets.isEmpty {
            var map = [Int32](repeating: 0, count: other.ticketTable.count)
            for id in 0..<other.ticketTable.count {
                map[id] = Int32(other.ticketTable.withKey(id) { ticketTable.findOrInsert($0) })
            }
            tickets.reserveCapacity(tickets.count + other.tickets.count)
            for var v in other.tickets {
                v.ticket = map[Int(v.ticket)]
                tickets.append(v)
            }
        }
        latestActivityDay = max(latestActivityDay, other.latestActivityDay)
        earliestActivityDay = min(earliestActivityDay, other.earliestActivityDay)
        for i in 0..<eventCounts.count { eventCounts[i] += other.eventCounts[i] }
        for i in 0..<firstKindDay.count { firstKindDay[i] = min(firstKindDay[i], other.firstKindDay[i]) }
        for i in 0..<firstExportDay.count { firstExportDay[i] = min(firstExportDay[i], other.firstExportDay[i]) }
        if productEventCounts.count < other.productEventCounts.count {
            productEventCounts += [Int](repeating: 0, count: other.productEventCounts.count - productEventCounts.count)
        }
        for (i, n) in other.productEventCounts.enumerated() { productEventCounts[i] += n }
        if namedFeatureCounts.count < other.namedFeatureCounts.count {
            namedFeatureCounts += [Int](repeating: 0, count: other.namedFeatureCounts.count - namedFeatureCounts.count)
        }
        for (i, n) in other.namedFeatureCounts.enumerated() { namedFeatureCounts[i] += n }
        ignoredEvents += other.ignoredEvents
        for i in 0..<allRowsEventCounts.count { allRowsEventCounts[i] += other.allRowsEventCounts[i] }
        IngestAccumulator.add(other.allRowsProductEventCounts, to: &allRowsProductEventCounts)
        IngestAccumulator.add(other.allRowsNamedFeatureCounts, to: &allRowsNamedFeatureCounts)
    }

    /// Adds counts by registry number, growing `total` as needed.
    static func add(_ counts: [Int], to total: inout [Int]) {
        if total.count < counts.count { total += [Int](repeating: 0, count: counts.count - total.count) }
        for (i, n) in counts.enumerated() { total[i] += n }
    }

    /// Counts one accepted event of any customer (`allRows*` counters).
    @inline(__always)
    func countForAllRows(effect: ActivityRowHandler.Effect, product: UInt16, namedFeature: Bool) {
        if namedFeature {
            if Int(product) >= allRowsNamedFeatureCounts.count {
                allRowsNamedFeatureCounts += [Int](
                    repeating: 0, count: Int(product) + 1 - allRowsNamedFeatureCounts.count)
            }
            allRowsNamedFeatureCounts[Int(product)] += 1
        }
        if effect == .product {
            if Int(product) >= allRowsProductEventCounts.count {
                allRowsProductEventCounts += [Int](
                    repeating: 0, count: Int(product) + 1 - allRowsProductEventCounts.count)
            }
            allRowsProductEventCounts[Int(product)] += 1
        } else {
            allRowsEventCounts[Int(effect.rawValue)] += 1
        }
    }
}

/// The one store of activity series that every worker adds to. Workers
/// parse in parallel and hand over events in batches of 1,024: one copy of
/// the per-customer arrays instead of one per worker, and no merge of them
/// at the end. The customers are split into stripes of consecutive indexes,
/// each with its own lock; a batch is sorted by stripe (a counting sort) and
/// each stripe's events applied under its lock, taking free stripes first,
/// so that workers apply at the same time instead of queueing on one lock.
/// The series are sets and counts, so the order in which events arrive
/// never matters.
final class ActivityStore: @unchecked Sendable {
    let accumulator: IngestAccumulator
    static let stripeCount = 16
    private final class Stripe: Sendable { let lock = Mutex<Void>(()) }
    private let stripes = (0..<ActivityStore.stripeCount).map { _ in Stripe() }
    /// Customers per stripe (the last may hold fewer).
    private let stripeWidth: Int

    init(accumulator: IngestAccumulator) {
        self.accumulator = accumulator
        stripeWidth = max(1, (accumulator.customerCount + ActivityStore.stripeCount - 1) / ActivityStore.stripeCount)
    }

    /// Applies `batch`, using `scratch` (the caller's, reused) to sort it by stripe.
    func apply(_ batch: inout [ActivityRowHandler.PendingEvent], scratch: inout [ActivityRowHandler.PendingEvent]) {
        let n = ActivityStore.stripeCount
        var start = [Int](repeating: 0, count: n + 1)
        for e in batch { start[Int(e.customer) / stripeWidth + 1] += 1 }
        for k in 0..<n { start[k + 1] += start[k] }
        var next = start
        if scratch.count < batch.count { scratch = batch }
        for e in batch {
            let k = Int(e.customer) / stripeWidth
            scratch[next[k]] = e
            next[k] += 1
        }
        let customers = accumulator.customers
        scratch.withUnsafeMutableBufferPointer { sorted in
            var pending = (0..<n).filter { start[$0] < start[$0 + 1] }
            // Free stripes first; then wait for the ones another worker holds.
            var blocked: [Int] = []
            for k in pending {
                let slice = UnsafeMutableBufferPointer(rebasing: sorted[start[k]..<start[k + 1]])
                let done =
                    stripes[k].lock.withLockIfAvailable { _ in ActivityRowHandler.apply(slice, to: customers) } != nil
                if !done { blocked.append(k) }
            }
            pending = blocked
            for k in pending {
                let slice = UnsafeMutableBufferPointer(rebasing: sorted[start[k]..<start[k + 1]])
                stripes[k].lock.withLock { _ in ActivityRowHandler.apply(slice, to: customers) }
            }
        }
    }
}

final class ActivityRowHandler: RowHandler {
    let reader: FieldReader
    let customers: CustomerDirectory
    let acc: IngestAccumulator
    private var events: EventResolver
    private let loginsFromActivity: Bool
    /// Where events go; nil: straight into `acc` (one worker).
    var store: ActivityStore?
    var countsAllRows = true
    private(set) var failure: CustomerHealthError?

    /// What a pending event adds besides its user's active day.
    enum Effect: UInt8 {
        case login, featureUse, apiCall, mobileSession, dashboardView, workOrderCompleted, trainingCompleted, product

        init(_ kind: EventKind) { self = Effect(rawValue: kind.rawValue)! }
    }

    /// A parsed event waiting to be added to its customer's series.
    struct PendingEvent {
        var customer: Int32
        var effect: Effect
        var alsoLogin: Bool
        /// A feature_use whose event name is a feature (`events:` map `feature`): also counted under `product`.
        var namedFeature: Bool
        var product: UInt16
        var day: DayIndex
        var userHash: UInt64
        var featureHash: UInt64
        var userSlot: Int32 = -1
    }

    static let batchSize = 1024
    private var batch: [PendingEvent] = []
    private var scratch: [PendingEvent] = []

    func finish() { flush() }

    /// Adds a batch of events in passes. Each customer's state sits in its
    /// own heap blocks, so an event costs a few cache misses; done one event
    /// at a time they are paid in sequence, done in passes over a batch the
    /// processor overlaps them, since the events of a pass are independent.
    func flush() {
        if batch.isEmpty { return }
        if let store {
            store.apply(&batch, scratch: &scratch)
        } else {
            batch.withUnsafeMutableBufferPointer { ActivityRowHandler.apply($0, to: acc.customers) }
        }
        batch.removeAll(keepingCapacity: true)
    }

    static func apply(
        _ b: UnsafeMutableBufferPointer<PendingEvent>, to customers: UnsafeMutablePointer<CustomerActivity>
    ) {
        do {
            // Pass 1: find each event's user slot (touches the customer and its name table).
            for i in 0..<b.count {
                b[i].userSlot = Int32(customers[Int(b[i].customer)].names.find(NameKind.user.tag(b[i].userHash)) ?? -1)
            }
            // Pass 2: touch the arrays the events will write to.
            var touched = 0
            for i in 0..<b.count {
                let state = customers + Int(b[i].customer)
                touched &+= Int(state.pointee.nameDays.last ?? 0)
                switch b[i].effect {
                case .login: touched &+= Int(state.pointee.logins.days.last ?? 0)
                case .trainingCompleted, .featureUse: break
                case .product: touched &+= Int(truncatingIfNeeded: state.pointee.products.words.last ?? 0)
                default: touched &+= Int(state.pointee.counts.words.last ?? 0)
                }
            }
            blackHole(touched)
            // Pass 3: apply.
            for i in 0..<b.count {
                let e = b[i]
                let state = customers + Int(e.customer)
                if e.userSlot >= 0 {
                    state.pointee.insertNameDay(UInt32(e.day) << 16 | UInt32(e.userSlot))
                } else {
                    state.pointee.insertName(.user, hash: e.userHash, day: e.day)
                }
                if e.alsoLogin { state.pointee.logins.insert(e.day) }
                switch e.effect {
                case .login: state.pointee.logins.insert(e.day)
                case .featureUse:
                    state.pointee.insertName(.feature, hash: e.featureHash, day: e.day)
                    state.pointee.counts.increment(.featureUse, day: e.day)
                    if e.namedFeature { state.pointee.namedFeatures.increment(e.product, day: e.day) }
                case .apiCall: state.pointee.counts.increment(.apiCall, day: e.day)
                case .mobileSession: state.pointee.counts.increment(.mobileSession, day: e.day)
                case .dashboardView: state.pointee.counts.increment(.dashboardView, day: e.day)
                case .workOrderCompleted: state.pointee.counts.increment(.workOrder, day: e.day)
                case .trainingCompleted: state.pointee.insertName(.module, hash: e.featureHash, day: e.day)
                case .product: state.pointee.products.increment(e.product, day: e.day)
                }
            }
        }
    }

    init(
        reader: FieldReader, customers: CustomerDirectory, accumulator: IngestAccumulator, vocabulary: EventVocabulary,
        registry: ProductEventRegistry
    ) {
        self.reader = reader
        self.customers = customers
        self.acc = accumulator
        events = EventResolver(vocabulary: vocabulary, registry: registry)
        loginsFromActivity = vocabulary.loginsFromActivity
        batch.reserveCapacity(ActivityRowHandler.batchSize)
    }

    func handle(_ row: RowView, line: Int) -> RowRejection? {
        do throws(RowRejection) {
            typealias C = ActivityColumn
            let customer = try customers.index(row, column: C.customerID, reader: reader)
            let user = try reader.utf8(row, C.userID)
            if FieldParser.isBlank(user) {
                return RowRejection(column: "user_id", code: .missingValue, message: "user_id is empty")
            }
            let day = dayOf(try reader.timestamp(row, C.occurredAt)!)
            let eventField = try reader.required(row, C.eventType)
            guard let action = events.action(eventField) else {
                failure = .input(
                    file: reader.kind.rawValue,
                    message:
                        "more than \(ProductEventRegistry.capacity) distinct event names are kept as named product events; map them to built-in kinds or ignore them with `events:` in the pipeline file (docs/pipeline.md#events)"
                )
                return RowRejection(column: "event_type", code: .badValue, message: "too many distinct event names")
            }
            guard let (effect, product, namedFeature, feature) = try resolve(action, row: row, eventField: eventField)
            else { return nil }
            try checkDuration(row)
            let d = Int(day)
            if countsAllRows { acc.countForAllRows(effect: effect, product: product, namedFeature: namedFeature) }
            // Another shard's customer: only what spans all customers (the
            // first day of each kind, the newest and oldest activity day,
            // the all-rows event counts).
            guard row.isOwned else {
                noteDays(effect: effect, day: d)
                return nil
            }
            batch.append(
                PendingEvent(
                    customer: customer, effect: effect, alsoLogin: loginsFromActivity, namedFeature: namedFeature,
                    product: product, day: day,
                    userHash: ByteKeyTable.hash(user), featureHash: feature.count > 0 ? ByteKeyTable.hash(feature) : 0))
            if batch.count == ActivityRowHandler.batchSize { flush() }
            count(effect: effect, product: product, namedFeature: namedFeature)
            noteDays(effect: effect, day: d)
            return nil
        } catch {
            return error
        }
    }

    /// What an event name's treatment makes of the row: its effect, product
    /// id and feature name; nil for an ignored event (counted, used nowhere).
    @inline(__always)
    private func resolve(_ action: EventAction, row: RowView, eventField: UnsafeRawBufferPointer) throws(RowRejection)
        -> (effect: Effect, product: UInt16, namedFeature: Bool, feature: UnsafeRawBufferPointer)?
    {
        typealias C = ActivityColumn
        var effect: Effect
        var product: UInt16 = 0
        var namedFeature = false
        var feature = UnsafeRawBufferPointer(start: nil, count: 0)
        switch action {
        case .reject:
            _ = try reader.utf8(row, C.eventType)
            throw RowRejection(
                column: "event_type", code: .badValue,
                message:
                    "unknown event_type \(reader.quoted(eventField)); expected one of \(EventKind.allCases.map(\.name).joined(separator: ", ")), or map the name with `events:` in the pipeline file (docs/pipeline.md#events)"
            )
        case .ignore:
            _ = try reader.utf8(row, C.eventType)
            try checkDuration(row)
            if row.isOwned { acc.ignoredEvents += 1 }
            return nil
        case .product(let id):
            _ = try reader.utf8(row, C.eventType)
            effect = .product
            product = id
        case .featureNamed(let id):
            effect = .featureUse
            feature = try reader.utf8(row, C.eventType)
            product = id
            namedFeature = true
        case .kind(let kind, let mapped):
            effect = Effect(kind)
            if kind.namesSomething {
                if FieldParser.isBlank(row.field(C.feature.rawValue)) {
                    guard mapped else {
                        throw RowRejection(
                            column: "feature", code: .missingValue,
                            message: kind == .featureUse
                                ? "feature is empty: a feature_use event must name the feature"
                                : "feature is empty: a training_completed event must name the training module")
                    }
                    feature = try reader.utf8(row, C.eventType)
                } else {
                    feature = try reader.utf8(row, C.feature)
                }
            }
        }
        return (effect, product, namedFeature, feature)
    }

    /// The owned row's event counts: per kind, per named feature, per product event.
    @inline(__always)
    private func count(effect: Effect, product: UInt16, namedFeature: Bool) {
        if namedFeature {
            if Int(product) >= acc.namedFeatureCounts.count {
                acc.namedFeatureCounts += [Int](repeating: 0, count: Int(product) + 1 - acc.namedFeatureCounts.count)
            }
            acc.namedFeatureCounts[Int(product)] += 1
        }
        if effect == .product {
            if Int(product) >= acc.productEventCounts.count {
                acc.productEventCounts += [Int](repeating: 0, count: Int(product) + 1 - acc.productEventCounts.count)
            }
            acc.productEventCounts[Int(product)] += 1
        } else {
            acc.eventCounts[Int(effect.rawValue)] += 1
        }
    }

    /// What spans all customers, for every row (another shard's customer's
    /// too): the first day of each kind, the newest and oldest activity day.
    @inline(__always)
    private func noteDays(effect: Effect, day d: Int) {
        if effect != .product {
            let k = Int(effect.rawValue)
            if d < acc.firstKindDay[k] { acc.firstKindDay[k] = d }
        }
        if loginsFromActivity && d < acc.firstKindDay[Int(EventKind.login.rawValue)] {
            acc.firstKindDay[Int(EventKind.login.rawValue)] = d
        }
        if d > acc.latestActivityDay { acc.latestActivityDay = d }
        if d < acc.earliestActivityDay { acc.earliestActivityDay = d }
    }

    @inline(__always)
    private func checkDuration(_ row: RowView) throws(RowRejection) {
        if row.has(ActivityColumn.duration.rawValue) { _ = try reader.decimal(row, ActivityColumn.duration) }
    }
}

final class TicketsRowHandler: RowHandler {
    let reader: FieldReader
    let customers: CustomerDirectory
    let acc: IngestAccumulator
    let fileRank: Int

    init(reader: FieldReader, customers: CustomerDirectory, accumulator: IngestAccumulator, fileRank: Int) {
        self.reader = reader
        self.customers = customers
        self.acc = accumulator
        self.fileRank = fileRank
    }

    func handle(_ row: RowView, line: Int) -> RowRejection? {
        do throws(RowRejection) {
            typealias C = TicketsColumn
            _ = try reader.required(row, C.ticketID)
            let ticketID = try reader.utf8(row, C.ticketID)
            let customer = try customers.index(row, column: C.customerID, reader: reader)
            let opened = try reader.timestamp(row, C.openedAt)!
            let first = try reader.timestamp(row, C.firstResponseAt)
            let resolved = try reader.timestamp(row, C.resolvedAt)
            if let first, first < opened {
                return RowRejection(
                    column: "first_response_at", code: .badValue, message: "first_response_at is before opened_at")
            }
            if let resolved, resolved < opened {
                return RowRejection(column: "resolved_at", code: .badValue, message: "resolved_at is before opened_at")
            }
            // Priority and status are checked but not kept: no score reads them.
            _ = try reader.utf8(row, C.priority)
            _ = try reader.utf8(row, C.status)
            acc.sawExportRow(.tickets, day: Int(dayOf(opened)))
            let id = acc.ticketTable.findOrInsert(ticketID)
            acc.tickets.append(
                TicketVersion(
                    ticket: Int32(id), customer: customer, fileRank: Int32(fileRank), line: Int32(clamping: line),
                    opened: opened,
                    firstResponseAt: first ?? TicketVersion.none, resolvedAt: resolved ?? TicketVersion.none,
                    stamp: max(opened, first ?? opened, resolved ?? opened)))
            return nil
        } catch {
            return error
        }
    }
}

/// What a handler of a per-customer, per-day export (uptime, savings) reads
/// with and writes to.
class DailyExportRowHandler {
    let reader: FieldReader
    let customers: CustomerDirectory
    let acc: IngestAccumulator

    init(reader: FieldReader, customers: CustomerDirectory, accumulator: IngestAccumulator) {
        self.reader = reader
        self.customers = customers
        self.acc = accumulator
    }
}

final class UptimeRowHandler: DailyExportRowHandler, RowHandler {
    func handle(_ row: RowView, line: Int) -> RowRejection? {
        do throws(RowRejection) {
            typealias C = UptimeColumn
            let customer = try customers.index(row, column: C.customerID, reader: reader)
            let day = dayOf(try reader.timestamp(row, C.date)!)
            let milli = try reader.decimal(row, C.uptimePct)!
            guard milli >= 0 && milli <= 100_000 else {
                return RowRejection(
                    column: "uptime_pct", code: .badValue,
                    message: "uptime_pct \(reader.quoted(row.field(C.uptimePct.rawValue))) is outside 0-100")
            }
            acc.sawExportRow(.uptime, day: Int(day))
            guard row.isOwned else { return nil }
            guard acc.customers[Int(customer)].uptime.add(day, milli: milli) else {
                return RowRejection(
                    column: "date", code: .duplicate,
                    message:
                        "more than \(UptimeDays.maxReadingsPerDay) uptime readings for this customer and day; uptime is a daily export"
                )
            }
            return nil
        } catch {
            return error
        }
    }
}

final class SavingsRowHandler: DailyExportRowHandler, RowHandler {
    func handle(_ row: RowView, line: Int) -> RowRejection? {
        do throws(RowRejection) {
            typealias C = SavingsColumn
            let customer = try customers.index(row, column: C.customerID, reader: reader)
            let day = dayOf(try reader.timestamp(row, C.recordedAt)!)
            let amount = try reader.decimal(row, C.amount)!
            guard amount >= 0 else {
                return RowRejection(
                    column: "amount", code: .badValue,
                    message:
                        "amount \(reader.quoted(row.field(C.amount.rawValue))) is negative: savings are recorded as positive amounts"
                )
            }
            _ = try reader.utf8(row, C.category)
            acc.sawExportRow(.savings, day: Int(day))
            guard row.isOwned else { return nil }
            acc.customers[Int(customer)].savings.add(day, amount)
            return nil
        } catch {
            return error
        }
    }
}

/// Keeps a value alive so that loads made only to warm the cache are not optimised away.
@inline(never)
func blackHole(_ value: Int) {
    if value == Int.min { print("") }
}
