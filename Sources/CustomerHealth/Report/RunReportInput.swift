import Foundation

/// What a run's HTML report shows, read from the run's own files (kpis.json,
/// at-risk.json, scores.jsonl, plain or gzipped) and from the earlier runs in
/// the same output folder. The report never sees the pipeline's memory: what
/// it shows is what the files say, whether `run` writes it or `serve` builds it.
public struct RunReportInput: Sendable {
    public var asOf: CalendarDay
    /// kpis.json of this run, as parsed.
    var kpis: KPIDocument
    /// The nearest earlier run in the output folder, if any.
    var previous: EarlierRun?
    /// Every earlier run's KPIs, oldest first, then this run's.
    var history: [(CalendarDay, KPIDocument)]
    var scores: [ScoreLine]
    var atRisk: [AtRiskLine]

    struct EarlierRun: Sendable {
        var asOf: CalendarDay
        var kpis: KPIDocument
        /// Health and churn probability by customer id (scores.jsonl).
        var scores: [String: (health: Double, churn: Double?)]
    }

    /// One line of scores.jsonl: the fields the report reads.
    struct ScoreLine: Decodable, Sendable {
        struct ReasonCode: Decodable, Sendable {
            var feature: String
            var contribution: Double
            var description: String?
        }
        var customer_id: String
        var health_score: Double
        var health_status: String
        var component_scores: [String: Double?]?
        var churn_probability: Double?
        var churn_risk: String?
        var reason_codes: [ReasonCode]?
    }

    /// One customer of at-risk.json.
    struct AtRiskLine: Decodable, Sendable {
        var rank: Int
        var customer_id: String
        var name: String?
        var plan: String?
        var mrr: Double?
        var health_score: Double
        var health_status: String
        var intervention_priority: String
        var churn_probability: Double?
        var churn_risk: String?
        var risk_factors: [String]
        var recommendations: [String]
    }

    struct AtRiskDocument: Decodable {
        var customers: [AtRiskLine]
    }

    /// Reads the run in `folder` (a published run, or one being published:
    /// `run` writes the report after the files it reads) and the earlier runs
    /// of `outputDirectory`.
    public static func load(folder: String, outputDirectory: String) throws -> RunReportInput {
        let kpis = try KPIDocument(
            data: try readOutput(folder: folder, name: "kpis.json"),
            path: (folder as NSString).appendingPathComponent("kpis.json"))
        guard let asOf = kpis.asOf else {
            throw CustomerHealthError.output(
                path: (folder as NSString).appendingPathComponent("kpis.json"),
                message: "has no as_of date; it is not a run's KPI file")
        }
        let scores = try readScores(folder: folder, as: ScoreLine.self)
        let atRiskPath = (folder as NSString).appendingPathComponent("at-risk.json")
        let atRisk: [AtRiskLine]
        do {
            atRisk = try JSONDecoder().decode(
                AtRiskDocument.self, from: try readOutput(folder: folder, name: "at-risk.json")
            ).customers
        } catch let error as DecodingError {
            throw CustomerHealthError.output(path: atRiskPath, message: "is not an at-risk list: \(error)")
        }
        let earlier = earlierRuns(outputDirectory: outputDirectory, before: asOf)
        var history: [(CalendarDay, KPIDocument)] = []
        for (day, runFolder) in earlier {
            // A folder without KPIs (`replay --outputs scores`) has no history point.
            guard let data = try? readOutput(folder: runFolder, name: "kpis.json"),
                let document = try? KPIDocument(data: data, path: runFolder)
            else { continue }
            history.append((day, document))
        }
        var previous: EarlierRun?
        if let (day, runFolder) = earlier.last, let kpisBefore = history.last, kpisBefore.0 == day,
            let lines = try? readScores(folder: runFolder, as: PreviousScore.self)
        {
            var byID: [String: (health: Double, churn: Double?)] = [:]
            byID.reserveCapacity(lines.count)
            for line in lines { byID[line.customer_id] = (line.health_score, line.churn_probability) }
            previous = EarlierRun(asOf: day, kpis: kpisBefore.1, scores: byID)
        }
        history.append((asOf, kpis))
        return RunReportInput(
            asOf: asOf, kpis: kpis, previous: previous, history: history, scores: scores, atRisk: atRisk)
    }

    struct PreviousScore: Decodable {
        var customer_id: String
        var health_score: Double
        var churn_probability: Double?
    }

    /// The dated run folders of `outputDirectory` before `day`, oldest first.
    static func earlierRuns(outputDirectory: String, before day: CalendarDay) -> [(CalendarDay, String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? []
        return names.compactMap { name -> (CalendarDay, String)? in
            guard let d = CalendarDay(name), d.description == name, d < day else { return nil }
            return (d, (outputDirectory as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// A data file of a run folder, as written or gzipped (`replay --gzip`).
    static func readOutput(folder: String, name: String) throws -> Data {
        let plain = (folder as NSString).appendingPathComponent(name)
        let compressed = plain + ".gz"
        let useGzip = access(plain, F_OK) != 0 && access(compressed, F_OK) == 0
        let path = useGzip ? compressed : plain
        var out = Data()
        let source = try ByteSource(path: path, name: path, compressed: useGzip)
        _ = try source.read { out.append(contentsOf: $0) }
        return out
    }

    /// Calls `body` with the bytes of `data` and each line's range (without
    /// its newline), in order, until it returns false. Line ends are found
    /// with memchr on the raw bytes: indexing `Data` byte by byte costs an
    /// exclusivity check each, which was most of the report's time.
    static func forEachLine(of data: Data, _ body: (UnsafeRawBufferPointer, Range<Int>) -> Bool) {
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            var start = 0
            while start < bytes.count {
                let end =
                    memchr(base + start, 0x0A, bytes.count - start).map { base.distance(to: UnsafeRawPointer($0)) }
                    ?? bytes.count
                if !body(bytes, start..<end) { return }
                start = end + 1
            }
        }
    }

    /// Each line of scores.jsonl decoded as `T`; a line that does not decode
    /// stops the report with its line number.
    static func readScores<T: Decodable>(folder: String, as: T.Type) throws -> [T] {
        let data = try readOutput(folder: folder, name: "scores.jsonl")
        let path = (folder as NSString).appendingPathComponent("scores.jsonl")
        let decoder = JSONDecoder()
        var out: [T] = []
        var lines: [Range<Int>] = []
        forEachLine(of: data) { _, line in
            if !line.isEmpty { lines.append(line) }
            return true
        }
        // Decoded on every core, each line into its own slot: the order stays the file's.
        let bytes = UnsafeSendable(data)
        let decoded = ParallelMap.map(count: lines.count, threads: ProcessInfo.processInfo.activeProcessorCount) {
            [lines] i in
            let range = lines[i]
            return Result {
                try decoder.decode(
                    T.self,
                    from: bytes.value[
                        (bytes.value.startIndex + range.lowerBound)..<(bytes.value.startIndex + range.upperBound)])
            }
        }
        out.reserveCapacity(decoded.count)
        for (i, result) in decoded.enumerated() {
            switch result {
            case .success(let value): out.append(value)
            case .failure(let error):
                let line = data[..<(data.startIndex + lines[i].lowerBound)].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                throw CustomerHealthError.output(path: path, message: "line \(line) is not a score line: \(error)")
            }
        }
        return out
    }
}

/// kpis.json, parsed: figures are looked up by their path (`overview.at_risk_customers`).
struct KPIDocument: @unchecked Sendable {
    let root: [String: Any]

    init(data: Data, path: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CustomerHealthError.output(path: path, message: "is not a JSON object of KPIs")
        }
        root = object
    }

    var asOf: CalendarDay? { (root["as_of"] as? String).flatMap(CalendarDay.init) }

    /// The number at a dotted path, or nil when the run has none (no NPS
    /// answers, no churn model).
    func number(_ path: String) -> Double? {
        var node: Any? = root
        for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
        if let n = node as? NSNumber, !(node is Bool) { return n.doubleValue }
        return nil
    }

    func object(_ path: String) -> [String: Any]? {
        var node: Any? = root
        for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
        return node as? [String: Any]
    }
}
