import Foundation
import Synchronization

/// Renders each output file's bytes. Pure functions of the scored run, so the
/// same inputs always give the same bytes.
public enum OutputRenderers {
    /// One line of scores.jsonl (without its newline).
    static func writeScoreLine(_ s: CustomerScore, to w: inout JSONStreamWriter) {
        w.object { w in
            w.key("customer_id")
            w.string(s.customerID)
            w.key("as_of")
            w.string(s.asOf.description)
            w.key("health_score")
            w.number(s.healthScore, places: 1)
            w.key("health_status")
            w.string(s.status.rawValue)
            w.key("component_scores")
            w.object { w in
                w.key("usage")
                w.number(s.components.usage, places: 1)
                w.key("engagement")
                w.number(s.components.engagement, places: 1)
                w.key("satisfaction")
                w.number(s.components.satisfaction, places: 1)
                w.key("value_realization")
                w.number(s.components.valueRealization, places: 1)
            }
            w.key("key_metrics")
            s.features.writeDisplay(to: &w)
            w.key("trends")
            w.object { w in
                w.key("usage")
                w.string(s.trends.usage?.rawValue)
                w.key("engagement")
                w.string(s.trends.engagement?.rawValue)
                w.key("satisfaction")
                w.string(s.trends.satisfaction?.rawValue)
                w.key("value_realization")
                w.string(s.trends.valueRealization?.rawValue)
            }
            if let p = s.churnProbability {
                w.key("churn_probability")
                w.number(p, places: 4)
                w.key("churn_risk")
                w.string(ChurnRisk(probability: p).rawValue)
                w.key("reason_codes")
                w.array { w in
                    for r in s.reasonCodes {
                        w.object { w in
                            w.key("feature")
                            w.string(r.feature)
                            w.key("value")
                            w.value(ChurnFeatures.display(r.feature, r.value))
                            w.key("contribution")
                            w.number(r.contribution, places: 4)
                            w.key("description")
                            w.string(r.description)
                        }
                    }
                }
            }
            w.key("recommendations")
            w.object { w in
                w.key("risk_factors")
                w.array { w in for r in s.riskFactors { w.string(r) } }
                w.key("success_recommendations")
                w.array { w in for r in s.recommendations { w.string(r) } }
                w.key("intervention_priority")
                w.string(s.priority.rawValue)
            }
        }
    }

    /// scores.jsonl, rendered on `threads` workers in chunks written in order.
    public static func writeScores(_ scores: [CustomerScore], to w: OutputFileWriter, threads: Int = 1) throws {
        // Through a buffer pointer: Array's subscript would copy the score (a retain per string and list in it).
        try writeLines(count: scores.count, to: w, threads: threads) { i, w in
            scores.withUnsafeBufferPointer { writeScoreLine($0[i], to: &w) }
        }
    }

    /// features.jsonl, rendered on `threads` workers in chunks written in order.
    public static func writeFeatures(
        _ snapshots: [CustomerSnapshot], asOf: CalendarDay, inputNames: [String], to w: OutputFileWriter,
        threads: Int = 1
    ) throws {
        try writeLines(count: snapshots.count, to: w, threads: threads) { i, w in
            snapshots.withUnsafeBufferPointer { writeFeatureLine($0[i], asOf: asOf, inputNames: inputNames, to: &w) }
        }
    }

    /// `count` lines, each rendered by `line`, in chunks on `threads`
    /// workers; a compressed file gets each chunk as a gzip member,
    /// compressed on the worker that rendered it.
    private static func writeLines(
        count: Int, to w: OutputFileWriter, threads: Int,
        line: @Sendable @escaping (Int, inout JSONStreamWriter) -> Void
    ) throws {
        let gzip = w.compressesMembers
        let failed = CompressionFailure()
        try renderInOrder(
            count: count, threads: threads,
            render: { range, out in
                var writer = JSONStreamWriter(into: [])
                swap(&writer.out, &out)
                for i in range {
                    line(i, &writer)
                    writer.endLine()
                }
                swap(&writer.out, &out)
                if gzip {
                    do { out = try GzipFileWriter.member(out, level: OutputFileWriter.gzipLevel) } catch {
                        failed.happened.store(true, ordering: .relaxed)
                    }
                }
            }, sink: { gzip ? try w.write(member: $0) : try w.write(bytes: $0) })
        if failed.happened.load(ordering: .relaxed) {
            throw CustomerHealthError.output(
                path: "scores or features", message: "could not be compressed (out of memory?)")
        }
    }

    /// Set by a worker whose chunk could not be compressed (shared with the workers, hence a class).
    private final class CompressionFailure: Sendable { let happened = Atomic<Bool>(false) }

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
        var w = JSONStreamWriter(into: [])
        for s in scores {
            writeScoreLine(s, to: &w)
            w.endLine()
        }
        return String(decoding: w.out, as: UTF8.self)
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
        s.riskFactors.isEmpty
            ? "Health score \(JSONValue.number(s.healthScore, places: 1).serialized()) (\(s.status.rawValue))"
            : s.riskFactors.joined(separator: "; ")
    }

    public static func atRiskJSON(_ atRisk: [CustomerScore], accounts: [String: AccountRecord], asOf: CalendarDay)
        -> String
    {
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
        var out: [UInt8] = []
        appendCSVCell(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// csvCell's bytes, appended. Bytes, not Characters: "\r\n" is one
    /// Character, equal to neither "\r" nor "\n", so a cell holding a CRLF
    /// would not be quoted by a Character test.
    static func appendCSVCell(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // The first Unicode scalar is one of these ASCII characters exactly when the first byte is.
            let defuse =
                bytes.first.map { $0 == 0x3D || $0 == 0x2B || $0 == 0x2D || $0 == 0x40 || $0 == 0x09 || $0 == 0x0D }
                ?? false
            let quoted = bytes.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            if quoted { out.append(0x22) }
            if defuse { out.append(0x27) }
            if quoted {
                for b in bytes {
                    out.append(b)
                    if b == 0x22 { out.append(0x22) }
                }
                out.append(0x22)
            } else {
                out.append(contentsOf: bytes)
            }
        }
    }

    public static func atRiskCSV(_ atRisk: [CustomerScore], accounts: [String: AccountRecord]) -> [UInt8] {
        var out = Array(
            "rank,customer_id,name,plan,mrr,health_score,health_status,intervention_priority,reason,recommendations\r\n"
                .utf8)
        for (i, s) in atRisk.enumerated() {
            let a = accounts[s.customerID]
            let cells = [
                String(i + 1), s.customerID, a?.name ?? "", a?.plan ?? "",
                a?.mrr.map { String(format: "%.2f", $0) } ?? "",
                JSONValue.number(s.healthScore, places: 1).serialized(), s.status.rawValue, s.priority.rawValue,
                reason(s), s.recommendations.joined(separator: "; "),
            ]
            for (k, cell) in cells.enumerated() {
                if k > 0 { out.append(0x2C) }
                appendCSVCell(cell, to: &out)
            }
            out.append(0x0D)
            out.append(0x0A)
        }
        return out
    }

    /// One line of features.jsonl (without its newline).
    static func writeFeatureLine(
        _ s: CustomerSnapshot, asOf: CalendarDay, inputNames: [String], to w: inout JSONStreamWriter
    ) {
        let a = s.account
        w.object { w in
            w.key("customer_id")
            w.string(a.customerID)
            w.key("as_of")
            w.string(asOf.description)
            w.key("active")
            w.bool(s.active)
            w.key("account")
            w.object { w in
                w.key("name")
                w.string(a.name)
                w.key("plan")
                w.string(a.plan)
                w.key("mrr")
                w.double(a.mrr)
                w.key("subscription_start")
                w.string(a.subscriptionStart.description)
                // A churn after the as-of day is not known on it.
                w.key("churned_at")
                w.string(a.churnedAt.flatMap { $0 <= asOf ? $0.description : nil })
                w.key("subscription_end")
                w.string(a.subscriptionEnd?.description)
                w.key("seats")
                w.int(a.seats)
                w.key("features_available")
                w.int(a.featuresAvailable)
                w.key("training_modules")
                w.int(a.trainingModules)
                w.key("acquisition_cost")
                w.double(a.acquisitionCost)
                w.key("nps")
                w.int(a.nps)
            }
            // The churn spells known on the as-of day (by the pipeline's churn
            // definition), so that rescore recomputes the KPIs exactly.
            w.key("churn_spells")
            w.array { w in
                for spell in s.lifecycle.spells {
                    w.array { w in
                        w.string(spell.from.description)
                        w.string(spell.until?.description)
                    }
                }
            }
            w.key("features")
            if let f = s.features { f.write(to: &w) } else { w.null() }
            w.key("previous_features")
            if let f = s.previous { f.write(to: &w) } else { w.null() }
            if let x = s.modelInputs {
                w.key("model_inputs")
                w.object { w in
                    for (name, value) in zip(inputNames, x) {
                        w.key(name)
                        if value.isNaN { w.null() } else { w.double(value) }
                    }
                }
            }
        }
    }

    public static func featuresJSONL(_ snapshots: [CustomerSnapshot], asOf: CalendarDay, inputNames: [String] = [])
        -> String
    {
        var w = JSONStreamWriter(into: [])
        for s in snapshots {
            writeFeatureLine(s, asOf: asOf, inputNames: inputNames, to: &w)
            w.endLine()
        }
        return String(decoding: w.out, as: UTF8.self)
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
    case scores, features
    case atRisk = "at-risk"
    case kpis, rejects, report

    public var fileNames: [String] {
        switch self {
        case .scores: return ["scores.jsonl"]
        case .features: return ["features.jsonl"]
        case .atRisk: return ["at-risk.json", "at-risk.csv"]
        case .kpis: return ["kpis.json"]
        case .rejects: return ["rejects.jsonl"]
        case .report: return [RunReport.fileName]
        }
    }

    /// `scores,kpis` and the like.
    public static func parseList(_ text: String) throws(OutputListError) -> Set<PublishedOutput> {
        let names = allCases.map(\.rawValue).joined(separator: ", ")
        var out: Set<PublishedOutput> = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let o = PublishedOutput(rawValue: part) else {
                throw OutputListError(message: "unknown output \"\(part)\"; expected some of \(names)")
            }
            out.insert(o)
        }
        if out.isEmpty { throw OutputListError(message: "name at least one output: \(names)") }
        if out.contains(.report), !out.isSuperset(of: RunReport.madeFrom) {
            throw OutputListError(
                message:
                    "report is made from the scores, kpis and at-risk files: name them too (scores,kpis,at-risk,report)"
            )
        }
        return out
    }
}

/// An `--outputs` list that names no known output: a usage error.
public struct OutputListError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
