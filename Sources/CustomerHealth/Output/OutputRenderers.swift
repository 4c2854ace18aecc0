import Foundation
import Synchronization

/// Renders each output file's bytes. Pure functions of the scored run, so the
/// same inputs always give the same bytes.
public enum OutputRenderers {
    public static func scoreLine(_ s: CustomerScore) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("customer_id", .string(s.customerID)),
            ("as_of", .string(s.asOf.description)),
            ("health_score", .number(s.healthScore, places: 1)),
            ("health_status", .string(s.status.rawValue)),
            ("component_scores", .object([
                ("usage", .number(s.components.usage, places: 1)),
                ("engagement", .number(s.components.engagement, places: 1)),
                ("satisfaction", .number(s.components.satisfaction, places: 1)),
                ("value_realization", .number(s.components.valueRealization, places: 1)),
            ])),
            ("key_metrics", s.features.displayJSON()),
            ("trends", .object([
                ("usage", .optionalString(s.trends.usage?.rawValue)),
                ("engagement", .optionalString(s.trends.engagement?.rawValue)),
                ("satisfaction", .optionalString(s.trends.satisfaction?.rawValue)),
                ("value_realization", .optionalString(s.trends.valueRealization?.rawValue)),
            ])),
        ]
        if let p = s.churnProbability {
            members.append(("churn_probability", .number(p, places: 4)))
            members.append(("churn_risk", .string(ChurnRisk(probability: p).rawValue)))
            members.append(("reason_codes", .array(s.reasonCodes.map { r in
                .object([("feature", .string(r.feature)), ("value", ChurnFeatures.display(r.feature, r.value)),
                         ("contribution", .number(r.contribution, places: 4)), ("description", .string(r.description))])
            })))
        }
        members.append(("recommendations", .object([
            ("risk_factors", .array(s.riskFactors.map { .string($0) })),
            ("success_recommendations", .array(s.recommendations.map { .string($0) })),
            ("intervention_priority", .string(s.priority.rawValue)),
        ])))
        return .object(members)
    }

    /// scores.jsonl, rendered on `threads` workers in chunks written in order.
    public static func writeScores(_ scores: [CustomerScore], to w: OutputFileWriter, threads: Int = 1) throws {
        try writeLines(count: scores.count, to: w, threads: threads) { i, out in scoreLine(scores[i]).write(to: &out, pretty: false, indent: 0) }
    }

    /// features.jsonl, rendered on `threads` workers in chunks written in order.
    public static func writeFeatures(_ snapshots: [CustomerSnapshot], asOf: CalendarDay, inputNames: [String], to w: OutputFileWriter,
                                     threads: Int = 1) throws {
        try writeLines(count: snapshots.count, to: w, threads: threads) { i, out in
            featureLine(snapshots[i], asOf: asOf, inputNames: inputNames).write(to: &out, pretty: false, indent: 0)
        }
    }

    /// `count` lines, each rendered by `line`, in chunks on `threads`
    /// workers; a compressed file gets each chunk as a gzip member,
    /// compressed on the worker that rendered it.
    private static func writeLines(count: Int, to w: OutputFileWriter, threads: Int,
                                   line: @Sendable @escaping (Int, inout [UInt8]) -> Void) throws {
        let gzip = w.compressesMembers
        let failed = Atomic<Bool>(false)
        try renderInOrder(count: count, threads: threads, render: { range, out in
            for i in range {
                line(i, &out)
                out.append(0x0A)
            }
            if gzip {
                do { out = try GzipFileWriter.member(out, level: OutputFileWriter.gzipLevel) } catch { failed.store(true, ordering: .relaxed) }
            }
        }, sink: { gzip ? try w.write(member: $0) : try w.write(bytes: $0) })
        if failed.load(ordering: .relaxed) { throw CustomerHealthError.output(path: "scores or features", message: "could not be compressed (out of memory?)") }
    }

    public static func writeRejects(_ files: [FileReport], to w: OutputFileWriter) throws {
        var line: [UInt8] = []
        for r in rejectsInOrder(files) {
            line.removeAll(keepingCapacity: true)
            r.json().write(to: &line, pretty: false, indent: 0)
            line.append(0x0A)
            try w.write(bytes: line)
        }
    }

    /// Rejects file by file (files come sorted by name), each file's by line.
    static func rejectsInOrder(_ files: [FileReport]) -> [RejectRecord] {
        files.flatMap { $0.rejects.sorted(by: { ($0.line, $0.byteOffset) < ($1.line, $1.byteOffset) }) }
    }

    public static func scoresJSONL(_ scores: [CustomerScore]) -> String {
        var out = ""
        out.reserveCapacity(scores.count * 900)
        for s in scores {
            scoreLine(s).write(to: &out, pretty: false, indent: 0)
            out += "\n"
        }
        return out
    }

    /// At-risk customers, most urgent first: priority, then lowest health, then id.
    public static func atRiskOrder(_ scores: [CustomerScore], priorities: [InterventionPriority]) -> [CustomerScore] {
        scores.filter { priorities.contains($0.priority) }.sorted { a, b in
            if a.priority != b.priority { return a.priority < b.priority }
            if a.healthScore != b.healthScore { return a.healthScore < b.healthScore }
            return a.customerID.utf8.lexicographicallyPrecedes(b.customerID.utf8)
        }
    }

    /// How many customers the at-risk list holds (its order is not needed to count it).
    public static func atRiskCount(_ scores: [CustomerScore], priorities: [InterventionPriority]) -> Int {
        scores.reduce(0) { $0 + (priorities.contains($1.priority) ? 1 : 0) }
    }

    static func reason(_ s: CustomerScore) -> String {
        s.riskFactors.isEmpty ? "Health score \(JSONValue.number(s.healthScore, places: 1).serialized()) (\(s.status.rawValue))" : s.riskFactors.joined(separator: "; ")
    }

    public static func atRiskJSON(_ atRisk: [CustomerScore], accounts: [String: AccountRecord], asOf: CalendarDay) -> String {
        let items: [JSONValue] = atRisk.enumerated().map { (i, s) in
            let a = accounts[s.customerID]
            var members: [(String, JSONValue)] = [
                ("rank", .int(i + 1)),
                ("customer_id", .string(s.customerID)),
                ("name", .optionalString(a?.name)),
                ("plan", .optionalString(a?.plan)),
                ("mrr", .number(a?.mrr ?? nil, places: 2)),
                ("health_score", .number(s.healthScore, places: 1)),
                ("health_status", .string(s.status.rawValue)),
                ("intervention_priority", .string(s.priority.rawValue)),
            ]
            if let p = s.churnProbability {
                members.append(("churn_probability", .number(p, places: 4)))
                members.append(("churn_risk", .string(ChurnRisk(probability: p).rawValue)))
            }
            members += [
                ("reason", .string(reason(s))),
                ("risk_factors", .array(s.riskFactors.map { .string($0) })),
                ("recommendations", .array(s.recommendations.map { .string($0) })),
            ]
            return .object(members)
        }
        return JSONValue.object([
            ("as_of", .string(asOf.description)),
            ("count", .int(atRisk.count)),
            ("customers", .array(items)),
        ]).serialized(pretty: true) + "\n"
    }

    /// A CSV cell, quoted per RFC 4180, with spreadsheet formulas defused: a
    /// cell starting with = + - @ (or a tab or carriage return) gets a leading
    /// apostrophe, as OWASP recommends against CSV injection.
    static func csvCell(_ text: String) -> String {
        var t = text
        if let first = t.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { t = "'" + t }
        if t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return t
    }

    public static func atRiskCSV(_ atRisk: [CustomerScore], accounts: [String: AccountRecord]) -> String {
        var out = "rank,customer_id,name,plan,mrr,health_score,health_status,intervention_priority,reason,recommendations\r\n"
        for (i, s) in atRisk.enumerated() {
            let a = accounts[s.customerID]
            let cells = [
                String(i + 1), s.customerID, a?.name ?? "", a?.plan ?? "",
                a?.mrr.map { String(format: "%.2f", $0) } ?? "",
                JSONValue.number(s.healthScore, places: 1).serialized(), s.status.rawValue, s.priority.rawValue,
                reason(s), s.recommendations.joined(separator: "; "),
            ]
            out += cells.map(csvCell).joined(separator: ",") + "\r\n"
        }
        return out
    }

    public static func featureLine(_ s: CustomerSnapshot, asOf: CalendarDay, inputNames: [String]) -> JSONValue {
        let a = s.account
        var members: [(String, JSONValue)] = [
            ("customer_id", .string(a.customerID)),
            ("as_of", .string(asOf.description)),
            ("active", .bool(s.active)),
            ("account", .object([
                ("name", .string(a.name)),
                ("plan", .string(a.plan)),
                ("mrr", a.mrr.map { .double($0) } ?? .null),
                ("subscription_start", .string(a.subscriptionStart.description)),
                // A churn after the as-of day is not known on it.
                ("churned_at", .optionalString(a.churnedAt.flatMap { $0 <= asOf ? $0.description : nil })),
                ("subscription_end", .optionalString(a.subscriptionEnd?.description)),
                ("seats", .optionalInt(a.seats)),
                ("features_available", .optionalInt(a.featuresAvailable)),
                ("training_modules", .optionalInt(a.trainingModules)),
                ("acquisition_cost", a.acquisitionCost.map { .double($0) } ?? .null),
                ("nps", .optionalInt(a.nps)),
            ])),
            // The churn spells known on the as-of day (by the pipeline's churn
            // definition), so that rescore recomputes the KPIs exactly.
            ("churn_spells", .array(s.lifecycle.spells.map { .array([.string($0.from.description), .optionalString($0.until?.description)]) })),
            ("features", s.features?.json() ?? .null),
            ("previous_features", s.previous?.json() ?? .null),
        ]
        if let x = s.modelInputs {
            members.append(("model_inputs", .object(zip(inputNames, x).map { ($0, $1.isNaN ? .null : .double($1)) })))
        }
        return .object(members)
    }

    public static func featuresJSONL(_ snapshots: [CustomerSnapshot], asOf: CalendarDay, inputNames: [String] = []) -> String {
        var out = ""
        out.reserveCapacity(snapshots.count * 1200)
        for s in snapshots {
            featureLine(s, asOf: asOf, inputNames: inputNames).write(to: &out, pretty: false, indent: 0)
            out += "\n"
        }
        return out
    }

    public static func rejectsJSONL(_ files: [FileReport]) -> String {
        var out = ""
        for r in rejectsInOrder(files) {
            r.json().write(to: &out, pretty: false, indent: 0)
            out += "\n"
        }
        return out
    }
}

/// The data files of a published day, by the names `replay --outputs`
/// takes. manifest.json and metrics.prom are always written.
public enum PublishedOutput: String, CaseIterable, Sendable {
    case scores, features, atRisk = "at-risk", kpis, rejects

    public var fileNames: [String] {
        switch self {
        case .scores: return ["scores.jsonl"]
        case .features: return ["features.jsonl"]
        case .atRisk: return ["at-risk.json", "at-risk.csv"]
        case .kpis: return ["kpis.json"]
        case .rejects: return ["rejects.jsonl"]
        }
    }

    /// `scores,kpis` and the like.
    public static func parseList(_ text: String) throws(OutputListError) -> Set<PublishedOutput> {
        let names = allCases.map(\.rawValue).joined(separator: ", ")
        var out: Set<PublishedOutput> = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let o = PublishedOutput(rawValue: part) else { throw OutputListError(message: "unknown output \"\(part)\"; expected some of \(names)") }
            out.insert(o)
        }
        if out.isEmpty { throw OutputListError(message: "name at least one output: \(names)") }
        return out
    }
}

/// An `--outputs` list that names no known output: a usage error.
public struct OutputListError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
