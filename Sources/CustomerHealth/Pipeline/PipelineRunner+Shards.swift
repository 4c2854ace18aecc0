import Foundation

/// What one shard of a sharded run did, for the summary the CLI prints.
public struct ShardRunSummary: Sendable {
    public var resultPath: String
    public var shard: ShardSpec
    public var asOf: CalendarDay
    public var customers: Int
    public var rowsRead: Int
    public var rowsRejected: Int
    public var seconds: Double
}

/// Sharded runs (docs/scale-out.md): N shards, each scoring its own
/// customers, and a merge that publishes exactly what one `run` would.
///
/// Every shard reads every row. Rows of other shards' customers still pass
/// through the row handlers, so that what spans all customers comes out the
/// same in every shard and equal to one machine's: the newest and oldest
/// activity day (the default as-of day, the start of history), the first day
/// of each data source, every ticket's versions (a ticket may move between
/// customers), the event names met. Only a shard's own rows are counted,
/// rejected and added to customers' totals; rows without a readable
/// customer are shard 0's. The merge checks that the shards agree on the
/// first kind of thing, adds up the second, and scores the union of the
/// shards' snapshots: scores depend on targets taken from the whole
/// portfolio (ScoringSettings.resolvingTargets), which no shard can know.
extension PipelineRunner {
    /// Runs shard `spec`: reads the exports, computes its customers'
    /// snapshots as of the day, and writes DIR/shard-K-of-N/.
    public func runShard(_ spec: ShardSpec, resultsDirectory: String) throws -> ShardRunSummary {
        let started = ContinuousClock.now
        let data = try ingest(shard: spec)
        let asOf = try asOfDay(for: data)
        logger.info("shard \(spec): read \(data.files.count) files; scoring its customers as of \(asOf)")
        // Shards never train: a model trained on one shard's customers would
        // differ between shards. `data: nil` lets the chooser only read models.
        let (model, modelManifest) = try ChurnModelChooser(runner: self, data: nil).model(asOf: asOf)
        let owned = data.accounts.indices.filter { spec.owns(customerID: data.accounts[$0].customerID) }
        let inputNames = model?.ensemble.featureNames
        let snaps = snapshots(data, asOf: asOf, only: owned, modelInputs: inputNames)
        let facts = data.facts
        let header = shardHeader(
            spec: spec, asOf: asOf, data: data, facts: facts, modelManifest: modelManifest, owned: owned.count,
            snapshots: snaps.count)
        let reports = facts.files
        let path = try ShardResult.write(
            directory: resultsDirectory, spec: spec, header: header,
            files: [
                ("snapshots.bin", .stream { try SnapshotCodec.write(snaps, to: $0) }),
                ("rejects.jsonl", .stream { try OutputRenderers.writeRejects(reports, to: $0) }),
            ])
        return ShardRunSummary(
            resultPath: path, shard: spec, asOf: asOf, customers: snaps.filter(\.active).count,
            rowsRead: facts.rowsRead,
            rowsRejected: facts.rowsRejected + facts.rowsUnknownCustomer,
            seconds: Elapsed.seconds(since: started))
    }

    /// shard.json: `agreed` must be equal in every shard; `counts` add up.
    private func shardHeader(
        spec: ShardSpec, asOf: CalendarDay, data: IngestResult, facts: IngestFacts,
        modelManifest: [(String, JSONValue)],
        owned: Int, snapshots: Int
    ) -> JSONValue {
        let fileCounts: [JSONValue] = facts.files.map { f in
            .object([
                ("file", .string(f.name)), ("rows_read", .int(f.rowsRead)), ("rows_accepted", .int(f.rowsAccepted)),
                ("rows_rejected", .int(f.rowsRejected)), ("rows_unknown_customer", .int(f.rowsUnknownCustomer)),
            ])
        }
        func named(_ list: [(name: String, events: Int)]) -> JSONValue {
            .object(list.map { ($0.name, .int($0.events)) })
        }
        let model = modelManifest.first { $0.0 == "churn_model" }?.1 ?? .null
        return .object([
            ("format", .string(ShardResult.format)),
            ("shard", spec.json),
            (
                "agreed",
                .object([
                    ("tool_version", .string(ToolVersion.current)),
                    ("pipeline_sha256", .string(config.sha256)),
                    ("as_of", .string(asOf.description)),
                    (
                        "first_activity_day",
                        .optionalString(data.earliestActivityDay.map { CalendarDay(number: Int32($0)).description })
                    ),
                    ("last_activity_day", .optionalString(data.latestActivityDay?.description)),
                    ("churn_definition", .string(config.churnDefinition.summary)),
                    ("churn_model", model),
                    ("data_sources", data.sources(asOf: asOf).json()),
                    ("customers_in_accounts", .int(data.accounts.count)),
                    ("inputs", .array(facts.files.map(\.identityJSON))),
                ])
            ),
            (
                "counts",
                .object([
                    ("customers", .int(owned)),
                    ("snapshots", .int(snapshots)),
                    (
                        "events",
                        .object(EventKind.allCases.map { ($0.name, .int(facts.eventCounts[Int($0.rawValue)])) })
                    ),
                    ("product_events", named(facts.productEvents)),
                    ("named_feature_events", named(facts.namedFeatureEvents)),
                    ("ignored_events", .int(facts.ignoredEvents)),
                    ("files", .array(fileCounts)),
                ])
            ),
        ])
    }

    /// Merges the results of all shards in `shardsDirectory` and publishes
    /// OUTPUT/<as-of>/ through the same lock and publisher as `run`. Nothing
    /// is published unless every shard is present, complete and agrees.
    public func merge(shardsDirectory: String, shardCount: Int? = nil) throws -> RunSummary {
        let started = ContinuousClock.now
        let startedAt = Date()
        let merged = try loadAgreeingShards(shardsDirectory: shardsDirectory, shardCount: shardCount)
        let shards = merged.shards
        let asOf = merged.asOf

        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }

        let (model, modelManifest) = try modelTheShardsUsed(merged)
        let facts = try PipelineRunner.mergedFacts(shards, inputs: merged.agreed["inputs"])
        let snaps = try mergedSnapshots(merged, inputCount: model?.ensemble.featureNames.count)
        let readSeconds = Elapsed.seconds(since: started)
        logger.info(
            "merged \(shards.count) shard results: \(snaps.count) customers, \(facts.rowsRead) rows read; scoring as of \(asOf)"
        )

        try checkRejects(facts, asOf: asOf, publisher: publisher)
        warnAboutActivityEvents(facts)
        return try publish(
            snapshots: snaps, facts: facts, sources: merged.sources, asOf: asOf, model: model,
            modelManifest: modelManifest, publisher: publisher, started: started, startedAt: startedAt,
            timings: [("read_shards", readSeconds)], extraManifest: [("shards", PipelineRunner.shardsManifest(shards))])
    }

    /// Loads every shard's result and checks that they agree with each
    /// other and with this pipeline, tool version and --as-of.
    private func loadAgreeingShards(shardsDirectory: String, shardCount: Int?) throws -> MergedShards {
        let shards = try ShardResult.loadAll(directory: shardsDirectory, count: shardCount)
        let first = shards[0]
        let keys = [
            "tool_version", "pipeline_sha256", "as_of", "first_activity_day", "last_activity_day", "churn_definition",
            "churn_model",
            "data_sources", "customers_in_accounts", "inputs",
        ]
        try PipelineRunner.requireAgreement(
            shards.map { ($0.folder, $0.spec.description, $0.agreed) }, on: keys, noun: "shard",
            hint: PipelineRunner.disagreementHint, outcome: "nothing was published")
        let agreed = first.agreed
        func fail(_ message: String) -> CustomerHealthError { .input(file: first.folder, message: message) }
        guard agreed["pipeline_sha256"] as? String == config.sha256 else {
            throw fail(
                "the shards ran with another version of \(config.file) (pipeline_sha256 \(PipelineRunner.shown(agreed["pipeline_sha256"]))): merge with the pipeline file the shards used, or run the shards again"
            )
        }
        guard agreed["tool_version"] as? String == ToolVersion.current else {
            throw fail(
                "the shards ran customer-health \(PipelineRunner.shown(agreed["tool_version"])), this is \(ToolVersion.current): run the shards and the merge with one version"
            )
        }
        guard let asOfText = agreed["as_of"] as? String, let asOf = CalendarDay(asOfText) else {
            throw fail("shard.json has no as_of")
        }
        if let pinned = options.asOf, pinned != asOf {
            throw fail(
                "the shards scored as of \(asOf), and --as-of says \(pinned): run the shards with --as-of \(pinned), or merge without --as-of"
            )
        }
        guard let sources = DataSources(json: agreed["data_sources"]) else {
            throw fail("shard.json has no data_sources")
        }
        guard agreed["churn_definition"] as? String == config.churnDefinition.summary else {
            throw fail(
                "the shards used another churn definition (\(PipelineRunner.shown(agreed["churn_definition"]))); run them again with this pipeline file"
            )
        }
        return MergedShards(shards: shards, agreed: agreed, asOf: asOf, sources: sources)
    }

    /// The pipeline's churn model now, which must be the one the shards scored with.
    private func modelTheShardsUsed(_ merged: MergedShards) throws -> (ChurnModelFile?, [(String, JSONValue)]) {
        let agreed = merged.agreed
        let (model, modelManifest) = try ChurnModelChooser(runner: self, data: nil).model(asOf: merged.asOf)
        let mergeModel = modelManifest.first { $0.0 == "churn_model" }?.1 ?? .null
        guard
            PipelineRunner.same(
                agreed["churn_model"],
                try? JSONSerialization.jsonObject(
                    with: Data(mergeModel.serialized(pretty: false).utf8), options: [.fragmentsAllowed]))
        else {
            throw merged.fail(
                "the shards scored with the churn model \(PipelineRunner.shown(agreed["churn_model"])), and the pipeline's model is now \(mergeModel.serialized(pretty: false)): run the shards again with the current model"
            )
        }
        return (model, modelManifest)
    }

    /// Customers: each shard's, in customer_id order as one run lists them;
    /// each customer in one shard only, and every customer in accounts in one.
    private func mergedSnapshots(_ merged: MergedShards, inputCount: Int?) throws -> [CustomerSnapshot] {
        let shards = merged.shards
        var snaps: [CustomerSnapshot] = []
        for shard in shards {
            let part = try SnapshotCodec.read(path: shard.snapshotsPath)
            guard part.count == shard.snapshotCount else {
                throw CustomerHealthError.input(
                    file: shard.snapshotsPath,
                    message: "holds \(part.count) customers, shard.json says \(shard.snapshotCount)")
            }
            if let inputCount, let wrong = part.first(where: { $0.active && $0.modelInputs?.count != inputCount }) {
                throw CustomerHealthError.input(
                    file: shard.snapshotsPath,
                    message:
                        "\(wrong.account.customerID) has no model inputs for the churn model (\(inputCount)): the shard scored without it; run the shards again"
                )
            }
            snaps += part
        }
        snaps.sort { $0.account.customerID.utf8.lexicographicallyPrecedes($1.account.customerID.utf8) }
        for i in snaps.indices.dropFirst() where snaps[i].account.customerID == snaps[i - 1].account.customerID {
            throw merged.fail(
                "customer \(snaps[i].account.customerID) is in two shards' results: they were made with different shard counts or hashes; run the shards again into an empty folder"
            )
        }
        let owned = shards.reduce(0) { $0 + ($1.counts["customers"] as? Int ?? 0) }
        if let all = merged.agreed["customers_in_accounts"] as? Int, owned != all {
            throw merged.fail(
                "the shards own \(owned) customers in all, and accounts hold \(all): the shards did not split the same customers; run them again into an empty folder"
            )
        }
        return snaps
    }

    /// The run manifest's `shards`: how many, and each one's customers and rows read.
    private static func shardsManifest(_ shards: [ShardResult.Loaded]) -> JSONValue {
        let shardMembers: [JSONValue] = shards.map { s in
            .object([
                ("shard", .string(s.spec.description)),
                ("customers", .int(s.counts["customers"] as? Int ?? 0)),
                (
                    "rows_read",
                    .int(
                        ((s.counts["files"] as? [[String: Any]]) ?? []).reduce(0) {
                            $0 + ($1["rows_read"] as? Int ?? 0)
                        })
                ),
            ])
        }
        return .object([("count", .int(shards.count)), ("results", .array(shardMembers))])
    }

    /// The shards' counts added up into one run's facts, the files in the
    /// agreed order, each file's rejects gathered from the shards that own them.
    static func mergedFacts(_ shards: [ShardResult.Loaded], inputs: Any?) throws -> IngestFacts {
        guard let inputs = inputs as? [[String: Any]] else {
            throw CustomerHealthError.input(file: shards[0].folder, message: "shard.json has no inputs")
        }
        var files: [FileReport] = inputs.map { i in
            var r = FileReport(
                export: ExportKind(rawValue: i["export"] as? String ?? "") ?? .activity,
                path: i["file"] as? String ?? "",
                name: i["file"] as? String ?? "", size: i["size"] as? Int ?? 0, sha256: i["sha256"] as? String ?? "")
            r.skipped = i["skipped"] as? String
            return r
        }
        let index = Dictionary(files.indices.map { (files[$0].name, $0) }, uniquingKeysWith: { a, _ in a })
        var eventCounts = [Int](repeating: 0, count: EventKind.allCases.count)
        var products: [String: Int] = [:]
        var namedFeatures: [String: Int] = [:]
        var ignored = 0
        for shard in shards {
            let counts = shard.counts
            for entry in counts["files"] as? [[String: Any]] ?? [] {
                guard let name = entry["file"] as? String, let i = index[name] else {
                    throw CustomerHealthError.input(
                        file: shard.folder, message: "shard.json counts a file that is not among the inputs")
                }
                files[i].rowsRead += entry["rows_read"] as? Int ?? 0
                files[i].rowsAccepted += entry["rows_accepted"] as? Int ?? 0
                files[i].rowsRejected += entry["rows_rejected"] as? Int ?? 0
                files[i].rowsUnknownCustomer += entry["rows_unknown_customer"] as? Int ?? 0
            }
            let events = counts["events"] as? [String: Any] ?? [:]
            for kind in EventKind.allCases { eventCounts[Int(kind.rawValue)] += events[kind.name] as? Int ?? 0 }
            for (name, n) in counts["product_events"] as? [String: Any] ?? [:] {
                products[name, default: 0] += n as? Int ?? 0
            }
            for (name, n) in counts["named_feature_events"] as? [String: Any] ?? [:] {
                namedFeatures[name, default: 0] += n as? Int ?? 0
            }
            ignored += counts["ignored_events"] as? Int ?? 0
            for r in shard.rejects {
                guard let i = index[r.file] else {
                    throw CustomerHealthError.input(
                        file: shard.folder, message: "rejects.jsonl names \(r.file), which is not among the inputs")
                }
                files[i].rejects.append(r)
            }
        }
        func sorted(_ d: [String: Int]) -> [(name: String, events: Int)] {
            d.map { (name: $0.key, events: $0.value) }.filter { $0.events > 0 }.sorted {
                $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
            }
        }
        return IngestFacts(
            files: files, eventCounts: eventCounts, productEvents: sorted(products),
            namedFeatureEvents: sorted(namedFeatures),
            ignoredEvents: ignored)
    }

    /// Deep equality of parsed JSON values.
    /// Every result (a shard's, a training part's) agrees with the first on
    /// `keys`; the first that does not is an error naming it, the key, both
    /// values and what to do.
    static func requireAgreement(
        _ results: [(folder: String, name: String, agreed: [String: Any])], on keys: [String], noun: String,
        hint: (String) -> String, outcome: String
    ) throws {
        guard let first = results.first else { return }
        for result in results.dropFirst() {
            for key in keys where !same(first.agreed[key], result.agreed[key]) {
                throw CustomerHealthError.input(
                    file: result.folder,
                    message:
                        "disagrees with \(noun) \(first.name) on \(key) (\(shown(result.agreed[key])) vs \(shown(first.agreed[key]))): "
                        + hint(key) + "; \(outcome)")
            }
        }
    }

    static func same(_ a: Any?, _ b: Any?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (is NSNull, is NSNull): return true
        case (let x as [String: Any], let y as [String: Any]):
            return x.count == y.count && x.allSatisfy { same($0.value, y[$0.key]) }
        case (let x as [Any], let y as [Any]):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (let x as String, let y as String): return x == y
        case (let x as NSNumber, let y as NSNumber): return x == y
        default: return false
        }
    }

    static func shown(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "none" }
        if let s = value as? String { return "\"\(s)\"" }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            let text = String(decoding: data, as: UTF8.self)
            return text.count > 300 ? String(text.prefix(300)) + "..." : text
        }
        return "\(value)"
    }

    static func disagreementHint(_ key: String) -> String {
        switch key {
        case "as_of":
            return
                "pass the same --as-of to every shard (the default, the newest activity day, moves while exports arrive)"
        case "inputs", "first_activity_day", "last_activity_day", "data_sources", "customers_in_accounts":
            return
                "the shards read different exports (files added or changed between them); run every shard again on the same files"
        case "pipeline_sha256", "churn_definition":
            return "the shards ran with different pipeline files; run them again with one"
        case "churn_model": return "the shards scored with different churn models; run them again after training"
        default: return "run every shard again with one version of customer-health"
        }
    }
}

/// The shards' results, checked to agree, and what they agreed on.
private struct MergedShards {
    var shards: [ShardResult.Loaded]
    var agreed: [String: Any]
    var asOf: CalendarDay
    var sources: DataSources

    /// An error about the shards, naming the first one's folder.
    func fail(_ message: String) -> CustomerHealthError { .input(file: shards[0].folder, message: message) }
}
