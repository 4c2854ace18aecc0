import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One input file matched by an export's globs.
public struct InputFile: Sendable, Equatable {
    public var kind: ExportKind
    public var path: String
    public var name: String
    public var size: Int

    /// Gzip files are read whole; plain ones can be read on as they grow.
    public var isGzip: Bool { InputFileReader.format(ofName: name)?.1 ?? false }
    /// Set when the file is read from the bucket files `partition` wrote.
    var partition: PartitionedInput? = nil
}

/// A file read from its bucket files: the partition folder and its entry.
struct PartitionedInput: Sendable, Equatable {
    var directory: String
    var entry: PartitionManifest.Entry

    static func == (a: PartitionedInput, b: PartitionedInput) -> Bool {
        a.directory == b.directory && a.entry.file == b.entry.file && a.entry.sha256 == b.entry.sha256
    }
}

/// Everything read from the exports: accounts in customer_id order, and the
/// merged per-customer aggregates that answer features for any as-of date.
public final class IngestResult: @unchecked Sendable {
    public let accounts: [AccountRecord]
    let aggregates: IngestAccumulator
    public let files: [FileReport]
    /// Every ticket version sorted by ticket, then in "latest wins" order;
    /// ticketStart[t] is where ticket t's versions begin (CSR). For each
    /// customer, the tickets whose versions name it.
    let ticketVersions: [TicketVersion]
    let ticketStart: [Int]
    let ticketOffsets: [Int]
    let ticketsOfCustomer: [Int32]
    /// The named product events met, by registry number.
    public let registry: ProductEventRegistry
    /// Each customer's lifecycle under the pipeline's churn definition, over
    /// the whole history (ask it with `known(asOf:)` for what a day knew).
    public let lifecycles: [CustomerLifecycle]

    /// `keepTickets`: leave the ticket versions in the accumulator (watch
    /// mode adds to it later); otherwise they are taken out and sorted in
    /// place, not copied.
    init(
        accounts: [AccountRecord], aggregates: IngestAccumulator, files: [FileReport], registry: ProductEventRegistry,
        churn: ChurnDefinition, threads: Int, keepTickets: Bool = false
    ) {
        self.accounts = accounts
        self.aggregates = aggregates
        self.files = files
        self.registry = registry
        lifecycles = churn.lifecycles(accounts: accounts, aggregates: aggregates, registry: registry, threads: threads)
        let n = accounts.count
        var versions = aggregates.tickets
        if !keepTickets { aggregates.tickets = [] }
        versions.sort { a, b in a.ticket != b.ticket ? a.ticket < b.ticket : b.supersedes(a) }
        // Kept for the whole run: without the slack that appending left (up to half as much again).
        if !keepTickets { shrinkToFit(&versions) }
        let ticketCount = aggregates.ticketTable.count
        var start = [Int](repeating: 0, count: ticketCount + 1)
        for v in versions { start[Int(v.ticket) + 1] += 1 }
        for t in 0..<ticketCount { start[t + 1] += start[t] }
        var pairs: [(Int32, Int32)] = []
        for t in 0..<ticketCount {
            var customers: [Int32] = []
            for k in start[t]..<start[t + 1] where !customers.contains(versions[k].customer) {
                customers.append(versions[k].customer)
            }
            for c in customers { pairs.append((c, Int32(t))) }
        }
        pairs.sort { $0 < $1 }
        var counts = [Int](repeating: 0, count: n + 1)
        for (c, _) in pairs { counts[Int(c) + 1] += 1 }
        for i in 0..<n { counts[i + 1] += counts[i] }
        ticketOffsets = counts
        ticketsOfCustomer = pairs.map { $0.1 }
        ticketVersions = versions
        ticketStart = start
    }

    /// The first day of activity history in the exports.
    var earliestActivityDay: Int? {
        aggregates.earliestActivityDay == Int.max ? nil : aggregates.earliestActivityDay
    }

    /// The newest day with an accepted activity event, if any.
    public var latestActivityDay: CalendarDay? {
        aggregates.latestActivityDay >= 0 ? CalendarDay(number: Int32(aggregates.latestActivityDay)) : nil
    }

    public var rowsRead: Int { files.reduce(0) { $0 + $1.rowsRead } }
    public var rowsRejected: Int { files.reduce(0) { $0 + $1.rowsRejected } }
    public var rowsUnknownCustomer: Int { files.reduce(0) { $0 + $1.rowsUnknownCustomer } }
    var eventCounts: [Int] { aggregates.eventCounts }

    /// Named product events and their counts, by name.
    public var productEventCounts: [(name: String, events: Int)] {
        let names = registry.names
        return names.indices.map {
            (names[$0], $0 < aggregates.productEventCounts.count ? aggregates.productEventCounts[$0] : 0)
        }
        .filter { $0.1 > 0 }
        .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }

    /// Events per built-in kind over every accepted row, in a sharded run
    /// the other shards' customers' too (equal in every shard; unsharded,
    /// `eventCounts`).
    var allRowsEventCounts: [Int] { aggregates.allRowsEventCounts }

    /// Named product events and event names mapped to `feature`, with their
    /// counts over every accepted row, by name (equal in every shard).
    var allRowsProductEventCounts: [(name: String, events: Int)] { named(aggregates.allRowsProductEventCounts) }
    var allRowsNamedFeatureEventCounts: [(name: String, events: Int)] { named(aggregates.allRowsNamedFeatureCounts) }

    private func named(_ counts: [Int]) -> [(name: String, events: Int)] {
        let names = registry.names
        return names.indices.map { (names[$0], $0 < counts.count ? counts[$0] : 0) }
            .filter { $0.1 > 0 }
            .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }

    /// Event names mapped to `feature` and their counts, by name.
    public var namedFeatureEventCounts: [(name: String, events: Int)] {
        let names = registry.names
        let counts = aggregates.namedFeatureCounts
        return names.indices.map { (names[$0], $0 < counts.count ? counts[$0] : 0) }
            .filter { $0.1 > 0 }
            .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }

    /// What the exports hold as of a day: which sources have data on or before it.
    public func sources(asOf day: CalendarDay) -> DataSources {
        let t = Int(day.number)
        var s = DataSources()
        for k in EventKind.allCases where aggregates.firstKindDay[Int(k.rawValue)] <= t { s.eventKinds.insert(k) }
        for e in ExportKind.allCases where aggregates.firstExportDay[e.index] <= t { s.exports.insert(e) }
        return s
    }
}

/// Reads every export of a pipeline: lists the files, reads accounts first
/// (the customer table every other row joins to), then the event exports in
/// parallel, one accumulator per worker, merged at the end.
public struct IngestRunner: Sendable {
    public var config: PipelineConfig
    public var threads: Int
    public var logger: Logger
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// In a sharded run, the shard: every row is read, but only its own
    /// customers' rows are counted and accumulated (ShardSpec).
    public var shard: ShardSpec?

    public init(config: PipelineConfig, threads: Int, logger: Logger, shard: ShardSpec? = nil) {
        self.config = config
        self.threads = max(1, threads)
        self.logger = logger
        self.shard = shard
    }

    /// Lists the files of each export, sorted by name so that the order in
    /// which the file system lists them never matters.
    public func listFiles() throws -> [InputFile] { try listing().files }

    /// The files of each export, and the partition of the input folder when
    /// this read uses it: a sharded read of a folder `partition` split in
    /// place, or any read of a folder it wrote elsewhere (docs/scale-out.md).
    /// A split file reads from its bucket files while it is still the file
    /// split (same size and modification time); one changed since, or not
    /// split yet, is read whole.
    func listing() throws -> (files: [InputFile], manifest: PartitionManifest?) {
        let dir = config.inputDirectory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CustomerHealthError.input(
                file: dir, message: "the input folder does not exist (set `input` in \(config.file))")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        } catch {
            throw CustomerHealthError.input(
                file: dir, message: "the input folder cannot be listed: \(error.localizedDescription)")
        }
        var manifest: PartitionManifest?
        do {
            manifest = try PartitionLayout.manifest(in: dir)
        } catch  where shard == nil {
            // An unsharded read of the exports does not need the partition.
            logger.warning("\(error)")
        }
        if let m = manifest, m.inPlace && shard == nil { manifest = nil }
        var entries: [String: PartitionManifest.Entry] = [:]
        for e in manifest?.files ?? [] { entries[e.file] = e }
        let present = Set(names)
        let listed = manifest.map { $0.inPlace ? names : Array(present.union(entries.keys)).sorted() } ?? names
        var files: [InputFile] = []
        var claimed: [String: ExportKind] = [:]
        for kind in ExportKind.allCases {
            let settings = config.exportSettings(kind)
            for name in listed {
                // Files still being written by the exporter are never read.
                if name.hasSuffix(".tmp") || name.hasSuffix(".part") || name.hasPrefix(".") { continue }
                guard settings.globs.contains(where: { fnmatch($0, name, 0) == 0 }) else { continue }
                if let other = claimed[name] {
                    throw CustomerHealthError.pipeline(
                        file: config.file, path: "exports.\(kind.rawValue).files",
                        message:
                            "\(name) matches the globs of both \(other.rawValue) and \(kind.rawValue); make the globs exclusive"
                    )
                }
                guard InputFileReader.format(ofName: name) != nil else {
                    throw CustomerHealthError.input(
                        file: name,
                        message:
                            "matches the \(kind.rawValue) globs but its format is unknown: the name must end in .csv, .csv.gz, .jsonl or .jsonl.gz"
                    )
                }
                claimed[name] = kind
                files.append(
                    inputFile(
                        name, kind: kind, present: present.contains(name), entry: entries[name], manifest: manifest))
            }
        }
        for kind in [ExportKind.accounts, .activity] where !files.contains(where: { $0.kind == kind }) {
            let globs = (config.exportSettings(kind)).globs.joined(separator: ", ")
            throw CustomerHealthError.input(file: dir, message: "no \(kind.rawValue) export: no file matches \(globs)")
        }
        return (files, manifest)
    }

    /// One file of the listing: read whole, or from the bucket files of the
    /// partition that split it while it is still the file split.
    private func inputFile(
        _ name: String, kind: ExportKind, present: Bool, entry: PartitionManifest.Entry?, manifest: PartitionManifest?
    ) -> InputFile {
        let dir = config.inputDirectory
        let path = (dir as NSString).appendingPathComponent(name)
        var st = stat()
        let exists = stat(path, &st) == 0
        var file = InputFile(kind: kind, path: path, name: name, size: exists ? Int(st.st_size) : 0)
        if let entry, entry.export == kind.rawValue {
            if !present {
                file.size = entry.size
                file.partition = PartitionedInput(directory: dir, entry: entry)
            } else if manifest?.inPlace == true {
                if exists && entry.isUnchanged(st) {
                    file.partition = PartitionedInput(directory: dir, entry: entry)
                } else {
                    logger.warning(
                        "\(name) changed since `customer-health partition` split it: reading it whole; run partition again to split it"
                    )
                }
            }
        } else if let m = manifest, m.inPlace && kind.isSplitByCustomer,
            !m.leftWhole.contains(where: { $0.file == name && $0.isUnchanged(st) })
        {
            logger.warning(
                "\(name) is not split yet: every shard reads it whole; run `customer-health partition` to split it"
            )
        }
        return file
    }

    public func run() throws -> IngestResult {
        let (files, manifest) = try listing()
        var skip: Set<String> = []
        while true {
            do {
                return try read(files: files, manifest: manifest, skipping: skip)
            } catch let failure as CorruptFileFailure {
                // Rows of a corrupt file may already be in a worker's totals;
                // reading again without it is the only way to leave none behind.
                logger.warning(
                    "\(failure.error); skipping it (on_corrupt_file: skip) and reading the other files again")
                skip.insert(failure.path)
            }
        }
    }

    struct CorruptFileFailure: Error {
        var path: String
        var error: CustomerHealthError
    }

    private func reader(for settings: ExportSettings) -> FieldReader {
        FieldReader(settings: settings, dateFormat: config.dateFormat)
    }

    /// Reads the accounts files in name order (later snapshots win) and
    /// builds the customer table every other row joins to.
    func readAccounts(files: [InputFile], skipping: Set<String> = []) throws -> (
        [AccountRecord], CustomerDirectory, [FileReport]
    ) {
        var reports: [FileReport] = []
        let accountSettings = config.exportSettings(.accounts)
        let accountsHandler = AccountsRowHandler(reader: reader(for: accountSettings), seen: [])
        for file in files where file.kind == .accounts && !skipping.contains(file.path) {
            accountsHandler.startFile()
            do {
                let reader = try InputFileReader(
                    path: file.path, settings: accountSettings, handler: accountsHandler,
                    maxRowBytes: config.maxRowBytes, includeRaw: config.rejectsIncludeRaw,
                    options: ReadOptions(rows: RowOwnership(shard)))
                reports.append(try reader.read())
            } catch let error as CustomerHealthError {
                if config.onCorruptFile == .skip, case .input = error {
                    throw CorruptFileFailure(path: file.path, error: error)
                }
                throw error
            }
        }
        if accountsHandler.records.isEmpty {
            throw CustomerHealthError.input(
                file: config.inputDirectory,
                message:
                    "no accounts were read (every accounts file was empty, rejected or skipped): there are no customers to score"
            )
        }
        let accounts = accountsHandler.records.values.sorted {
            $0.customerID.utf8.lexicographicallyPrecedes($1.customerID.utf8)
        }
        var table = ByteKeyTable(capacity: accounts.count)
        for a in accounts { _ = table.findOrInsert(a.customerID) }
        return (accounts, CustomerDirectory(table: table, count: accounts.count), reports)
    }

    private func read(files: [InputFile], manifest: PartitionManifest?, skipping: Set<String>) throws -> IngestResult {
        var files = files
        var reports: [FileReport] = []
        for file in files where skipping.contains(file.path) {
            var r = FileReport(export: file.kind, path: file.path, name: file.name, size: file.size, sha256: "")
            r.skipped = "corrupt or unreadable; skipped under on_corrupt_file: skip"
            reports.append(r)
        }
        let (accounts, directory, accountReports) = try readAccounts(files: files, skipping: skipping)
        reports += accountReports
        if let manifest, files.contains(where: { $0.partition != nil }) {
            try checkPartition(manifest, accounts: accountReports, files: &files)
        }

        // Event exports: contiguous runs of files per worker, balanced by size.
        let jobs = files.enumerated().filter { $0.element.kind != .accounts && !skipping.contains($0.element.path) }
        let workerCount = max(1, min(threads, jobs.count))
        let chunks = IngestRunner.partition(jobs.map { $0.element.size }, into: workerCount)
        let slots = WorkerSlots(count: workerCount, customerCount: accounts.count)
        // With several workers, activity goes to one shared store of its own;
        // the other exports stay in per-worker accumulators, merged below.
        let store: ActivityStore? =
            workerCount > 1 ? ActivityStore(accumulator: IngestAccumulator(customerCount: accounts.count)) : nil
        let registry = ProductEventRegistry()
        let failed = Atomic<Bool>(false)
        let context = EventFileContext(
            config: config, customers: directory, registry: registry, store: store, shard: shard, progress: progress,
            threads: threads, totalBytes: jobs.reduce(0) { $0 + $1.element.size })
        // Each worker its own files and accumulator: merged below, in worker order.
        ParallelMap.forEach(count: workerCount, atMost: workerCount) { worker in
            for j in chunks[worker] {
                if failed.load(ordering: .relaxed) { return }
                let (rank, file) = jobs[j]
                do {
                    guard let report = try context.read(file, rank: rank, into: slots.accumulators[worker]) else {
                        continue
                    }
                    slots.reports[worker].append(report)
                } catch {
                    slots.errors[worker] = (file.path, error)
                    failed.store(true, ordering: .relaxed)
                    return
                }
            }
        }
        try throwFirstFailure(slots)
        let merged = store?.accumulator ?? slots.accumulators[0]
        for w in (store == nil ? 1 : 0)..<workerCount {
            merged.merge(slots.accumulators[w])
            slots.accumulators[w].release()
        }
        merged.compact(threads: threads)
        // What the other buckets of split files add to the values that span all customers.
        for file in files where !skipping.contains(file.path) {
            file.partition?.entry.summary.apply(to: merged, registry: registry)
        }
        for w in 0..<workerCount { reports.append(contentsOf: slots.reports[w]) }
        reports.sort { ($0.export, $0.name) < ($1.export, $1.name) }
        let result = IngestResult(
            accounts: accounts, aggregates: merged, files: reports, registry: registry, churn: config.churnDefinition,
            threads: threads)
        ProcessMemory.returnFreePages()
        return result
    }

    /// Fails the read with the first failing file in name order, whichever
    /// thread hit it: a damaged partition as it is (never skipped), a corrupt
    /// export as one `on_corrupt_file: skip` may skip.
    private func throwFirstFailure(_ slots: WorkerSlots) throws {
        guard let (path, error) = slots.allErrors.min(by: { $0.0 < $1.0 }) else { return }
        if let damage = error as? PartitionReadFailure { throw damage.error }
        if config.onCorruptFile == .skip, let e = error as? CustomerHealthError, case .input = e {
            throw CorruptFileFailure(path: path, error: e)
        }
        throw error
    }

    /// Reads one file for `partition`: every record that reaches its handler
    /// goes to `splitter` with its bucket and counts only toward what spans
    /// all customers, returned as the file's summary. The report holds the
    /// records rejected before their customer could be read.
    func readForPartition(
        _ file: InputFile, customers: CustomerDirectory, customerCount: Int,
        splitter: RecordSplitter
    ) throws -> (FileReport, GlobalSummary) {
        let acc = IngestAccumulator(customerCount: customerCount)
        let registry = ProductEventRegistry()
        let settings = config.exportSettings(file.kind)
        let context = RowHandlerContext(
            reader: reader(for: settings), customers: customers, accumulator: acc, fileRank: 0,
            events: config.events, registry: registry)
        guard let handler = file.kind.makeHandler(context) else {
            throw CustomerHealthError.input(file: file.name, message: "\(file.kind.rawValue) files are not split")
        }
        let fileReader = try InputFileReader(
            path: file.path, settings: settings, handler: handler, maxRowBytes: config.maxRowBytes,
            includeRaw: config.rejectsIncludeRaw, options: ReadOptions(rows: .partition(splitter)))
        let report = try fileReader.read()
        return (report, GlobalSummary(acc, registry: registry))
    }

    struct PartitionReadFailure: Error {
        var error: Error
    }

    /// A split file's bucket files that this read owns, read through one
    /// handler into one report of the original file: its size and checksum,
    /// its rows and rejects (at their original lines and byte offsets, in
    /// line order), and, for the shard that owns rows without a customer,
    /// the records `partition` rejected before reading their customer.
    static func readBuckets(
        of file: InputFile, _ part: PartitionedInput, settings: ExportSettings, handler: RowHandler,
        config: PipelineConfig,
        shard: ShardSpec?, progress: (@Sendable (Int, Int) -> Void)?
    ) throws -> FileReport {
        var report = FileReport(
            export: file.kind, path: file.path, name: file.name, size: part.entry.size, sha256: part.entry.sha256)
        for bucket in part.entry.buckets where shard.map({ $0.shard(ofBucket: bucket) == $0.index }) ?? true {
            let path = PartitionLayout.bucketFile(part.directory, bucket: bucket, name: file.name)
            let positions = PartitionLayout.positionsFile(part.directory, bucket: bucket, name: file.name)
            do {
                let origin = BucketOrigin(
                    originalName: file.name, positions: { try PartitionPositions(path: positions, name: file.name) })
                let reader = try InputFileReader(
                    path: path, settings: settings, handler: handler, maxRowBytes: config.maxRowBytes,
                    includeRaw: config.rejectsIncludeRaw,
                    options: ReadOptions(rows: RowOwnership(shard), bucket: origin, progress: progress))
                let r = try reader.read()
                report.rowsRead += r.rowsRead
                report.rowsAccepted += r.rowsAccepted
                report.rowsRejected += r.rowsRejected
                report.rowsUnknownCustomer += r.rowsUnknownCustomer
                report.rejects += r.rejects
            } catch let error as CustomerHealthError {
                guard case .input(_, let message) = error else { throw error }
                throw CustomerHealthError.input(
                    file: path,
                    message:
                        "\(message) (a bucket file of \(file.name)): the partition is damaged; run  customer-health partition \(config.file)  again"
                )
            }
        }
        if shard?.ownsRowsWithoutCustomer ?? true, part.entry.unplacedRejects > 0 {
            let unplaced = try RejectRecord.readLines(
                path: PartitionLayout.rejectsPath(part.directory, name: file.name))
            guard unplaced.count == part.entry.unplacedRejects else {
                throw CustomerHealthError.input(
                    file: PartitionLayout.rejectsPath(part.directory, name: file.name),
                    message:
                        "holds \(unplaced.count) rejects, the partition manifest says \(part.entry.unplacedRejects): the partition is damaged; run  customer-health partition \(config.file)  again"
                )
            }
            report.rowsRead += unplaced.count
            report.rowsRejected += unplaced.count
            report.rejects += unplaced
        }
        report.rejects.sort { ($0.line, $0.byteOffset) < ($1.line, $1.byteOffset) }
        return report
    }

    /// The partition's summaries hold for the pipeline's ingest settings and
    /// the accounts they were computed with. If either changed, a partition
    /// in place is set aside (its exports are read whole); one elsewhere,
    /// whose exports are not there to read, is an error.
    private func checkPartition(_ manifest: PartitionManifest, accounts: [FileReport], files: inout [InputFile]) throws
    {
        let current = accounts.map { PartitionManifest.FileIdentity(file: $0.name, size: $0.size, sha256: $0.sha256) }
        let why: String
        if manifest.ingestFingerprint != PartitionLayout.ingestFingerprint(config) {
            why = "the pipeline's export, event or churn settings changed"
        } else if manifest.accounts != current {
            why = "the accounts files changed"
        } else {
            return
        }
        guard manifest.inPlace else {
            throw CustomerHealthError.input(
                file: config.inputDirectory,
                message:
                    "the partition is out of date: \(why) since `customer-health partition` wrote it. Run partition again into this folder, then the shards"
            )
        }
        logger.warning(
            "the partition of \(config.inputDirectory) is out of date (\(why) since it ran): every shard reads the exports whole; run `customer-health partition \(config.file)` before the shards"
        )
        for i in files.indices { files[i].partition = nil }
    }

    /// Splits jobs (in order) into `parts` contiguous runs of similar total size.
    static func partition(_ sizes: [Int], into parts: Int) -> [[Int]] {
        guard parts > 1 else { return [Array(0..<sizes.count)] }
        let total = sizes.reduce(0) { $0 + max($1, 1) }
        var out: [[Int]] = Array(repeating: [], count: parts)
        var acc = 0
        for (i, s) in sizes.enumerated() {
            let part = min(parts - 1, (acc * parts) / max(total, 1))
            out[part].append(i)
            acc += max(s, 1)
        }
        return out
    }
}

/// Per-worker state for `concurrentPerform`: each worker touches only its own
/// index, through raw storage so that no shared Array buffer is mutated.
final class WorkerSlots: @unchecked Sendable {
    let count: Int
    let accumulators: [IngestAccumulator]
    let reports: UnsafeMutablePointer<[FileReport]>
    let errors: UnsafeMutablePointer<(String, Error)?>

    init(count: Int, customerCount: Int) {
        self.count = count
        accumulators = (0..<count).map { _ in IngestAccumulator(customerCount: customerCount) }
        reports = .allocate(capacity: count)
        reports.initialize(repeating: [], count: count)
        errors = .allocate(capacity: count)
        errors.initialize(repeating: nil, count: count)
    }

    deinit {
        reports.deinitialize(count: count)
        reports.deallocate()
        errors.deinitialize(count: count)
        errors.deallocate()
    }

    var allErrors: [(String, Error)] { (0..<count).compactMap { errors[$0] } }
}

/// What every worker shares to read an event export's file into its own
/// accumulator.
private struct EventFileContext: @unchecked Sendable {
    let config: PipelineConfig
    let customers: CustomerDirectory
    let registry: ProductEventRegistry
    /// With several workers, the activity rows' store of their own.
    let store: ActivityStore?
    let shard: ShardSpec?
    let progress: (@Sendable (Int, Int) -> Void)?
    let threads: Int
    /// The bytes of every event file this read takes.
    let totalBytes: Int

    /// One file holding most of the bytes gets its inflating on a thread of its own.
    func pipelined(_ file: InputFile) -> Bool {
        threads >= 2 && file.size > (4 << 20) && file.size * 2 > totalBytes
    }

    /// Reads `file` (whole, or its buckets of a partition) into `accumulator`;
    /// nil for an export that has no row handler. A partition's failure is
    /// wrapped as `PartitionReadFailure`.
    func read(_ file: InputFile, rank: Int, into accumulator: IngestAccumulator) throws -> FileReport? {
        let settings = config.exportSettings(file.kind)
        let context = RowHandlerContext(
            reader: FieldReader(settings: settings, dateFormat: config.dateFormat), customers: customers,
            accumulator: accumulator, fileRank: rank, events: config.events, registry: registry,
            countsAllRows: file.partition == nil)
        guard let handler = file.kind.makeHandler(context) else { return nil }
        (handler as? ActivityRowHandler)?.store = store
        if let part = file.partition {
            do {
                return try IngestRunner.readBuckets(
                    of: file, part, settings: settings, handler: handler, config: config, shard: shard,
                    progress: progress)
            } catch {
                throw IngestRunner.PartitionReadFailure(error: error)
            }
        }
        let reader = try InputFileReader(
            path: file.path, settings: settings, handler: handler, maxRowBytes: config.maxRowBytes,
            includeRaw: config.rejectsIncludeRaw, mode: .whole(pipelined: pipelined(file)),
            options: ReadOptions(rows: RowOwnership(shard), progress: progress))
        return try reader.read()
    }
}
