import Foundation

/// Why a single field could not be used. The row reader turns it into a reject
/// that names the file, line and column.
struct FieldError: Error {
    var message: String
}

/// How timestamps are written in an export: ISO-8601 (with `Z`, an offset, or
/// a plain date) or an explicit pattern such as `dd/MM/yyyy HH:mm`.
public enum TimestampFormat: Sendable, Equatable {
    case iso8601
    case pattern(String)
    /// Seconds since 1970-01-01T00:00:00Z (a fraction is dropped).
    case epochSeconds
    /// Milliseconds since 1970-01-01T00:00:00Z.
    case epochMilliseconds

    /// Reads a format setting: `iso8601`, `epoch_s`, `epoch_ms` or a pattern; nil when unreadable.
    public init?(setting: String) {
        switch setting.lowercased() {
        case "iso8601": self = .iso8601
        case "epoch_s": self = .epochSeconds
        case "epoch_ms": self = .epochMilliseconds
        default:
            guard TimestampFormat.compile(setting) != nil else { return nil }
            self = .pattern(setting)
        }
    }

    /// The compiled tokens of a pattern (empty for the other formats).
    var tokens: [Token] {
        if case .pattern(let p) = self { return TimestampFormat.compile(p) ?? [] }
        return []
    }

    /// What a value should look like, for rejection messages.
    func expectation(dateOnly: Bool) -> String {
        switch self {
        case .iso8601:
            return dateOnly ? "a date (yyyy-MM-dd)" : "an ISO-8601 timestamp (2026-11-23T10:15:00Z) or a date"
        case .pattern(let p): return dateOnly ? "a date in the format \(p)" : "a timestamp in the format \(p)"
        case .epochSeconds: return "seconds since 1970-01-01 (epoch_s)"
        case .epochMilliseconds: return "milliseconds since 1970-01-01 (epoch_ms)"
        }
    }

    struct Token: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case year, month, day, hour, minute, second, fraction
            case literal(UInt8)
        }
        var kind: Kind
        var width: Int
    }

    /// Compiles a pattern into fixed-width tokens: yyyy MM dd HH mm ss SSS and literal characters.
    static func compile(_ pattern: String) -> [Token]? {
        let bytes = Array(pattern.utf8)
        var tokens: [Token] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            var run = 1
            while i + run < bytes.count && bytes[i + run] == c { run += 1 }
            switch (c, run) {
            case (UInt8(ascii: "y"), 4): tokens.append(Token(kind: .year, width: 4))
            case (UInt8(ascii: "M"), 2): tokens.append(Token(kind: .month, width: 2))
            case (UInt8(ascii: "d"), 2): tokens.append(Token(kind: .day, width: 2))
            case (UInt8(ascii: "H"), 2): tokens.append(Token(kind: .hour, width: 2))
            case (UInt8(ascii: "m"), 2): tokens.append(Token(kind: .minute, width: 2))
            case (UInt8(ascii: "s"), 2): tokens.append(Token(kind: .second, width: 2))
            case (UInt8(ascii: "S"), _): tokens.append(Token(kind: .fraction, width: run))
            default:
                if (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                    || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                {
                    return nil
                }
                for _ in 0..<run { tokens.append(Token(kind: .literal(c), width: 1)) }
            }
            i += run
        }
        guard tokens.contains(where: { $0.kind == .year }), tokens.contains(where: { $0.kind == .month }),
            tokens.contains(where: { $0.kind == .day })
        else { return nil }
        return tokens
    }
}

/// Parsers for the field types of the data contract. They work on raw bytes so
/// that twenty million rows do not become twenty million Strings.
enum FieldParser {
    /// Seconds since 1970-01-01T00:00:00Z.
    static func timestamp(_ f: UnsafeRawBufferPointer, format: TimestampFormat, tokens: [TimestampFormat.Token])
        throws(FieldError) -> Int64
    {
        switch format {
        case .iso8601: return try iso8601(f)
        case .pattern: return try patterned(f, tokens: tokens)
        case .epochSeconds: return try epoch(f, perSecond: 1)
        case .epochMilliseconds: return try epoch(f, perSecond: 1000)
        }
    }

    /// Whole units since the epoch, optionally with a fraction (dropped),
    /// as seconds. At most 15 digits: anything longer is past 2149 anyway.
    static func epoch(_ f: UnsafeRawBufferPointer, perSecond: Int64) throws(FieldError) -> Int64 {
        var i = 0
        var end = f.count
        while i < end && f[i] == 0x20 { i += 1 }
        while end > i && f[end - 1] == 0x20 { end -= 1 }
        if i < end && f[i] == 0x2B { i += 1 }
        var value: Int64 = 0
        var digits = 0
        while i < end, f[i] &- 48 < 10 {
            digits += 1
            if digits > 15 { throw FieldError(message: "is too large") }
            value = value * 10 + Int64(f[i] &- 48)
            i += 1
        }
        if i < end && f[i] == 0x2E {
            i += 1
            while i < end, f[i] &- 48 < 10 { i += 1 }
        }
        guard digits > 0, i == end else {
            throw FieldError(
                message: i < end && f[i] == 0x2D
                    ? "is negative" : "is not a whole number of \(perSecond == 1 ? "seconds" : "milliseconds")")
        }
        return value / perSecond
    }

    @inline(__always)
    private static func num(_ f: UnsafeRawBufferPointer, _ at: Int, _ width: Int) -> Int? {
        guard at + width <= f.count else { return nil }
        var v = 0
        for i in at..<(at + width) {
            let c = f[i] &- 48
            if c >= 10 { return nil }
            v = v &* 10 &+ Int(c)
        }
        return v
    }

    static func iso8601(_ f: UnsafeRawBufferPointer) throws(FieldError) -> Int64 {
        let n = f.count
        guard n >= 10, let y = num(f, 0, 4), f[4] == 0x2D, let mo = num(f, 5, 2), f[7] == 0x2D, let d = num(f, 8, 2)
        else { throw FieldError(message: "is not an ISO-8601 date or timestamp") }
        guard (1...12).contains(mo), d >= 1, d <= CalendarDay.daysIn(month: mo, year: y) else {
            throw FieldError(message: "is not a valid calendar date")
        }
        let days = Int64(CalendarDay.daysFromCivil(year: y, month: mo, day: d))
        if n == 10 { return days * 86400 }
        guard f[10] == 0x54 || f[10] == 0x20 || f[10] == 0x74 else {
            throw FieldError(message: "is not an ISO-8601 timestamp (expected T after the date)")
        }
        guard let h = num(f, 11, 2), n >= 16, f[13] == 0x3A, let mi = num(f, 14, 2) else {
            throw FieldError(message: "is not an ISO-8601 timestamp (expected HH:mm after T)")
        }
        var i = 16
        var s = 0
        if i < n && f[i] == 0x3A {
            guard let sec = num(f, i + 1, 2) else { throw FieldError(message: "has unreadable seconds") }
            s = sec
            i += 3
            if i < n && (f[i] == 0x2E || f[i] == 0x2C) {
                i += 1
                let start = i
                while i < n && f[i] &- 48 < 10 { i += 1 }
                if i == start { throw FieldError(message: "has an empty fraction of a second") }
            }
        }
        guard h <= 24, mi <= 59, s <= 60, !(h == 24 && (mi != 0 || s != 0)) else {
            throw FieldError(message: "has a time of day out of range")
        }
        var offset = 0
        if i < n {
            let c = f[i]
            if c == 0x5A || c == 0x7A {  // Z
                i += 1
            } else if c == 0x2B || c == 0x2D {
                guard let oh = num(f, i + 1, 2) else { throw FieldError(message: "has an unreadable UTC offset") }
                var om = 0
                var j = i + 3
                if j < n && f[j] == 0x3A { j += 1 }
                if j < n {
                    guard let m = num(f, j, 2) else { throw FieldError(message: "has an unreadable UTC offset") }
                    om = m
                    j += 2
                }
                guard oh <= 18, om <= 59 else { throw FieldError(message: "has a UTC offset out of range") }
                offset = (oh * 3600 + om * 60) * (c == 0x2B ? 1 : -1)
                i = j
            } else {
                throw FieldError(message: "has unexpected text after the time")
            }
        }
        guard i == n else { throw FieldError(message: "has unexpected text after the time") }
        return days * 86400 + Int64(h * 3600 + mi * 60 + min(s, 59)) - Int64(offset)
    }

    static func patterned(_ f: UnsafeRawBufferPointer, tokens: [TimestampFormat.Token]) throws(FieldError) -> Int64 {
        var y = 1970
        var mo = 1
        var d = 1
        var h = 0
        var mi = 0
        var s = 0
        var i = 0
        for token in tokens {
            switch token.kind {
            case .literal(let c):
                guard i < f.count, f[i] == c else { throw FieldError(message: "does not match the configured format") }
                i += 1
            default:
                guard let v = num(f, i, token.width) else {
                    throw FieldError(message: "does not match the configured format")
                }
                i += token.width
                switch token.kind {
                case .year: y = v
                case .month: mo = v
                case .day: d = v
                case .hour: h = v
                case .minute: mi = v
                case .second: s = v
                default: break
                }
            }
        }
        guard i == f.count else { throw FieldError(message: "does not match the configured format") }
        guard (1...12).contains(mo), d >= 1, d <= CalendarDay.daysIn(month: mo, year: y) else {
            throw FieldError(message: "is not a valid calendar date")
        }
        guard h <= 23, mi <= 59, s <= 59 else { throw FieldError(message: "has a time of day out of range") }
        return Int64(CalendarDay.daysFromCivil(year: y, month: mo, day: d)) * 86400 + Int64(h * 3600 + mi * 60 + s)
    }

    /// A decimal such as `-12.5` as an integer count of 10^-scale units, exactly.
    /// Digits past `scale` decimals are rounded half away from zero.
    static func decimal(_ f: UnsafeRawBufferPointer, scale: Int) throws(FieldError) -> Int64 {
        var i = 0
        let n = f.count
        // Exports padded with spaces are common enough to accept.
        var end = n
        while i < end && f[i] == 0x20 { i += 1 }
        while end > i && f[end - 1] == 0x20 { end -= 1 }
        var negative = false
        if i < end && (f[i] == 0x2D || f[i] == 0x2B) {
            negative = f[i] == 0x2D
            i += 1
        }
        var value: Int64 = 0
        var digitsSeen = 0
        var intDigits = 0
        while i < end, f[i] &- 48 < 10 {
            value = value &* 10 &+ Int64(f[i] &- 48)
            i += 1
            digitsSeen += 1
            intDigits += 1
            if intDigits + scale > 18 { throw FieldError(message: "is too large") }
        }
        var fractionDigits = 0
        var roundUp = false
        if i < end && f[i] == 0x2E {
            i += 1
            while i < end, f[i] &- 48 < 10 {
                if fractionDigits < scale {
                    value = value * 10 + Int64(f[i] &- 48)
                    fractionDigits += 1
                } else if fractionDigits == scale {
                    roundUp = f[i] >= 0x35
                    fractionDigits += 1
                }
                i += 1
                digitsSeen += 1
            }
        }
        guard digitsSeen > 0, i == end else { throw FieldError(message: "is not a number") }
        for _ in min(fractionDigits, scale)..<scale { value *= 10 }
        if roundUp { value += 1 }
        return negative ? -value : value
    }

    static func integer(_ f: UnsafeRawBufferPointer) throws(FieldError) -> Int {
        let scaled = try decimal(f, scale: 0)
        // "12.0" is an integer written by a spreadsheet; "12.5" is not, nor is
        // ".99999", which rounding alone would take for 1.
        var inFraction = false
        for b in f {
            if b == 0x2E {
                inFraction = true
            } else if inFraction && b != 0x30 && b != 0x20 {
                throw FieldError(message: "is not a whole number")
            }
        }
        return Int(scaled)
    }

    static func double(_ f: UnsafeRawBufferPointer) throws(FieldError) -> Double {
        let scaled = try decimal(f, scale: 6)
        return Double(scaled) / 1_000_000
    }

    /// True when the bytes are valid UTF-8 (ASCII checked first, as that is nearly every field).
    @inline(__always)
    static func isValidUTF8(_ f: UnsafeRawBufferPointer) -> Bool {
        var ascii = true
        for b in f where b >= 0x80 {
            ascii = false
            break
        }
        if ascii { return true }
        return String(validating: f.assumingMemoryBound(to: UInt8.self), as: UTF8.self) != nil
    }

    static func string(_ f: UnsafeRawBufferPointer) throws(FieldError) -> String {
        guard isValidUTF8(f) else { throw FieldError(message: "is not valid UTF-8") }
        return String(decoding: f, as: UTF8.self)
    }

    static func isBlank(_ f: UnsafeRawBufferPointer) -> Bool {
        for b in f where b != 0x20 && b != 0x09 { return false }
        return true
    }
}
