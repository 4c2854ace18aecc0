import Foundation

/// A calendar day in UTC, counted from 1970-01-01. All day arithmetic in the
/// tool (windows, as-of dates, trends) happens on these numbers.
public struct CalendarDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var number: Int32

    public init(number: Int32) { self.number = number }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= CalendarDay.daysIn(month: month, year: year) else {
            return nil
        }
        number = Int32(CalendarDay.daysFromCivil(year: year, month: month, day: day))
    }

    /// Parses `yyyy-MM-dd`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let y = digits(bytes, 0, 4), let m = digits(bytes, 5, 2), let d = digits(bytes, 8, 2)
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public static func < (a: CalendarDay, b: CalendarDay) -> Bool { a.number < b.number }

    public func adding(days: Int) -> CalendarDay { CalendarDay(number: number + Int32(days)) }

    public var components: (year: Int, month: Int, day: Int) { CalendarDay.civil(fromDays: Int(number)) }

    public var description: String {
        let c = components
        guard (0...9999).contains(c.year) else { return String(format: "%04d-%02d-%02d", c.year, c.month, c.day) }
        // Ten ASCII digits and dashes, without String(format:): every output
        // line has a date, and formatting went through Foundation's CFString.
        return String(unsafeUninitializedCapacity: 10) { b in
            func put(_ value: Int, at end: Int, digits: Int) {
                var v = value
                for i in stride(from: end, to: end - digits, by: -1) {
                    b[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                    v /= 10
                }
            }
            put(c.year, at: 3, digits: 4)
            b[4] = 0x2D
            put(c.month, at: 6, digits: 2)
            b[7] = 0x2D
            put(c.day, at: 9, digits: 2)
            return 10
        }
    }

    /// Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

private func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
    var v = 0
    for i in start..<(start + count) {
        let c = b[i] &- 48
        guard c < 10 else { return nil }
        v = v * 10 + Int(c)
    }
    return v
}

/// Encoded as its `yyyy-MM-dd` text, as every file of the tool writes a day.
extension CalendarDay: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let day = CalendarDay(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\"\(text)\" is not a yyyy-MM-dd date")
        }
        self = day
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
