import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `train --shard` wrote.
public struct TrainingPartSummary: Sendable {
    public var path: String
    public var shard: ShardSpec
    public var rows: Int
    public var positives: Int
    public var customers: Int
    public var observationDates: [CalendarDay]
    public var candidates: Int
    public var seconds: Double
}

/// Training at scale (docs/model.md, "Training at scale"): shards never fit
/// a model. Each shard writes its part of the training table (its own
/// customers' rows, with every input and every candidate input from the
/// product's events), and `train --from-parts` fits the one model on their
/// union, on one machine: the model `train` would have written, byte for byte.
///
/// DIR/train-part-K-of-N/ holds
/// - part.json: what every part must agree on (`agreed`: tool, pipeline,
///   history, observation and validation dates, the input files and their
///   checksums, the inputs and candidates), the part's counts, and its
///   columns (name, and whether a 32-bit float holds every value);
/// - rows.bin: per row (date by date, customers in customer_id order), the
///   customer's number in accounts (UInt32), then every row's label (UInt8);
/// - customers.bin: the part's customers: number (UInt32), id length (UInt32), id (UTF-8);
/// - columns.bin: the inputs, then the candidates, column by column, one
///   Float64 a row;
/// - sample.bin: the part's screening sample for the candidates (the
///   training rows with the smallest hash keys): row numbers (UInt32), then
///   each candidate's values (Float64);
/// - health-DATE.snapshots and health-DATE.labels: on the dates the health
///   score's skill is measured on, the part's active customers (SnapshotCodec,
///   exact to the bit), and whether each churned within the horizon ('0'/'1');
/// - _SUCCESS, written last: each file's size and SHA-256.
/// All numbers are little-endian. The folder is written under a temporary
/// name and renamed into place, as shard results are.
enum TrainingParts {
    static let format = "customer-health-training-part/1"
    static let marker = "_SUCCESS"
    static let folderPrefix = "train-part-"

    static func folderName(_ spec: ShardSpec) -> String { "\(folderPrefix)\(spec.index)-of-\(spec.count)" }

    /// What `train --from-parts` checks to be equal in every part.
    static let agreedKeys = [
        "tool_version", "pipeline_sha256", "training_fingerprint", "through", "first_activity_day", "last_activity_day",
        "data_through", "observation_dates", "validation_dates", "churn_definition", "customers_in_accounts", "inputs",
        "fixed_inputs", "event_input_candidates", "health_score_dates",
    ]

    static func healthFile(_ day: CalendarDay) -> String { "health-\(day).snapshots" }
    static func healthLabels(_ day: CalendarDay) -> String { "health-\(day).labels" }
}

// MARK: - Writing a part

extension PipelineRunner {
    /// `train PIPELINE --shard K/N --parts-output DIR`: reads the exports
    /// (every row; only shard K's customers' count), builds that shard's rows
    /// of the training table on the observation dates one machine's `train`
    /// would use, and writes DIR/train-part-K-of-N/. Never fits a model.
    public func writeTrainingPart(_ spec: ShardSpec, partsDirectory: String, through: CalendarDay? = nil) throws
        -> TrainingPartSummary
    {
        let started = ContinuousClock.now
        guard config.churn.modelPath != nil else {
            throw CustomerHealthError.pipeline(
                file: config.file, path: "churn.model",
                message: "no model file is set: add `churn: {model: models/churn-model.json}` to the pipeline")
        }
        let part = try trainingPartRows(spec, through: through)
        logger.info(
            "training part \(spec): \(part.rows.count) rows over \(part.plan.dates.count) observation dates, \(part.inputs.count) columns (\(part.candidates.count) candidate inputs from the product's events)"
        )

        let folder = try AtomicResultFolder(directory: partsDirectory, name: TrainingParts.folderName(spec))
        do {
            let float32 = try writeColumns(
                rows: part.rows, inputs: part.inputs, builder: part.builder, to: folder.path("columns.bin"))
            try PipelineRunner.writeRowsFile(part.rows, to: folder.path("rows.bin"))
            let customers = try PipelineRunner.writeCustomersFile(part, to: folder.path("customers.bin"))
            try writeSampleFile(part, to: folder.path("sample.bin"))
            let health = try writeHealthScoreFiles(part, into: folder)
            let header = trainingPartHeader(
                spec: spec, part: part, through: through, health: health, customers: customers.count,
                columns: zip(part.inputs, float32).map { ($0.name, $1) })
            try AtomicFile.writeContents(header.serialized(pretty: true) + "\n", to: folder.path("part.json"))
            let path = try folder.finish(
                format: TrainingParts.format,
                files: ["part.json", "rows.bin", "customers.bin", "columns.bin", "sample.bin"] + health.files)
            return TrainingPartSummary(
                path: path, shard: spec, rows: part.rows.count, positives: part.positives,
                customers: customers.count, observationDates: part.plan.dates, candidates: part.candidates.count,
                seconds: Elapsed.seconds(since: started))
        } catch {
            folder.abandon()
            throw error
        }
    }

    /// Reads the exports and builds shard `spec`'s rows of the training
    /// table, its candidate inputs and its screening sample.
    private func trainingPartRows(_ spec: ShardSpec, through: CalendarDay?) throws -> TrainingPartRows {
        let churn = config.churn
        let data = try ingest(shard: spec)
        let plan = try trainingPlan(data: data, through: through)
        let builder = TrainingSetBuilder(data: data, scoring: config.scoring, churn: churn, events: config.events)
        var owned = [Bool](repeating: false, count: data.accounts.count)
        for c in data.accounts.indices where spec.owns(customerID: data.accounts[c].customerID) { owned[c] = true }
        let rows = builder.rows(dates: plan.dates, only: owned)
        let trainCount = rows.firstIndex { $0.date >= plan.firstValidation } ?? rows.count
        // Every candidate: which ones the model reads is decided on all parts' sample together.
        let candidates =
            churn.eventFeatures.maxInputs > 0
            ? builder.eventCandidates(productEvents: churn.eventFeatures.productEvents) : []
        let sample: [Int] =
            candidates.isEmpty
            ? []
            : TrainingSetBuilder.screeningSample(Array(0..<trainCount), seed: churn.seed) {
                (rows[$0].customer, rows[$0].date)
            }
        return TrainingPartRows(
            data: data, plan: plan, builder: builder, owned: owned, rows: rows, trainCount: trainCount,
            candidates: candidates, sample: sample)
    }

    /// rows.bin: each row's customer number, then every row's label.
    private static func writeRowsFile(_ rows: [TrainingPartRows.Row], to path: String) throws {
        let rowsFile = try BinaryFile(creating: path)
        try rowsFile.append(rows.map { UInt32($0.customer) })
        try rowsFile.append(rows.map(\.label))
        try rowsFile.close()
    }

    /// customers.bin: the customers with rows, by number. Returns their numbers.
    private static func writeCustomersFile(_ part: TrainingPartRows, to path: String) throws -> [Int] {
        let accounts = part.data.accounts
        var customers: [Int] = []
        var seen = [Bool](repeating: false, count: accounts.count)
        for r in part.rows where !seen[r.customer] { seen[r.customer] = true }
        for c in seen.indices where seen[c] { customers.append(c) }
        let customersFile = try BinaryFile(creating: path)
        for c in customers {
            let id = Array(accounts[c].customerID.utf8)
            try customersFile.append([UInt32(c), UInt32(id.count)])
            try customersFile.append(id)
        }
        try customersFile.close()
        return customers
    }

    /// sample.bin: the screening sample's row numbers, then each candidate's values on them.
    private func writeSampleFile(_ part: TrainingPartRows, to path: String) throws {
        let sample = part.sample
        let sampleFile = try BinaryFile(creating: path)
        try sampleFile.append(sample.map { UInt32($0) })
        if !sample.isEmpty {
            let values = FeatureValues(
                rowCount: sample.count,
                storage: [FeatureValues.Storage](repeating: .float64, count: part.candidates.count))
            part.builder.fill(values, rows: sample.map { part.rows[$0] }, inputs: part.candidates, threads: threads)
            for j in 0..<part.candidates.count {
                let column = values.column(j)
                try sampleFile.append((0..<sample.count).map { column[$0] })
            }
        }
        try sampleFile.close()
    }

    /// The health score's rows on its dates: the part's active customers'
    /// snapshots and labels, a pair of files per date.
    private func writeHealthScoreFiles(_ part: TrainingPartRows, into folder: AtomicResultFolder) throws
        -> TrainingPartHealthRows
    {
        let data = part.data
        var health = TrainingPartHealthRows()
        for day in part.plan.validationDates + part.plan.healthScoreTrainingDates {
            let existing = part.ownedIndexes.filter { data.lifecycles[$0].exists(on: day) }
            var active: [CustomerSnapshot] = []
            var labels: [UInt8] = []
            for (s, c) in zip(snapshots(data, asOf: day, only: existing), existing)
            where s.active && s.features != nil {
                active.append(s)
                labels.append(part.builder.churnState(customer: c, on: day).label ? 0x31 : 0x30)
            }
            let writer = try OutputFileWriter(path: folder.path(TrainingParts.healthFile(day)))
            try SnapshotCodec.write(active, to: writer)
            try writer.close()
            let labelsFile = try BinaryFile(creating: folder.path(TrainingParts.healthLabels(day)))
            try labelsFile.append(labels)
            try labelsFile.close()
            health.counts.append(labels.count)
            health.dates.append(
                .object([("date", .string(day.description)), ("data_sources", data.sources(asOf: day).json())]))
            health.files += [TrainingParts.healthFile(day), TrainingParts.healthLabels(day)]
        }
        return health
    }

    /// columns.bin: every input of every row, column by column, computed a
    /// block of rows at a time. Returns, per column, whether a 32-bit float
    /// holds every value.
    private func writeColumns(
        rows: [(customer: Int, date: CalendarDay, label: UInt8)], inputs: [ModelInput], builder: TrainingSetBuilder,
        to path: String
    ) throws -> [Bool] {
        let n = rows.count
        let w = inputs.count
        let file = try BinaryFile(creating: path)
        var float32 = [Bool](repeating: true, count: w)
        let block = 8192
        let scratch = FeatureValues(
            rowCount: min(block, max(1, n)), storage: [FeatureValues.Storage](repeating: .float64, count: w))
        var bits = [UInt64](repeating: 0, count: min(block, max(1, n)))
        for lo in stride(from: 0, to: n, by: block) {
            let hi = min(n, lo + block)
            builder.fill(scratch, rows: Array(rows[lo..<hi]), inputs: inputs, threads: threads)
            for j in 0..<w {
                let column = scratch.column(j)
                var holds = float32[j]
                for i in 0..<(hi - lo) {
                    let v = column[i]
                    if holds && !FeatureValues.float32Holds(v) { holds = false }
                    bits[i] = v.bitPattern.littleEndian
                }
                float32[j] = holds
                try bits.withUnsafeBytes {
                    try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<((hi - lo) * 8)]), at: (j * n + lo) * 8)
                }
            }
        }
        try file.close()
        return float32
    }

    private func trainingPartHeader(
        spec: ShardSpec, part: TrainingPartRows, through: CalendarDay?, health: TrainingPartHealthRows,
        customers: Int, columns: [(String, Bool)]
    ) -> JSONValue {
        let data = part.data
        let plan = part.plan
        var perDate = [Int](repeating: 0, count: plan.dates.count)
        let dateIndex = Dictionary(uniqueKeysWithValues: plan.dates.enumerated().map { ($1, $0) })
        for r in part.rows { perDate[dateIndex[r.date]!] += 1 }
        func days(_ list: [CalendarDay]) -> JSONValue { .array(list.map { .string($0.description) }) }
        return .object([
            ("format", .string(TrainingParts.format)),
            ("part", spec.json),
            (
                "agreed",
                .object([
                    ("tool_version", .string(ToolVersion.current)),
                    ("pipeline_sha256", .string(config.sha256)),
                    ("training_fingerprint", .string(ChurnModelFile.hash(config.trainingFingerprint))),
                    ("through", .optionalString(through?.description)),
                    (
                        "first_activity_day",
                        .optionalString(data.earliestActivityDay.map { CalendarDay(number: Int32($0)).description })
                    ),
                    ("last_activity_day", .optionalString(data.latestActivityDay?.description)),
                    ("data_through", .string(plan.dataThrough.description)),
                    ("observation_dates", days(plan.dates)),
                    ("validation_dates", days(plan.validationDates)),
                    ("churn_definition", .string(config.churnDefinition.summary)),
                    ("customers_in_accounts", .int(data.accounts.count)),
                    ("inputs", .array(data.files.map(\.identityJSON))),
                    ("fixed_inputs", .array(ChurnFeatures.names.map { .string($0) })),
                    ("event_input_candidates", .array(part.candidates.map { .string($0.name) })),
                    ("health_score_dates", .array(health.dates)),
                ])
            ),
            (
                "counts",
                .object([
                    ("customers_owned", .int(part.ownedIndexes.count)),
                    ("customers", .int(customers)),
                    ("rows", .int(part.rows.count)),
                    ("rows_per_date", .array(perDate.map { .int($0) })),
                    ("training_rows", .int(part.trainCount)),
                    ("positives", .int(part.positives)),
                    ("sample_rows", .int(part.sample.count)),
                    ("health_score_rows", .array(health.counts.map { .int($0) })),
                ])
            ),
            ("columns", .array(columns.map { .object([("name", .string($0.0)), ("float32", .bool($0.1))]) })),
        ])
    }
}

/// A shard's rows of the training table, and what its part is built from.
private struct TrainingPartRows {
    typealias Row = (customer: Int, date: CalendarDay, label: UInt8)
    var data: IngestResult
    var plan: PipelineRunner.TrainingPlan
    var builder: TrainingSetBuilder
    /// Per customer in accounts: whether the shard owns it.
    var owned: [Bool]
    var rows: [Row]
    /// The rows before the first validation date.
    var trainCount: Int
    var candidates: [ModelInput]
    /// The screening sample: training rows' numbers.
    var sample: [Int]

    /// The inputs, then the candidates: the columns of columns.bin.
    var inputs: [ModelInput] { ChurnFeatures.fixed + candidates }
    var ownedIndexes: [Int] { owned.indices.filter { owned[$0] } }
    var positives: Int { rows.reduce(0) { $0 + Int($1.label) } }
}

/// The health score's rows a part holds: per date, the count, the date's
/// entry in part.json, and the two files written.
private struct TrainingPartHealthRows {
    var counts: [Int] = []
    var dates: [JSONValue] = []
    var files: [String] = []
}

// MARK: - Fitting from the parts

extension PipelineRunner {
    /// `train PIPELINE --from-parts DIR`: checks that every part of DIR is
    /// present, complete and agrees, joins their rows in the order one
    /// machine's training table has, chooses the event-derived inputs on
    /// their joint screening sample, and fits and writes the model exactly
    /// as `train` does. Nothing is written unless every check passes.
    public func trainFromParts(directory: String, exportTable: String? = nil) throws -> TrainOutcome {
        guard let modelPath = config.churn.modelPath else {
            throw CustomerHealthError.pipeline(
                file: config.file, path: "churn.model",
                message: "no model file is set: add `churn: {model: models/churn-model.json}` to the pipeline")
        }
        let churn = config.churn
        let buildStart = ContinuousClock.now
        let agreed = try loadAgreeingParts(directory: directory)
        let parts = agreed.parts
        let plan = try agreed.trainingPlan()
        let dates = plan.dates
        let heldOut = dates.count - plan.validationDates.count
        let trainCount = parts.reduce(0) { $0 + $1.rowsPerDate.prefix(heldOut).reduce(0, +) }
        let candidates = try agreed.candidates()
        let (table, eventInputs, ranking) = try TrainingParts.assemble(
            parts, dates: dates, trainCount: trainCount, candidates: candidates,
            eventFeatures: churn.eventFeatures, seed: churn.seed, withDates: exportTable != nil)
        logger.info(
            "training table: \(table.rowCount) rows from \(parts.count) parts over \(dates.count) observation dates, \(table.featureCount) inputs (\(eventInputs.count) from the product's events), read in \(String(format: "%.1f", Elapsed.seconds(since: buildStart))) s"
        )
        let trained = try fitModel(
            table: table, trainCount: trainCount, plan: plan, eventInputs: eventInputs.map(\.name), ranking: ranking,
            exportTable: exportTable
        ) {
            HealthScoreSkill.report(
                validation: try healthScoreRows(parts, dates: plan.validationDates),
                training: try healthScoreRows(parts, dates: plan.healthScoreTrainingDates),
                validationDates: plan.validationDates, trainingDates: plan.healthScoreTrainingDates)
        }
        return try write(trained, to: modelPath)
    }

    /// Loads every part of `directory` and checks that they agree with each
    /// other, with this pipeline and with this version of customer-health.
    private func loadAgreeingParts(directory: String) throws -> AgreedTrainingParts {
        let parts = try TrainingParts.loadAll(directory: directory)
        try PipelineRunner.requireAgreement(
            parts.map { ($0.folder, $0.spec.description, $0.agreed) }, on: TrainingParts.agreedKeys, noun: "part",
            hint: TrainingParts.disagreementHint, outcome: "nothing was written")
        let found = AgreedTrainingParts(parts: parts, agreed: parts[0].agreed)
        let agreed = found.agreed
        guard agreed["pipeline_sha256"] as? String == config.sha256 else {
            throw found.fail(
                "the parts were built with another version of \(config.file) (pipeline_sha256 \(PipelineRunner.shown(agreed["pipeline_sha256"]))): fit them with the pipeline file they were built with, or build the parts again; nothing was written"
            )
        }
        guard agreed["tool_version"] as? String == ToolVersion.current,
            agreed["fixed_inputs"] as? [String] == ChurnFeatures.names
        else {
            throw found.fail(
                "the parts were built by customer-health \(PipelineRunner.shown(agreed["tool_version"])), this is \(ToolVersion.current): build the parts and fit them with one version; nothing was written"
            )
        }
        return found
    }

    /// The health score's rows on `dates` (HealthScoreSkill.rows), from the
    /// parts' customers: scored with the targets of all of them together, as
    /// one machine scores them.
    private func healthScoreRows(_ parts: [TrainingParts.Loaded], dates: [CalendarDay]) throws -> [HealthScoreSkill.Row]
    {
        var out: [HealthScoreSkill.Row] = []
        for day in dates {
            guard
                let entry = (parts[0].agreed["health_score_dates"] as? [[String: Any]])?.first(where: {
                    $0["date"] as? String == day.description
                }),
                let sources = DataSources(json: entry["data_sources"]),
                let k = (parts[0].agreed["health_score_dates"] as? [[String: Any]])?.firstIndex(where: {
                    $0["date"] as? String == day.description
                })
            else {
                throw CustomerHealthError.input(
                    file: parts[0].folder,
                    message: "part.json has no health score rows for \(day); build the parts again")
            }
            var customers: [(CustomerSnapshot, UInt8)] = []
            for part in parts where part.healthRows[k] > 0 {
                let path = (part.folder as NSString).appendingPathComponent(TrainingParts.healthFile(day))
                let snaps = try SnapshotCodec.read(path: path)
                let labels = try BinaryFile.contents(
                    of: (part.folder as NSString).appendingPathComponent(TrainingParts.healthLabels(day)))
                guard snaps.count == labels.count, snaps.count == part.healthRows[k] else {
                    throw CustomerHealthError.input(
                        file: path,
                        message:
                            "does not hold the \(part.healthRows[k]) customers part.json lists for \(day); build the part again"
                    )
                }
                for (s, y) in zip(snaps, labels) { customers.append((s, y == 0x31 ? 1 : 0)) }
            }
            customers.sort { $0.0.account.customerID.utf8.lexicographicallyPrecedes($1.0.account.customerID.utf8) }
            let labels = Dictionary(customers.map { ($0.0.account.customerID, $0.1) }, uniquingKeysWith: { a, _ in a })
            out += HealthScoreSkill.rows(
                customers.map(\.0), applicability: ScoreApplicability(sources: sources, settings: config.scoring.parts),
                scoring: config.scoring
            ) { labels[$0.account.customerID] }
        }
        return out
    }
}

extension TrainingParts {
    /// The joined training table, with the event-derived inputs chosen on the
    /// parts' joint screening sample (what `selectEventInputs` chooses on one
    /// machine). What joining needs besides the table is freed on return.
    static func assemble(
        _ parts: [Loaded], dates: [CalendarDay], trainCount: Int, candidates: [ModelInput],
        eventFeatures: EventFeatureSettings,
        seed: UInt64, withDates: Bool
    ) throws -> (TrainingTable, [ModelInput], [(String, Double)]) {
        // The rows of all parts, date by date, customers in customer_id order (their number in accounts).
        let joined = try join(parts)
        var eventInputs: [ModelInput] = []
        var ranking: [(String, Double)] = []
        if eventFeatures.maxInputs > 0 && trainCount > 0 && !candidates.isEmpty {
            let sample = try screeningTable(
                parts, joined: joined, dates: dates, candidates: candidates.map(\.name), trainCount: trainCount,
                seed: seed)
            (eventInputs, ranking) = TrainingSetBuilder.rankCandidates(
                sample, candidates: candidates, maxInputs: eventFeatures.maxInputs)
        }
        let table = try self.table(
            parts, joined: joined, features: ChurnFeatures.names + eventInputs.map(\.name),
            dates: withDates ? dates : nil)
        return (table, eventInputs, ranking)
    }

    /// A part read back and checked against its _SUCCESS listing.
    struct Loaded {
        var spec: ShardSpec
        var folder: String
        var agreed: [String: Any]
        var customersOwned: Int
        var rows: Int
        var rowsPerDate: [Int]
        var trainingRows: Int
        var sampleRows: Int
        var healthRows: [Int]
        /// The columns of columns.bin: name, and whether a 32-bit float holds every value.
        var columns: [(name: String, float32: Bool)]

        func path(_ file: String) -> String { (folder as NSString).appendingPathComponent(file) }
    }

    static func disagreementHint(_ key: String) -> String {
        switch key {
        case "inputs", "first_activity_day", "last_activity_day", "customers_in_accounts", "event_input_candidates",
            "health_score_dates":
            return
                "the parts read different exports (files added or changed between them); build every part again on the same files"
        case "through", "data_through", "observation_dates", "validation_dates":
            return
                "the parts cover different history; pass the same --as-of (or none) to every train --shard and build them again"
        case "pipeline_sha256", "churn_definition", "training_fingerprint":
            return "the parts were built with different pipeline files; build them again with one"
        default: return "build every part again with one version of customer-health"
        }
    }

    /// The parts in `directory`: every one of 0..<N present and complete.
    static func loadAll(directory: String) throws -> [Loaded] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw CustomerHealthError.input(
                file: directory,
                message:
                    "no such folder: --from-parts must name the folder the parts were written to (the --parts-output of train --shard)"
            )
        }
        let found = AtomicResultFolder.scan(directory: directory, prefix: folderPrefix)
        guard !found.isEmpty else {
            throw CustomerHealthError.input(
                file: directory,
                message:
                    "holds no training part (train-part-K-of-N folders): build them first, each with  customer-health train PIPELINE --shard K/N --parts-output \(directory); nothing was written"
            )
        }
        guard found.count == 1, let n = found.keys.first else {
            let counts = found.keys.sorted().map(String.init).joined(separator: ", ")
            throw CustomerHealthError.input(
                file: directory,
                message:
                    "holds parts of builds with different shard counts (\(counts)); give each build its own folder; nothing was written"
            )
        }
        guard n >= 1 && n <= ShardSpec.bucketCount else {
            throw CustomerHealthError.input(
                file: directory, message: "a part count of \(n) is outside 1-\(ShardSpec.bucketCount)")
        }
        let missing = (0..<n).filter { !(found[n]?.contains($0) ?? false) }
        if !missing.isEmpty {
            let running = AtomicResultFolder.temporaries(
                directory: directory, prefix: folderPrefix, missing: missing, count: n)
            let list = missing.prefix(10).map(String.init).joined(separator: ", ") + (missing.count > 10 ? ", ..." : "")
            throw CustomerHealthError.input(
                file: directory,
                message: "\(missing.count) of \(n) training parts are missing (part \(list)): nothing was written. "
                    + (running.isEmpty
                        ? "Those parts failed or have not run; build each with  train PIPELINE --shard K/\(n) --parts-output \(directory)  and fit again"
                        : "Some are being written or were killed (\(running.prefix(3).joined(separator: ", "))); wait for them, or build them again, and fit again")
            )
        }
        return try (0..<n).map { k in
            let spec = try ShardSpec(index: k, count: n)
            return try load(folder: (directory as NSString).appendingPathComponent(folderName(spec)), spec: spec)
        }
    }

    private static func load(folder: String, spec: ShardSpec) throws -> Loaded {
        func fail(_ message: String) -> CustomerHealthError {
            .input(file: folder, message: message + "; nothing was written")
        }
        try AtomicResultFolder.verify(
            folder: folder, format: format,
            required: ["part.json", "rows.bin", "customers.bin", "columns.bin", "sample.bin"],
            rerun: "build part \(spec) again")
        guard
            let header =
                (try? JSONSerialization.jsonObject(
                    with: FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent("part.json"))
                        ?? Data())) as? [String: Any],
            header["format"] as? String == format, let part = header["part"] as? [String: Any],
            let agreed = header["agreed"] as? [String: Any],
            let counts = header["counts"] as? [String: Any], let columns = header["columns"] as? [[String: Any]]
        else {
            throw fail(
                "part.json is not a training part of this version of customer-health (\(format)); build part \(spec) again"
            )
        }
        guard part["index"] as? Int == spec.index, part["count"] as? Int == spec.count else {
            throw fail(
                "part.json says it is part \(part["index"] ?? "?")/\(part["count"] ?? "?"), not \(spec): the folder was renamed; build part \(spec) again"
            )
        }
        guard let owned = counts["customers_owned"] as? Int, let rows = counts["rows"] as? Int,
            let perDate = counts["rows_per_date"] as? [Int],
            let training = counts["training_rows"] as? Int, let sample = counts["sample_rows"] as? Int,
            let health = counts["health_score_rows"] as? [Int],
            perDate.reduce(0, +) == rows
        else {
            throw fail("part.json's counts are incomplete; build part \(spec) again")
        }
        let cols: [(name: String, float32: Bool)] = try columns.map { c in
            guard let name = c["name"] as? String, let f = c["float32"] as? Bool else {
                throw fail("part.json's columns are incomplete; build part \(spec) again")
            }
            return (name, f)
        }
        let loaded = Loaded(
            spec: spec, folder: folder, agreed: agreed, customersOwned: owned, rows: rows, rowsPerDate: perDate,
            trainingRows: training,
            sampleRows: sample, healthRows: health, columns: cols)
        // Sizes the counts imply, so that a part cut short never passes.
        let expected: [(String, Int)] = [("rows.bin", 5 * rows), ("columns.bin", 8 * rows * cols.count)]
        for (file, size) in expected {
            let actual = (try? FileManager.default.attributesOfItem(atPath: loaded.path(file)))?[.size] as? Int ?? -1
            guard actual == size else {
                throw fail(
                    "\(file) holds \(actual) bytes, and part.json's counts say \(size); build part \(spec) again")
            }
        }
        return loaded
    }

    /// The parts' rows in the order of one machine's table.
    struct Joined {
        /// Per row: label, and the customer's number in accounts.
        var labels: [UInt8]
        var customers: [UInt32]
        /// Per part, per row of the part: its row in the joined table.
        var destination: [[UInt32]]
        /// Per part, per row: its customer's number and its date's index (for the screening sample).
        var partCustomers: [[UInt32]]
    }

    static func join(_ parts: [Loaded]) throws -> Joined {
        let dateCount = parts[0].rowsPerDate.count
        var partCustomers: [[UInt32]] = []
        var partLabels: [[UInt8]] = []
        for part in parts {
            let bytes = try BinaryFile.contents(of: part.path("rows.bin"))
            var customers = [UInt32](repeating: 0, count: part.rows)
            customers.withUnsafeMutableBytes { out in
                bytes.withUnsafeBytes {
                    out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<(4 * part.rows)]))
                }
            }
            partCustomers.append(customers.map { UInt32(littleEndian: $0) })
            partLabels.append(Array(bytes[(4 * part.rows)...]))
        }
        let total = parts.reduce(0) { $0 + $1.rows }
        var labels: [UInt8] = []
        var customers: [UInt32] = []
        labels.reserveCapacity(total)
        customers.reserveCapacity(total)
        var destination = parts.map { [UInt32](repeating: 0, count: $0.rows) }
        var starts = [Int](repeating: 0, count: parts.count)
        for t in 0..<dateCount {
            var entries: [(customer: UInt32, part: Int32, row: Int32)] = []
            for (p, part) in parts.enumerated() {
                for r in starts[p]..<(starts[p] + part.rowsPerDate[t]) {
                    entries.append((partCustomers[p][r], Int32(p), Int32(r)))
                }
                starts[p] += part.rowsPerDate[t]
            }
            entries.sort { $0.customer < $1.customer }
            for (i, e) in entries.enumerated() {
                if i > 0 && entries[i - 1].customer == e.customer {
                    throw CustomerHealthError.input(
                        file: parts[Int(e.part)].folder,
                        message:
                            "customer number \(e.customer) has rows in two parts on one date: the parts were made with different shard counts or hashes; build them again into an empty folder; nothing was written"
                    )
                }
                destination[Int(e.part)][Int(e.row)] = UInt32(labels.count)
                labels.append(partLabels[Int(e.part)][Int(e.row)])
                customers.append(e.customer)
            }
        }
        return Joined(labels: labels, customers: customers, destination: destination, partCustomers: partCustomers)
    }

    /// The candidates' values on the joint screening sample: the union of
    /// the parts' samples, all of the training rows when they are at most
    /// the sample size (in table order), otherwise those with the smallest
    /// keys (by key), exactly the sample one machine takes.
    static func screeningTable(
        _ parts: [Loaded], joined: Joined, dates: [CalendarDay], candidates: [String], trainCount: Int,
        seed: UInt64
    ) throws -> TrainingTable {
        let pool = try jointSample(
            parts, joined: joined, dates: dates, candidates: candidates, trainCount: trainCount, seed: seed)
        let values = try sampleValues(parts, pool: pool, candidates: candidates)
        return TrainingTable(
            featureNames: candidates, values: values, labels: pool.map { joined.labels[$0.row] },
            rowIDs: RowIDs(names: nil, index: ArraySlice((0..<pool.count).map { UInt32($0) })))
    }

    /// The rows of the joint screening sample, in the sample's order.
    private static func jointSample(
        _ parts: [Loaded], joined: Joined, dates: [CalendarDay], candidates: [String], trainCount: Int,
        seed: UInt64
    ) throws -> [ScreeningEntry] {
        var pool: [ScreeningEntry] = []
        for (p, part) in parts.enumerated() {
            pool += try sampledRows(p, of: part, joined: joined, dates: dates, candidates: candidates, seed: seed)
        }
        if trainCount <= TrainingSetBuilder.screeningSampleSize {
            guard pool.count == trainCount else {
                throw CustomerHealthError.input(
                    file: parts[0].folder,
                    message:
                        "the parts' screening samples hold \(pool.count) rows, not all \(trainCount) training rows; build the parts again"
                )
            }
            pool.sort { $0.row < $1.row }
        } else {
            pool.sort { $0.key < $1.key }
            pool = Array(pool.prefix(TrainingSetBuilder.screeningSampleSize))
        }
        return pool
    }

    /// Part `p`'s sampled rows (sample.bin's row numbers), each with its
    /// screening key and its row in the joined table.
    private static func sampledRows(
        _ p: Int, of part: Loaded, joined: Joined, dates: [CalendarDay], candidates: [String], seed: UInt64
    ) throws -> [ScreeningEntry] {
        let bytes = try BinaryFile.contents(of: part.path("sample.bin"))
        let m = part.sampleRows
        guard bytes.count == 4 * m + 8 * m * candidates.count else {
            throw CustomerHealthError.input(
                file: part.path("sample.bin"),
                message:
                    "holds \(bytes.count) bytes, not the \(m) rows of \(candidates.count) candidates part.json lists; build part \(part.spec) again"
            )
        }
        let positions: [UInt32] = bytes.withUnsafeBytes { raw in
            (0..<m).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        // Each row's date: its place among the part's dates.
        var bounds: [Int] = [0]
        for c in part.rowsPerDate { bounds.append(bounds.last! + c) }
        var entries: [ScreeningEntry] = []
        for (k, pos) in positions.enumerated() {
            let r = Int(pos)
            guard r < part.trainingRows else {
                throw CustomerHealthError.input(
                    file: part.path("sample.bin"),
                    message: "names row \(r), which is not a training row; build part \(part.spec) again")
            }
            var t = 0
            while bounds[t + 1] <= r { t += 1 }
            let customer = Int(joined.partCustomers[p][r])
            entries.append(
                ScreeningEntry(
                    key: TrainingSetBuilder.screeningKey(customer: customer, date: dates[t], seed: seed),
                    row: Int(joined.destination[p][r]), part: p, k: k))
        }
        return entries
    }

    /// The candidates' values on the sample's rows, read from the parts' sample.bin.
    private static func sampleValues(_ parts: [Loaded], pool: [ScreeningEntry], candidates: [String]) throws
        -> FeatureValues
    {
        let values = FeatureValues(
            rowCount: pool.count, storage: [FeatureValues.Storage](repeating: .float64, count: candidates.count))
        // Where each part's sampled rows went in the pool.
        var placed = parts.map { [Int](repeating: -1, count: $0.sampleRows) }
        for (i, e) in pool.enumerated() { placed[e.part][e.k] = i }
        for (p, part) in parts.enumerated() where part.sampleRows > 0 {
            let bytes = try BinaryFile.contents(of: part.path("sample.bin"))
            let m0 = part.sampleRows
            bytes.withUnsafeBytes { raw in
                for j in 0..<candidates.count {
                    let column = values.column(j)
                    for k in 0..<m0 where placed[p][k] >= 0 {
                        let bits = UInt64(
                            littleEndian: raw.loadUnaligned(fromByteOffset: 4 * m0 + 8 * (j * m0 + k), as: UInt64.self))
                        column.set(placed[p][k], Double(bitPattern: bits))
                    }
                }
            }
        }
        return values
    }

    /// The joined training table of `features` (columns of the parts, by name):
    /// each column read from every part straight into its rows.
    static func table(_ parts: [Loaded], joined: Joined, features: [String], dates: [CalendarDay]?) throws
        -> TrainingTable
    {
        let indexes = try columnIndexes(parts, features: features)
        let values = try readColumns(parts, joined: joined, indexes: indexes)
        let ids = try customerIDs(parts)
        let index = try rowIDIndex(joined, numbers: ids.map(\.0), folder: parts[0].folder)
        return TrainingTable(
            featureNames: features, values: values, labels: joined.labels,
            rowIDs: RowIDs(names: ids.map(\.1), index: ArraySlice(index)),
            dates: dates.map { rowDates(parts, dates: $0, rowCount: joined.labels.count) })
    }

    /// Each feature's column number in columns.bin, the same in every part.
    private static func columnIndexes(_ parts: [Loaded], features: [String]) throws -> [Int] {
        var indexes: [Int] = []
        for name in features {
            guard let j = parts[0].columns.firstIndex(where: { $0.name == name }) else {
                throw CustomerHealthError.input(
                    file: parts[0].folder,
                    message: "has no column \(name); build the parts again with this customer-health")
            }
            for part in parts where part.columns.count <= j || part.columns[j].name != name {
                throw CustomerHealthError.input(
                    file: part.folder, message: "its columns differ from part \(parts[0].spec)'s; build the parts again"
                )
            }
            indexes.append(j)
        }
        return indexes
    }

    /// Columns `indexes` of every part's columns.bin, each value put in its
    /// joined row; 32-bit storage where every part says a 32-bit float holds the column.
    private static func readColumns(_ parts: [Loaded], joined: Joined, indexes: [Int]) throws -> FeatureValues {
        let storage: [FeatureValues.Storage] = indexes.map { j in
            parts.allSatisfy { $0.columns[j].float32 } ? .float32 : .float64
        }
        let values = FeatureValues(rowCount: joined.labels.count, storage: storage)
        let chunk = 1 << 20
        var buffer = [UInt64](repeating: 0, count: chunk)
        for (p, part) in parts.enumerated() where part.rows > 0 {
            let file = try BinaryFile(reading: part.path("columns.bin"))
            defer { file.closeQuietly() }
            let destination = joined.destination[p]
            for (k, j) in indexes.enumerated() {
                let column = values.column(k)
                for lo in stride(from: 0, to: part.rows, by: chunk) {
                    let count = min(chunk, part.rows - lo)
                    try buffer.withUnsafeMutableBytes {
                        try file.read(
                            into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(8 * count)]),
                            at: 8 * (j * part.rows + lo))
                    }
                    for i in 0..<count {
                        column.set(Int(destination[lo + i]), Double(bitPattern: UInt64(littleEndian: buffer[i])))
                    }
                }
            }
        }
        return values
    }

    /// Row ids: each customer's number and id once (the parts' customers.bin), by number.
    private static func customerIDs(_ parts: [Loaded]) throws -> [(UInt32, String)] {
        var ids: [(UInt32, String)] = []
        for part in parts {
            let bytes = try BinaryFile.contents(of: part.path("customers.bin"))
            var o = 0
            try bytes.withUnsafeBytes { raw in
                while o < raw.count {
                    guard o + 8 <= raw.count else {
                        throw CustomerHealthError.input(
                            file: part.path("customers.bin"), message: "is cut short; build part \(part.spec) again")
                    }
                    let c = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                    let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self)))
                    guard o + 8 + length <= raw.count else {
                        throw CustomerHealthError.input(
                            file: part.path("customers.bin"), message: "is cut short; build part \(part.spec) again")
                    }
                    ids.append(
                        (
                            c,
                            String(
                                decoding: UnsafeRawBufferPointer(rebasing: raw[(o + 8)..<(o + 8 + length)]),
                                as: UTF8.self)
                        ))
                    o += 8 + length
                }
            }
        }
        ids.sort { $0.0 < $1.0 }
        return ids
    }

    /// Per joined row: its customer's place among the (sorted) customer numbers.
    private static func rowIDIndex(_ joined: Joined, numbers: [UInt32], folder: String) throws -> [UInt32] {
        let n = joined.labels.count
        var index = [UInt32](repeating: 0, count: n)
        for i in 0..<n {
            let c = joined.customers[i]
            var lo = 0
            var hi = numbers.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if numbers[mid] < c { lo = mid + 1 } else { hi = mid }
            }
            guard lo < numbers.count, numbers[lo] == c else {
                throw CustomerHealthError.input(
                    file: folder,
                    message: "no part's customers.bin names customer number \(c); build the parts again")
            }
            index[i] = UInt32(lo)
        }
        return index
    }

    /// Each joined row's date: date by date, as many rows as the parts hold on it.
    private static func rowDates(_ parts: [Loaded], dates: [CalendarDay], rowCount n: Int) -> [CalendarDay] {
        var d: [CalendarDay] = []
        d.reserveCapacity(n)
        for (t, day) in dates.enumerated() {
            d += repeatElement(day, count: parts.reduce(0) { $0 + $1.rowsPerDate[t] })
        }
        return d
    }
}

/// The training parts of a folder, checked to agree, and what they agreed on.
private struct AgreedTrainingParts {
    var parts: [TrainingParts.Loaded]
    var agreed: [String: Any]

    /// An error about the parts, naming the first one's folder.
    func fail(_ message: String) -> CustomerHealthError { .input(file: parts[0].folder, message: message) }

    func days(_ key: String) throws -> [CalendarDay] {
        guard let list = agreed[key] as? [String] else { throw fail("part.json has no \(key)") }
        return try list.map {
            guard let d = CalendarDay($0) else { throw fail("part.json: \(key) holds \"\($0)\", not a date") }
            return d
        }
    }

    /// The dates the parts were built on, checked against every part's
    /// counts; the parts must own every customer in accounts between them.
    func trainingPlan() throws -> PipelineRunner.TrainingPlan {
        let dates = try days("observation_dates")
        let validationDates = try days("validation_dates")
        guard dates.count >= 2, !validationDates.isEmpty,
            let dataThrough = (agreed["data_through"] as? String).flatMap(CalendarDay.init)
        else {
            throw fail("part.json holds no usable observation dates")
        }
        let through = (agreed["through"] as? String).flatMap(CalendarDay.init)
        let plan = PipelineRunner.TrainingPlan(
            dates: dates, validationDates: validationDates, dataThrough: dataThrough,
            upTo: through.map { " up to \($0)" } ?? "")
        let owned = parts.reduce(0) { $0 + $1.customersOwned }
        if let all = agreed["customers_in_accounts"] as? Int, owned != all {
            throw fail(
                "the parts own \(owned) customers in all, and accounts hold \(all): the parts did not split the same customers; build them again into an empty folder; nothing was written"
            )
        }
        for part in parts where part.rowsPerDate.count != dates.count {
            throw CustomerHealthError.input(
                file: part.folder,
                message:
                    "part.json counts rows for \(part.rowsPerDate.count) dates, not \(dates.count); build the part again"
            )
        }
        return plan
    }

    /// The event-derived candidate inputs the parts hold columns for.
    func candidates() throws -> [ModelInput] {
        let candidateNames = agreed["event_input_candidates"] as? [String] ?? []
        return try candidateNames.map { name -> ModelInput in
            guard let input = ChurnFeatures.input(named: name) else {
                throw fail("part.json lists the input \(name), which this customer-health cannot compute")
            }
            return input
        }
    }
}

/// A row of a part's screening sample: its key, its row in the joined
/// table, its part, and its place in that part's sample.
private struct ScreeningEntry {
    var key: (UInt64, Int32, Int)
    var row: Int
    var part: Int
    var k: Int
}

// MARK: - Files

/// A binary file written and read with plain system calls (little-endian numbers).
final class BinaryFile {
    private let fd: Int32
    let path: String
    private var open = true

    init(creating path: String) throws {
        self.path = path
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(path: path, message: "cannot create: \(IOFailure.describe(errno))")
        }
    }

    init(reading path: String) throws {
        self.path = path
        fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: \(IOFailure.describe(errno))")
        }
    }

    deinit { if open { Glibc.close(fd) } }

    func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) } }

    func append(_ values: [UInt32]) throws {
        try values.map { $0.littleEndian }.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    func append(_ values: [Double]) throws {
        try values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CustomerHealthError.output(path: path, message: "write failed: \(IOFailure.describe(errno))")
            }
            done += n
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CustomerHealthError.input(file: path, message: "is cut short or cannot be read") }
            done += n
        }
    }

    /// fsyncs and closes.
    func close() throws {
        guard open else { return }
        open = false
        guard fsync(fd) == 0 else {
            let reason = IOFailure.describe(errno)
            Glibc.close(fd)
            throw CustomerHealthError.output(path: path, message: "fsync failed: \(reason)")
        }
        Glibc.close(fd)
    }

    func closeQuietly() {
        if open {
            open = false
            Glibc.close(fd)
        }
    }

    static func contents(of path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read")
        }
        return data
    }
}

extension AtomicFile {
    /// Writes a whole file in place (inside a folder that is itself renamed into place).
    static func writeContents(_ text: String, to path: String) throws {
        let file = try BinaryFile(creating: path)
        try file.append(Array(text.utf8))
        try file.close()
    }
}
