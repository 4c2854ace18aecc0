import Foundation

/// Checks a JSON value against a schema of the OpenAPI document: the subset
/// of JSON Schema the document uses ($ref, type with "null", enum, required,
/// properties, additionalProperties, items, minimum, maximum).
struct SchemaValidator {
    let document: [String: Any]

    /// The schema of a route's answer: paths → method → responses → status → content.
    func responseSchema(path: String, status: Int, method: String = "get", contentType: String = "application/json")
        -> [String: Any]?
    {
        let paths = document["paths"] as? [String: Any]
        let operation = (paths?[path] as? [String: Any])?[method] as? [String: Any]
        guard var response = (operation?["responses"] as? [String: Any])?[String(status)] as? [String: Any] else {
            return nil
        }
        if let ref = response["$ref"] as? String { response = resolve(ref) }
        return ((response["content"] as? [String: Any])?[contentType] as? [String: Any])?["schema"] as? [String: Any]
    }

    private func resolve(_ ref: String) -> [String: Any] {
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    /// The ways `value` breaks `schema`, each with its JSON path; empty when it fits.
    func errors(_ value: Any, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String { return errors(value, resolve(ref), at: path) }
        var found: [String] = []
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as? String ?? ""]
            if !types.contains(where: { Self.matches(value, $0) }) {
                return ["\(path): \(Self.describe(value)) is not of type \(types.joined(separator: " or "))"]
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal($0, value) }) {
            found.append("\(path): \(Self.describe(value)) is not one of \(options)")
        }
        if let number = value as? NSNumber {
            if let min = (schema["minimum"] as? NSNumber)?.doubleValue, number.doubleValue < min {
                found.append("\(path): below \(min)")
            }
            if let max = (schema["maximum"] as? NSNumber)?.doubleValue, number.doubleValue > max {
                found.append("\(path): above \(max)")
            }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                found.append("\(path): lacks \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, item) in object {
                if let sub = properties[key] as? [String: Any] {
                    found += errors(item, sub, at: "\(path).\(key)")
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    found += errors(item, extra, at: "\(path).\(key)")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, item) in array.enumerated() { found += errors(item, items, at: "\(path)[\(i)]") }
        }
        return found
    }

    static func matches(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        // JSONSerialization hands back numbers and booleans alike as NSNumber; a boolean's type is "c".
        case "boolean": return (value as? NSNumber).map(isBoolean) ?? false
        case "number": return (value as? NSNumber).map { !isBoolean($0) } ?? false
        case "integer":
            guard let n = value as? NSNumber, !isBoolean(n) else { return false }
            return n.doubleValue == n.doubleValue.rounded()
        default: return false
        }
    }

    private static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        if a is NSNull && b is NSNull { return true }
        if let a = a as? String, let b = b as? String { return a == b }
        return false
    }

    private static func describe(_ value: Any) -> String {
        let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
        return data.map { String(decoding: $0, as: UTF8.self) }.map { $0.count > 80 ? String($0.prefix(80)) + "…" : $0 }
            ?? "\(value)"
    }
}
