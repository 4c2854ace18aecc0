import Crypto
import Foundation

/// What `validate` found.
public struct ValidationSummary: Sendable {
    public var files: [FileReport]
    public var rejectsPath: String
    public var ratio: Double
    public var limit: Double
    public var passed: Bool
}

extension PipelineRunner {
    /// Reads and checks every input and writes only the rejects report.
    public func validate() throws -> ValidationSummary {
        let data = try ingest()
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        let path = try publisher.writeStandalone(name: "validate-rejects.jsonl", data: Data(OutputRenderers.rejectsJSONL(data.files).utf8))
        let ratio = data.rowsRead > 0 ? Double(data.rowsRejected) / Double(data.rowsRead) : 0
        return ValidationSummary(files: data.files, rejectsPath: path, ratio: ratio, limit: config.maxRejectRatio,
            passed: ratio <= config.maxRejectRatio)
    }

    /// Reads features.jsonl back into snapshots.
    public static func readFeatures(path: String) throws -> (CalendarDay, [CustomerSnapshot], Data) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: no such file, or no permission")
        }
        var snapshots: [CustomerSnapshot] = []
        var asOf: CalendarDay? = nil
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            func fail(_ m: String) -> CustomerHealthError { .features(file: path, line: lineNumber, message: m) }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw fail("not a JSON object; is this a features.jsonl written by customer-health run?")
            }
            guard let id = object["customer_id"] as? String, let dayText = object["as_of"] as? String, let day = CalendarDay(dayText),
                let active = object["active"] as? Bool, let a = object["account"] as? [String: Any]
            else { throw fail("missing customer_id, as_of, active or account") }
            if let asOf, asOf != day { throw fail("as_of \(day) differs from the first line's \(asOf)") }
            asOf = day
            guard let plan = a["plan"] as? String, let mrr = (a["mrr"] as? NSNumber)?.doubleValue,
                let startText = a["subscription_start"] as? String, let start = CalendarDay(startText),
                let seats = (a["seats"] as? NSNumber)?.intValue, let fa = (a["features_available"] as? NSNumber)?.intValue,
                let tm = (a["training_modules"] as? NSNumber)?.intValue
            else { throw fail("the account object lacks plan, mrr, subscription_start, seats, features_available or training_modules") }
            let account = AccountRecord(
                customerID: id, name: a["name"] as? String ?? "", plan: plan, mrr: mrr, subscriptionStart: start,
                churnedAt: (a["churned_at"] as? String).flatMap(CalendarDay.init), seats: seats, featuresAvailable: fa,
                trainingModules: tm, acquisitionCost: (a["acquisition_cost"] as? NSNumber)?.doubleValue,
                nps: (a["nps"] as? NSNumber)?.intValue)
            var snap = CustomerSnapshot(account: account, active: active, features: nil, previous: nil)
            do {
                if let f = object["features"] as? [String: Any] { snap.features = try FeatureVector.from(f) }
                if let p = object["previous_features"] as? [String: Any] { snap.previous = try FeatureVector.from(p) }
            } catch {
                throw fail(error.message)
            }
            if active && (snap.features == nil || snap.previous == nil) { throw fail("an active customer without features") }
            snapshots.append(snap)
        }
        guard let asOf else { throw CustomerHealthError.features(file: path, line: 0, message: "has no customers") }
        return (asOf, snapshots, data)
    }

    /// Recomputes scores, at-risk lists and KPIs from features.jsonl with the
    /// pipeline's current weights, and publishes them as that day's run.
    public func rescore(featuresPath: String) throws -> RunSummary {
        let started = ContinuousClock.now
        let startedAt = Date()
        let (asOf, snaps, raw) = try PipelineRunner.readFeatures(path: featuresPath)
        let publisher = RunPublisher(outputDirectory: outputDirectory)
        try publisher.lock(waitSeconds: options.lockWaitSeconds ?? config.lockWaitSeconds)
        defer { publisher.unlock() }
        let scores = PipelineRunner.score(snaps, asOf: asOf, settings: config.scoring, threads: threads)
        var files = render(snapshots: snaps, scores: scores, asOf: asOf)
        // Keep the folder complete: the rejects of the run that wrote these features.
        let rejectsPath = ((featuresPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("rejects.jsonl")
        files.append(("rejects.jsonl", FileManager.default.contents(atPath: rejectsPath) ?? Data()))
        let atRisk = OutputRenderers.atRiskOrder(scores, priorities: config.scoring.atRiskPriorities).count
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
        let source: JSONValue = .object([
            ("features_file", .string((featuresPath as NSString).lastPathComponent)),
            ("size", .int(raw.count)),
            ("sha256", .string(SHA256.hash(data: raw).map { String(format: "%02x", $0) }.joined())),
        ])
        let manifest = manifestJSON(asOf: asOf, startedAt: startedAt, inputs: .array([]), data: nil, scores: scores, atRisk: atRisk,
            timings: [("total", seconds)], extra: [("rescored_from", source)])
        files.append(("manifest.json", Data((manifest.serialized(pretty: true) + "\n").utf8)))
        files.append(("metrics.prom", Data(metrics(asOf: asOf, data: nil, scores: scores, atRisk: atRisk, seconds: seconds).utf8)))
        files.sort { $0.0 < $1.0 }
        let path = try publisher.publish(name: asOf.description, files: files)
        return RunSummary(outputPath: path, asOf: asOf, customersScored: scores.count, atRisk: atRisk, rowsRead: 0,
            rowsRejected: 0, rowsUnknownCustomer: 0, files: 1, seconds: seconds)
    }
}
