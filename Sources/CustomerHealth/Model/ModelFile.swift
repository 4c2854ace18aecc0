import Crypto
import Foundation

/// The versioned JSON model file: schema version, feature names and order,
/// bin edges, every tree, the logistic regression, member weights and
/// calibration, training window, metrics, and a SHA-256 of the content, so
/// that a corrupt or truncated file is refused rather than applied.
public struct ChurnModelFile: Sendable {
    public var ensemble: ChurnEnsemble
    /// Free-form provenance: training window, horizon, source, report.
    public var metadata: JSONValue
    /// The content hash recorded in the file it was read from.
    public var loadedHash: String?

    public init(ensemble: ChurnEnsemble, metadata: JSONValue) {
        self.ensemble = ensemble
        self.metadata = metadata
    }

    static func treeJSON(_ t: RegressionTree) -> JSONValue {
        .object([
            ("feature", .array(t.feature.map { .int(Int($0)) })),
            ("threshold", .array(t.threshold.map { .double($0) })),
            ("missing_left", .array(t.missingLeft.map { .int($0 ? 1 : 0) })),
            ("left", .array(t.left.map { .int(Int($0)) })),
            ("right", .array(t.right.map { .int(Int($0)) })),
            ("value", .array(t.value.map { .double($0) })),
        ])
    }

    func content() -> [(String, JSONValue)] {
        let e = ensemble
        return [
            ("schema_version", .int(ChurnEnsemble.schemaVersion)),
            ("kind", .string("customer-health churn ensemble")),
            ("feature_names", .array(e.featureNames.map { .string($0) })),
            ("bin_edges", .array(e.binner.edges.map { .array($0.map { .double($0) }) })),
            (
                "member_weights",
                .object(ChurnEnsemble.Member.allCases.map { ($0.rawValue, .double(e.weights[$0] ?? 0)) })
            ),
            ("calibration", .object([("method", .string("platt (stacked)")), ("intercept", .double(e.intercept))])),
        ] + e.members.map { ($0.kind.rawValue, $0.json()) } + [
            ("metadata", metadata)
        ]
    }

    public static func hash(_ text: String) -> String {
        Digest.sha256Hex(Data(text.utf8))
    }

    /// The file's bytes: the content, then its hash as the last member.
    public func serialized() -> String {
        let members = content()
        let body = JSONValue.object(members).serialized()
        return JSONValue.object(members + [("content_sha256", .string(ChurnModelFile.hash(body)))]).serialized() + "\n"
    }

    public var contentHash: String { ChurnModelFile.hash(JSONValue.object(content()).serialized()) }

    // MARK: Reading

    private struct TreeRecord: Decodable {
        var feature: [Int32]
        var threshold: [Double]
        var missing_left: [Int]
        var left: [Int32]
        var right: [Int32]
        var value: [Double]
    }

    private struct Record: Decodable {
        struct Boosting: Decodable {
            var base_score: Double
            var trees: [TreeRecord]
        }
        struct Forest: Decodable { var trees: [TreeRecord] }
        struct Linear: Decodable {
            var means: [Double]
            var scales: [Double]
            var weights: [Double]
            var intercept: Double
        }
        struct Calibration: Decodable { var intercept: Double }
        var schema_version: Int
        var feature_names: [String]
        var bin_edges: [[Double]]
        var member_weights: [String: Double]
        var calibration: Calibration
        var gradient_boosting: Boosting
        var random_forest: Forest
        var logistic_regression: Linear
        var content_sha256: String
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads and checks a model file: JSON, schema, hash, tree structure.
    public static func load(path: String) throws(LoadError) -> ChurnModelFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "\(path): the model file cannot be read (no such file, or no permission)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LoadError(description: "\(path): the model file is not UTF-8 text: it is corrupt")
        }
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: data)
        } catch {
            throw LoadError(
                description:
                    "\(path): the model file is not a complete customer-health model (truncated or corrupt JSON): \(error)"
            )
        }
        guard record.schema_version == ChurnEnsemble.schemaVersion else {
            throw LoadError(
                description:
                    "\(path): model schema version \(record.schema_version) is not \(ChurnEnsemble.schemaVersion), the one this customer-health reads; train a new model"
            )
        }
        // The hash covers everything before "content_sha256".
        guard let range = text.range(of: ", \"content_sha256\": ", options: .backwards) else {
            throw LoadError(description: "\(path): the model file has no content hash: it is corrupt")
        }
        let body = String(text[text.startIndex..<range.lowerBound]) + "}"
        guard hash(body) == record.content_sha256 else {
            throw LoadError(
                description:
                    "\(path): the model file's content does not match its SHA-256: it was altered or corrupted; train it again"
            )
        }
        let d = record.feature_names.count
        guard record.bin_edges.count == d, record.logistic_regression.weights.count == d,
            record.logistic_regression.means.count == d, record.logistic_regression.scales.count == d
        else {
            throw LoadError(description: "\(path): the model's parts disagree on the number of features: it is corrupt")
        }
        var weights: [ChurnEnsemble.Member: Double] = [:]
        for m in ChurnEnsemble.Member.allCases { weights[m] = record.member_weights[m.rawValue] ?? 0 }
        var boosting: [RegressionTree] = []
        for r in record.gradient_boosting.trees { boosting.append(try tree(r, features: d, path: path)) }
        var forest: [RegressionTree] = []
        for r in record.random_forest.trees { forest.append(try tree(r, features: d, path: path)) }
        let lr = record.logistic_regression
        let ensemble = ChurnEnsemble(
            featureNames: record.feature_names, binner: FeatureBinner(edges: record.bin_edges),
            members: [
                GradientBoostedTrees(baseScore: record.gradient_boosting.base_score, trees: boosting),
                RandomForest(trees: forest),
                LogisticRegression(means: lr.means, scales: lr.scales, weights: lr.weights, intercept: lr.intercept),
            ],
            weights: weights, intercept: record.calibration.intercept)
        let metadata = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["metadata"]
        var file = ChurnModelFile(ensemble: ensemble, metadata: metadata.map(JSONValue.from) ?? .null)
        file.loadedHash = record.content_sha256
        return file
    }

    /// One tree of the file, checked: arrays of one length, children after
    /// their parent, features and nodes that exist.
    private static func tree(_ r: TreeRecord, features d: Int, path: String) throws(LoadError) -> RegressionTree {
        let n = r.feature.count
        guard n > 0, r.threshold.count == n, r.missing_left.count == n, r.left.count == n, r.right.count == n,
            r.value.count == n
        else {
            throw LoadError(description: "\(path): a tree has arrays of different lengths: the model is corrupt")
        }
        for i in 0..<n where r.feature[i] >= 0 {
            guard Int(r.feature[i]) < d, r.left[i] > Int32(i), r.right[i] > Int32(i), Int(r.left[i]) < n,
                Int(r.right[i]) < n
            else {
                throw LoadError(
                    description:
                        "\(path): a tree refers to a node or feature that does not exist: the model is corrupt")
            }
        }
        var t = RegressionTree()
        t.feature = r.feature
        t.threshold = r.threshold
        t.missingLeft = r.missing_left.map { $0 != 0 }
        t.left = r.left
        t.right = r.right
        t.value = r.value
        t.cover = Array(repeating: 0, count: n)
        t.gain = Array(repeating: 0, count: n)
        return t
    }
}

extension JSONValue {
    /// Converts what JSONSerialization returns (for metadata only, which is informational).
    static func from(_ any: Any) -> JSONValue {
        switch any {
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }
            let d = n.doubleValue
            if d == d.rounded() && abs(d) < 1e15 { return .int(Int(d)) }
            return .double(d)
        case let a as [Any]: return .array(a.map(from))
        case let o as [String: Any]: return .object(o.keys.sorted().map { ($0, from(o[$0]!)) })
        default: return .null
        }
    }
}
