// Fuzz target `fields`: the field parsers of the data contract
// (Sources/CustomerHealth/Ingest/FieldParsing.swift) and CalendarDay's
// yyyy-MM-dd parser (Support/CalendarDay.swift).
//
// Input: a format setting, a newline, then the field's bytes. The setting
// goes through `TimestampFormat(setting:)` as a pipeline's `timestamp_format`
// or `date_format` does (iso8601, epoch_s, epoch_ms or a pattern such as
// dd/MM/yyyy HH:mm); the field is parsed with that format and with every
// built-in one, as a decimal of each scale 0-6, as an integer, a double,
// UTF-8 text and a CalendarDay.
//
// Checks, from docs/data-contract.md ("Field types"):
// - nothing traps (overflow, out-of-range index);
// - a pattern accepted by the setting parser compiles to tokens with a year, month and day;
// - an ISO-8601 value that is exactly yyyy-MM-dd gives the same seconds as the pattern yyyy-MM-dd;
// - an accepted date or timestamp lies on a real calendar day: formatting its day
//   back gives a valid date (CalendarDay round trip);
// - "integer" is "a decimal whose fraction is zero": an accepted integer's
//   digits after the point are all zeros, and its value equals the decimal's;
// - decimal(scale: s) of a value with at most s decimals is exact: it equals
//   decimal(scale: s + 1) / 10 when that does not overflow;
// - CalendarDay(text) accepts a text only if it prints back as the same text.
import Foundation
import FuzzSupport
@testable import CustomerHealth

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFields(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let all = FuzzBytes(data, size).rest
    let split = all.firstIndex(of: 0x0A) ?? all.count
    let setting = String(decoding: UnsafeRawBufferPointer(rebasing: all[0..<split]), as: UTF8.self)
    let field = UnsafeRawBufferPointer(rebasing: all[min(split + 1, all.count)...])

    var formats: [TimestampFormat] = [.iso8601, .epochSeconds, .epochMilliseconds, .pattern("yyyy-MM-dd")]
    if let format = TimestampFormat(setting: setting) {
        formats.append(format)
        if case .pattern(let p) = format {
            let tokens = TimestampFormat.compile(p)
            require(tokens != nil && tokens == format.tokens, "pattern \(p) accepted but does not compile")
            for k: TimestampFormat.Token.Kind in [.year, .month, .day] {
                require(format.tokens.contains { $0.kind == k }, "pattern \(p) accepted without \(k)")
            }
        }
        _ = format.expectation(dateOnly: true)
    }
    var results: [Int64?] = []
    for format in formats {
        let seconds = try? FieldParser.timestamp(field, format: format, tokens: format.tokens)
        results.append(seconds)
        if let seconds, format != .epochSeconds && format != .epochMilliseconds {
            // A parsed date or timestamp is on a real day of the proleptic calendar.
            let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
            if let day32 = Int32(exactly: days) {
                let c = CalendarDay(number: day32).components
                require(CalendarDay(year: c.year, month: c.month, day: c.day)?.number == day32,
                    "\(format) gave day \(days) for \(quoted(field)), which is not a valid date")
            }
        }
    }
    // ISO-8601 date only vs the pattern yyyy-MM-dd.
    if field.count == 10, let iso = results[0] {
        require(results[3] == iso, "\(quoted(field)): iso8601 \(iso), pattern yyyy-MM-dd \(String(describing: results[3]))")
    }

    var decimals: [Int64?] = []
    for scale in 0...7 { decimals.append(try? FieldParser.decimal(field, scale: scale)) }
    // Exactness: a value with at most `scale` decimals reads the same at scale + 1, times ten.
    let text = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .init(charactersIn: " "))
    let fractionDigits = text.split(separator: ".", omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
    for scale in 0..<7 where fractionDigits <= scale {
        if let a = decimals[scale], let b = decimals[scale + 1] {
            require(a.multipliedReportingOverflow(by: 10).partialValue == b, "\(quoted(field)): scale \(scale) gives \(a), scale \(scale + 1) gives \(b)")
        }
    }
    if let n = try? FieldParser.integer(field) {
        require(Int64(n) == decimals[0], "\(quoted(field)): integer \(n), decimal \(String(describing: decimals[0]))")
        if let point = text.firstIndex(of: ".") {
            let fraction = text[text.index(after: point)...]
            require(fraction.allSatisfy { $0 == "0" },
                "\(quoted(field)) is accepted as the integer \(n) but its fraction is not zero (docs/data-contract.md: 12.5 is \"not a whole number\")")
        }
    }
    _ = try? FieldParser.double(field)
    _ = try? FieldParser.string(field)
    _ = FieldParser.isBlank(field)

    let whole = String(decoding: all, as: UTF8.self)
    for candidate in [setting, String(decoding: field, as: UTF8.self), whole] {
        if let day = CalendarDay(candidate) {
            require(day.description == candidate, "CalendarDay(\"\(candidate)\") reads as \(day.description)")
        }
    }
    return 0
}

private func quoted(_ f: UnsafeRawBufferPointer) -> String {
    "\"" + String(decoding: f.prefix(80), as: UTF8.self).debugDescription.dropFirst().dropLast() + "\""
}
