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

    /// Recomputes scores, at-risk lists and KPIs from features.jsonl with the
    /// pipeline's current weights, and publishes them as that day's run.
    public func rescore(featuresPath: String) throws -> RunSummary {
        let started = ContinuousClock.now
        let startedAt = Date()
        let raw = try FeaturesFile.contents(path: featuresPath)
        let day = try FeaturesFile.asOf(raw, path: featuresPath)
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }
        let (model, modelManifest) = try ChurnModelChooser(runner: self, data: nil).model(asOf: day)
        let inputNames = model?.ensemble.featureNames ?? []
        let (asOf, snaps) = try FeaturesFile.read(raw, path: featuresPath, inputNames: inputNames, threads: threads)
        if model != nil, let missing = snaps.first(where: { $0.active && $0.modelInputs == nil }) {
            throw CustomerHealthError.input(
                file: featuresPath,
                message:
                    "\(missing.account.customerID) has no model_inputs with every input the churn model reads (\(inputNames.count)): these features were written without a churn model, with another one, or by another version. Run  customer-health run \(config.file) --as-of \(asOf)  instead"
            )
        }
        let (sources, definition) = try FeaturesFile.runFacts(featuresPath: featuresPath)
        if definition != config.churnDefinition.summary {
            throw CustomerHealthError.input(
                file: featuresPath,
                message:
                    "these features were computed under the churn definition \"\(definition)\", and the pipeline now says \"\(config.churnDefinition.summary)\": who is active depends on it, so run  customer-health run \(config.file) --as-of \(asOf)  instead"
            )
        }
        let parts = ScoreApplicability(sources: sources, settings: config.scoring.parts)
        let scoring = config.scoring.resolvingTargets(from: snaps)
        let scores = PortfolioScorer.score(
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
