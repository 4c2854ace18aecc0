import Foundation

/// A JSON value whose object keys keep the order they were written in, so that
/// outputs read the way the documentation shows them and stay byte-identical.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.serialized() == rhs.serialized()
    }

    /// A number rounded to `places` decimals; integral values print without a fraction.
    public static func number(_ value: Double?, places: Int) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        let rounded = rounded(value, places: places)
        if let whole = whole(rounded) { return .int(whole) }
        return .double(rounded)
    }

    /// Powers of ten for the decimals outputs round to: pow() per number showed in profiles.
    private static let scales: [Double] = (0...9).map { pow(10.0, Double($0)) }

    @inline(__always)
    static func rounded(_ value: Double, places: Int) -> Double {
        let scale = places >= 0 && places < scales.count ? scales[places] : pow(10.0, Double(places))
        return (value * scale).rounded() / scale
    }

    /// The value as an integer when it is one that prints without a fraction.
    @inline(__always)
    static func whole(_ value: Double) -> Int? {
        value == value.rounded() && abs(value) < 1e15 ? Int(value) : nil
    }

    public static func optionalInt(_ value: Int?) -> JSONValue { value.map { .int($0) } ?? .null }
    public static func optionalString(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON text to a String (for callers that build text).
    func write(to out: inout String, pretty: Bool, indent: Int) {
        var bytes: [UInt8] = []
        write(to: &bytes, pretty: pretty, indent: indent)
        out += String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the JSON text as UTF-8 bytes: the one writer, which renders
    /// millions of output lines without building a String per piece.
    func write(to out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: JSONValue.append("null", to: &out)
        case .bool(let b): JSONValue.append(b ? "true" : "false", to: &out)
        case .int(let i): JSONValue.appendInt(i, to: &out)
        case .double(let d): JSONValue.appendDouble(d, to: &out)
        case .string(let s): JSONValue.writeEscaped(s, to: &out)
        case .array(let items):
            if items.isEmpty {
                JSONValue.append("[]", to: &out)
                return
            }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { JSONValue.separator(pretty: pretty, to: &out) }
                if pretty { JSONValue.newline(indent: indent + 1, to: &out) }
                item.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(indent: indent, to: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty {
                JSONValue.append("{}", to: &out)
                return
            }
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { JSONValue.separator(pretty: pretty, to: &out) }
                if pretty { JSONValue.newline(indent: indent + 1, to: &out) }
                JSONValue.writeEscaped(key, to: &out)
                out.append(UInt8(ascii: ":"))
                out.append(UInt8(ascii: " "))
                value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(indent: indent, to: &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    static func append(_ s: StaticString, to out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func append(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Swift prints the shortest representation that reads back exactly.
    @inline(__always)
    static func appendDouble(_ d: Double, to out: inout [UInt8]) {
        append(d.isFinite ? d.description : "null", to: &out)
    }

    /// Decimal digits of `i`, as String(i) writes them.
    static func appendInt(_ i: Int, to out: inout [UInt8]) {
        if i == Int.min {
            append(String(i), to: &out)
            return
        }
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var v = i.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - n] = UInt8(truncatingIfNeeded: v % 10) + 48
                v /= 10
                n += 1
            } while v > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
        }
    }

    @inline(__always)
    private static func separator(pretty: Bool, to out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        if !pretty { out.append(UInt8(ascii: " ")) }
    }

    private static func newline(indent: Int, to out: inout [UInt8]) {
        out.append(0x0A)
        for _ in 0..<(indent * 2) { out.append(0x20) }
    }

    /// Escapes control characters and U+2028/U+2029, so that a line of JSON is
    /// always one line for every consumer (JavaScript included).
    static func writeEscaped(_ s: String, to out: inout [UInt8]) {
        var s = s
        // Nearly every string needs no escaping: check its bytes and append it whole.
        let plain = s.withUTF8 { bytes in
            for b in bytes where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F || b == 0xE2 { return false }
            out.append(0x22)
            out.append(contentsOf: bytes)
            out.append(0x22)
            return true
        }
        if plain { return }
        var text = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{2028}": text += "\\u2028"
            case "\u{2029}": text += "\\u2029"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    text += String(format: "\\u%04x", scalar.value)
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
        append(text, to: &out)
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first(where: { $0.0 == key })?.1 }
        return nil
    }
}

/// Compact JSON written value by value straight into bytes: the writer of
/// scores.jsonl and features.jsonl, whose millions of lines would otherwise
/// each build a tree of JSONValues (an allocation per member) to write it
/// once. The bytes are JSONValue's compact form: ", " between members and
/// items, ": " after a key.
struct JSONStreamWriter {
    var out: [UInt8]
    /// A member or item came before: the next one is preceded by ", ".
    private var needsSeparator = false
    /// A key was written: its value follows it without a separator.
    private var afterKey = false

    init(into out: [UInt8]) { self.out = out }

    @inline(__always)
    private mutating func beginValue() {
        if afterKey {
            afterKey = false
        } else if needsSeparator {
            out.append(0x2C)
            out.append(0x20)
        }
        needsSeparator = true
    }

    @inline(__always)
    mutating func key(_ k: StaticString) {
        if needsSeparator {
            out.append(0x2C)
            out.append(0x20)
        }
        out.append(0x22)
        JSONValue.append(k, to: &out)
        out.append(0x22)
        out.append(0x3A)
        out.append(0x20)
        afterKey = true
    }

    /// A key known only at run time (a model input, a feature), escaped as any string.
    mutating func key(_ k: String) {
        if needsSeparator {
            out.append(0x2C)
            out.append(0x20)
        }
        JSONValue.writeEscaped(k, to: &out)
        out.append(0x3A)
        out.append(0x20)
        afterKey = true
    }

    mutating func object(_ members: (inout JSONStreamWriter) -> Void) {
        beginValue()
        out.append(0x7B)
        needsSeparator = false
        members(&self)
        out.append(0x7D)
        needsSeparator = true
        afterKey = false
    }

    mutating func array(_ items: (inout JSONStreamWriter) -> Void) {
        beginValue()
        out.append(0x5B)
        needsSeparator = false
        items(&self)
        out.append(0x5D)
        needsSeparator = true
        afterKey = false
    }

    mutating func null() {
        beginValue()
        JSONValue.append("null", to: &out)
    }

    mutating func bool(_ b: Bool) {
        beginValue()
        JSONValue.append(b ? "true" : "false", to: &out)
    }

    mutating func string(_ s: String) {
        beginValue()
        JSONValue.writeEscaped(s, to: &out)
    }

    mutating func string(_ s: String?) {
        if let s { string(s) } else { null() }
    }

    mutating func int(_ i: Int) {
        beginValue()
        JSONValue.appendInt(i, to: &out)
    }

    mutating func int(_ i: Int?) {
        if let i { int(i) } else { null() }
    }

    /// Full precision: the shortest text that reads back as the same Double.
    mutating func double(_ d: Double) {
        beginValue()
        JSONValue.appendDouble(d, to: &out)
    }

    mutating func double(_ d: Double?) {
        if let d { double(d) } else { null() }
    }

    /// As JSONValue.number: rounded to `places` decimals, integral values without a fraction.
    mutating func number(_ value: Double?, places: Int) {
        guard let value, value.isFinite else { return null() }
        let rounded = JSONValue.rounded(value, places: places)
        if let whole = JSONValue.whole(rounded) { int(whole) } else { double(rounded) }
    }

    /// Ends a line of JSON Lines: the next value starts a new line, not a member.
    mutating func endLine() {
        out.append(0x0A)
        needsSeparator = false
        afterKey = false
    }

    /// A value built as a tree (the few that are built elsewhere).
    mutating func value(_ v: JSONValue) {
        beginValue()
        v.write(to: &out, pretty: false, indent: 0)
    }
}
