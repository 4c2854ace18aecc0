import Foundation

/// features.jsonl read back: what `rescore` and `backtest` start from. The
/// writer is `OutputRenderers.featuresJSONL`; this is its reader, beside it
/// in the output stage.
public enum FeaturesFile {
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

    /// The bytes of a features file: `asOf` and `read` take them, so that a
    /// caller that needs both reads the file once.
    public static func contents(path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(file: path, message: "cannot be read: no such file, or no permission")
        }
        return data
    }

    /// The as-of day of a features file: its first line's.
    static func asOf(_ data: Data, path: String) throws -> CalendarDay {
        struct First: Decodable { var as_of: String }
        let start = data.firstIndex { $0 != 0x0A } ?? data.endIndex
        let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
        guard let first = try? JSONDecoder().decode(First.self, from: Data(data[start..<end])),
            let day = CalendarDay(first.as_of)
        else {
            throw CustomerHealthError.features(
                file: path, line: 1, message: "not a features line written by customer-health run")
        }
        return day
    }

    /// Reads features.jsonl (its `data`, from `path`) back into snapshots;
    /// with `inputNames` (a churn model's), each active snapshot's model
    /// inputs in that order, or none when its line lacks one of them. Lines
    /// are decoded on `threads` threads.
    public static func read(
        _ data: Data, path: String, inputNames: [String] = ChurnFeatures.names, threads: Int = 1
    ) throws -> (CalendarDay, [CustomerSnapshot]) {
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
        return (asOf, snapshots)
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

}
