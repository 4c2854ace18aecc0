import Foundation

/// A run folder's scores.jsonl read back for `backtest`: what was predicted
/// for each customer on that day.
public struct ScoredDay {
    public var path: String
    public var asOf: CalendarDay
    /// In the file's order (customer_id order).
    public var predictions: [(customerID: String, healthScore: Double, churnProbability: Double?)]
    /// Each customer's component scores, in `ScoreComponent.ordered` order.
    public var components: [String: [Double?]]

    /// Whether the run had a churn model: then every line has a probability.
    public var hasModel: Bool { predictions.first?.churnProbability != nil }

    private struct Components: Decodable {
        var usage: Double?
        var engagement: Double?
        var satisfaction: Double?
        var value_realization: Double?
    }
    private struct Line: Decodable {
        var customer_id: String
        var as_of: String
        var health_score: Double
        var churn_probability: Double?
        var component_scores: Components
    }

    /// Reads FOLDER/scores.jsonl; every line must be one customer-health wrote, all of one day.
    public static func read(folder: String) throws -> ScoredDay {
        let path = (folder as NSString).appendingPathComponent("scores.jsonl")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CustomerHealthError.input(
                file: path, message: "cannot be read: --predictions must be an output folder such as output/2026-10-23")
        }
        var predictions: [(customerID: String, healthScore: Double, churnProbability: Double?)] = []
        var components: [String: [Double?]] = [:]
        var asOf: CalendarDay? = nil
        var lineNumber = 0
        for raw in data.split(separator: 0x0A) {
            lineNumber += 1
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(raw)), let day = CalendarDay(line.as_of)
            else {
                throw CustomerHealthError.features(
                    file: path, line: lineNumber, message: "not a scores.jsonl line written by customer-health")
            }
            if let asOf, asOf != day {
                throw CustomerHealthError.features(
                    file: path, line: lineNumber, message: "as_of \(day) differs from the first line's \(asOf)")
            }
            asOf = day
            if let first = predictions.first, (first.churnProbability == nil) != (line.churn_probability == nil) {
                throw CustomerHealthError.features(
                    file: path, line: lineNumber, message: "some lines have a churn_probability and others not")
            }
            predictions.append((line.customer_id, line.health_score, line.churn_probability))
            let c = line.component_scores
            components[line.customer_id] = [c.usage, c.engagement, c.satisfaction, c.value_realization]
        }
        guard let asOf, !predictions.isEmpty else {
            throw CustomerHealthError.input(file: path, message: "holds no scores")
        }
        return ScoredDay(path: path, asOf: asOf, predictions: predictions, components: components)
    }
}
