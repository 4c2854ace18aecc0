import Crypto
import Foundation

/// What `validate` found.
public struct ValidationSummary: Sendable {
    public var files: [FileReport]
    public var rejectsPath: String
    public var ratio: Double
    public var limit: Double
    public var passed: Bool
    /// What ingest holds in memory, largest store first.
    public var memory: [MemoryShare]
    /// The customers in the accounts export.
    public var customers: Int
}

extension PipelineRunner {
    /// Reads and checks every input and writes only the rejects report.
    public func validate() throws -> ValidationSummary {
        let data = try ingest()
        if options.keepDataUntilExit { ProcessLifetime.keep(data) }
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        let path = try publisher.writeStandalone(
            name: "validate-rejects.jsonl", data: Data(OutputRenderers.rejectsJSONL(data.files).utf8))
        let ratio = data.rowsRead > 0 ? Double(data.rowsRejected) / Double(data.rowsRead) : 0
        return ValidationSummary(
            files: data.files, rejectsPath: path, ratio: ratio, limit: config.maxRejectRatio,
            passed: ratio <= config.maxRejectRatio, memory: data.memoryFootprint(),
            customers: data.accounts.count)
    }

    /// One line of features.jsonl, as JSONDecoder reads it (its number parsing
    /// round-trips doubles exactly, which rescoring needs).
    private struct FeatureLine: Decodable {
        struct Account: Decodable {
            var name: String
            var plan: String
            var mrr: Double?
            var subscription_start: String
            var churned_at: String?
            var subscription_end: String?
            var seats: Int?
            var features_available: Int?
            var training_modules: Int?
            var acquisition_cost: Double?
            var nps: Int?
        }
        var customer_id: String
        var as_of: String
        var active: Bool
        var account: Account
        var churn_spells: [[String?]]?
        var features: [String: Double?]?
        var previous_features: [String: Double?]?
        var model_inputs: [String: Double?]?
    }

    /// The as-of day of a features file (its first line's).
    static func featuresAsOf(path: String) throws -> CalendarDay {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: no such file, or no permission")
        }
        struct First: Decodable { var as_of: String }
        let line = data.split(separator: 0x0A).first ?? Data()
        guard let first = try? JSONDecoder().decode(First.self, from: Data(line)), let day = CalendarDay(first.as_of)
        else {
            throw CustomerHealthError.features(
                file: path, line: 1, message: "not a features line written by customer-health run")
        }
        return day
    }

    /// Reads features.jsonl back into snapshots; with `inputNames` (a churn
    /// model's), each active snapshot's model inputs in that order, or none
    /// when its line lacks one of them. Lines are decoded on `threads` threads.
    public static func readFeatures(path: String, inputNames: [String] = ChurnFeatures.names, threads: Int = 1) throws
        -> (CalendarDay, [CustomerSnapshot], Data)
    {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: no such file, or no permission")
        }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        let decoded: [Result<(CalendarDay, CustomerSnapshot)?, CustomerHealthError>] = ParallelMap.map(
            count: lines.count, threads: threads
        ) { i in
            if lines[i].isEmpty { return .success(nil) }
            do {
                return .success(
                    try decodeFeatureLine(Data(lines[i]), number: i + 1, path: path, inputNames: inputNames))
            } catch let error as CustomerHealthError {
                return .failure(error)
            } catch {
                return .failure(.features(file: path, line: i + 1, message: "\(error)"))
            }
        }
        var snapshots: [CustomerSnapshot] = []
        snapshots.reserveCapacity(lines.count)
        var asOf: CalendarDay? = nil
        for (i, result) in decoded.enumerated() {
            guard let (day, snap) = try result.get() else { continue }
            if let asOf, asOf != day {
                throw CustomerHealthError.features(
                    file: path, line: i + 1, message: "as_of \(day) differs from the first line's \(asOf)")
            }
            asOf = day
            snapshots.append(snap)
        }
        guard let asOf else { throw CustomerHealthError.features(file: path, line: 0, message: "has no customers") }
        return (asOf, snapshots, data)
    }

    /// One line of features.jsonl as a snapshot, and its as-of day.
    private static func decodeFeatureLine(_ line: Data, number lineNumber: Int, path: String, inputNames: [String])
        throws
        -> (CalendarDay, CustomerSnapshot)
    {
        func fail(_ m: String) -> CustomerHealthError { .features(file: path, line: lineNumber, message: m) }
        let record: FeatureLine
        do {
            record = try JSONDecoder().decode(FeatureLine.self, from: line)
        } catch {
            throw fail("not a features line written by customer-health run: \(error)")
        }
        guard let day = CalendarDay(record.as_of) else { throw fail("as_of \"\(record.as_of)\" is not a date") }
        let a = record.account
        guard let start = CalendarDay(a.subscription_start) else { throw fail("subscription_start is not a date") }
        let account = AccountRecord(
            customerID: record.customer_id, name: a.name, plan: a.plan, mrr: a.mrr, subscriptionStart: start,
            churnedAt: a.churned_at.flatMap(CalendarDay.init),
            subscriptionEnd: a.subscription_end.flatMap(CalendarDay.init),
            seats: a.seats, featuresAvailable: a.features_available,
            trainingModules: a.training_modules, acquisitionCost: a.acquisition_cost, nps: a.nps)
        var spells: [CustomerLifecycle.Spell] = []
        for pair in record.churn_spells ?? [] {
            guard pair.count == 2, let from = pair[0].flatMap(CalendarDay.init) else {
                throw fail("churn_spells holds a spell that is not [from, until or null]")
            }
            let until = try pair[1].map { text -> CalendarDay in
                guard let d = CalendarDay(text) else {
                    throw fail("churn_spells holds \"\(text)\", which is not a date")
                }
                return d
            }
            spells.append(.init(from: from, until: until))
        }
        if record.churn_spells == nil, let churned = account.churnedAt {
            // Written before churn spells were: the churned_at definition was the only one.
            spells = [.init(from: churned, until: nil)]
        }
        let lifecycle = CustomerLifecycle(start: start, spells: spells)
        // Model inputs by name; a line without all of them has none.
        let inputs = record.model_inputs.flatMap { m in
            inputNames.allSatisfy { m[$0] != nil } ? inputNames.map { (m[$0] ?? nil) ?? .nan } : nil
        }
        func vector(_ values: [String: Double?]?) throws -> FeatureVector? {
            guard let values else { return nil }
            do throws(FeatureField.Missing) { return try FeatureVector(values: values) } catch {
                throw fail("\(error.name) is missing or not a number of its kind")
            }
        }
        let snap = CustomerSnapshot(
            account: account, lifecycle: lifecycle, active: record.active, features: try vector(record.features),
            previous: try vector(record.previous_features), modelInputs: inputs)
        if snap.active && (snap.features == nil || snap.previous == nil) {
            throw fail("an active customer without features")
        }
        return (day, snap)
    }

    /// What the run that wrote a features file knew beyond the features: the
    /// data sources as of its day (which score parts can apply) and its churn
    /// definition, from the manifest.json beside it.
    static func runFacts(featuresPath: String) throws -> (DataSources, String) {
        let path = ((featuresPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "manifest.json")
        guard let data = FileManager.default.contents(atPath: path),
            let manifest = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let sources = DataSources(json: manifest["data_sources"]),
            let definition = manifest["churn_definition"] as? String
        else {
            throw CustomerHealthError.input(
                file: path,
                message:
                    "rescore reads the data sources and churn definition of the run from the manifest.json beside the features file, and this one is missing or was written by an older customer-health; run the day again with  customer-health run PIPELINE --as-of DATE"
            )
        }
        return (sources, definition)
    }

    /// Recomputes scores, at-risk lists and KPIs from features.jsonl with the
    /// pipeline's current weights, and publishes them as that day's run.
    public func rescore(featuresPath: String) throws -> RunSummary {
        let started = ContinuousClock.now
        let startedAt = Date()
        let day = try PipelineRunner.featuresAsOf(path: featuresPath)
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }
        let (model, modelManifest) = try ChurnModelChooser(runner: self, data: nil).model(asOf: day)
        let inputNames = model?.ensemble.featureNames ?? []
        let (asOf, snaps, raw) = try PipelineRunner.readFeatures(
            path: featuresPath, inputNames: inputNames, threads: threads)
        if model != nil, let missing = snaps.first(where: { $0.active && $0.modelInputs == nil }) {
            throw CustomerHealthError.input(
                file: featuresPath,
                message:
                    "\(missing.account.customerID) has no model_inputs with every input the churn model reads (\(inputNames.count)): these features were written without a churn model, with another one, or by another version. Run  customer-health run \(config.file) --as-of \(asOf)  instead"
            )
        }
        let (sources, definition) = try PipelineRunner.runFacts(featuresPath: featuresPath)
        if definition != config.churnDefinition.summary {
            throw CustomerHealthError.input(
                file: featuresPath,
                message:
                    "these features were computed under the churn definition \"\(definition)\", and the pipeline now says \"\(config.churnDefinition.summary)\": who is active depends on it, so run  customer-health run \(config.file) --as-of \(asOf)  instead"
            )
        }
        let parts = ScoreApplicability(sources: sources, settings: config.scoring.parts)
        let scoring = config.scoring.resolvingTargets(from: snaps)
        let scores = PipelineRunner.score(
            snaps, asOf: asOf, settings: scoring, threads: threads,
            applicability: parts, model: model?.ensemble, reasonCodes: config.churn.reasonCodes)
        var files = render(snapshots: snaps, scores: scores, asOf: asOf, parts: parts, inputNames: inputNames)
        // Keep the folder complete: the rejects of the run that wrote these features.
        let rejectsPath = ((featuresPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "rejects.jsonl")
        files.append(("rejects.jsonl", .bytes(FileManager.default.contents(atPath: rejectsPath) ?? Data())))
        let atRisk = OutputRenderers.atRiskCount(scores, priorities: config.scoring.atRiskPriorities)
        let seconds = Elapsed.seconds(since: started)
        let source: JSONValue = .object([
            ("features_file", .string((featuresPath as NSString).lastPathComponent)),
            ("size", .int(raw.count)),
            ("sha256", .string(Digest.sha256Hex(raw))),
        ])
        let manifest = manifestJSON(
            asOf: asOf, startedAt: startedAt, inputs: .array([]), facts: nil, scores: scores, atRisk: atRisk,
            timings: [("total", seconds)],
            extra: [("rescored_from", source)]
                + scoringManifest(
                    sources: sources, parts: parts, scoring: scoring, asOf: asOf, coverage: parts.coverage(of: snaps))
                + modelManifest)
        files.append(("manifest.json", .bytes(Data((manifest.serialized(pretty: true) + "\n").utf8))))
        files.append(
            (
                "metrics.prom",
                .bytes(Data(metrics(asOf: asOf, facts: nil, scores: scores, atRisk: atRisk, seconds: seconds).utf8))
            ))
        files.sort { $0.0 < $1.0 }
        let report = reportOutput(outputDirectory: publisher.outputDirectory)
        if let report { files.append(report) }
        let path = try publisher.publish(name: asOf.description, files: files)
        return RunSummary(
            outputPath: path, asOf: asOf, customersScored: scores.count, atRisk: atRisk, rowsRead: 0,
            rowsRejected: 0, rowsUnknownCustomer: 0, files: 1, seconds: seconds,
            reportPath: report.map { (path as NSString).appendingPathComponent($0.0) })
    }
}
