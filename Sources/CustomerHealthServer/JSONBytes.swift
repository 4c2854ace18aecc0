/// Byte-level helpers for the JSON files a run writes. The server answers
/// with the bytes the run wrote, so that an API answer and the file never
/// disagree; these helpers only find where values start and end.
enum JSONBytes {
    static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// The value with the whitespace between tokens removed (strings untouched).
    static func compact(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for c in bytes {
            if inString {
                out.append(c)
                if escaped {
                    escaped = false
                } else if c == backslash {
                    escaped = true
                } else if c == quote {
                    inString = false
                }
            } else if c == quote {
                inString = true
                out.append(c)
            } else if !isSpace(c) {
                out.append(c)
            }
        }
        return out
    }

    /// The byte ranges of the elements of the array that is the value of
    /// `key` in the top-level object, or nil when there is no such array.
    /// The input must be valid JSON (checked by the caller).
    static func arrayElements(ofKey key: String, in bytes: [UInt8]) -> [Range<Int>]? {
        let wanted = Array(key.utf8)
        var depth = 0
        var inString = false
        var escaped = false
        var stringStart = 0
        var lastString: Range<Int>? = nil
        var currentKey: Range<Int>? = nil
        var inArray = false
        var elementStart = 0
        var elements: [Range<Int>] = []
        func push(_ range: Range<Int>) {
            var r = range
            while r.lowerBound < r.upperBound && isSpace(bytes[r.lowerBound]) { r = (r.lowerBound + 1)..<r.upperBound }
            while r.lowerBound < r.upperBound && isSpace(bytes[r.upperBound - 1]) {
                r = r.lowerBound..<(r.upperBound - 1)
            }
            if !r.isEmpty { elements.append(r) }
        }
        for i in bytes.indices {
            let c = bytes[i]
            if inString {
                if escaped {
                    escaped = false
                } else if c == backslash {
                    escaped = true
                } else if c == quote {
                    inString = false
                    lastString = (stringStart + 1)..<i
                }
                continue
            }
            switch c {
            case quote:
                inString = true
                stringStart = i
            case UInt8(ascii: ":"):
                if depth == 1 { currentKey = lastString }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if c == UInt8(ascii: "["), depth == 1, let k = currentKey, bytes[k].elementsEqual(wanted) {
                    inArray = true
                    elementStart = i + 1
                }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if inArray && depth == 1 {
                    push(elementStart..<i)
                    return elements
                }
            case UInt8(ascii: ","):
                if inArray && depth == 2 {
                    push(elementStart..<i)
                    elementStart = i + 1
                }
            default:
                break
            }
        }
        return nil
    }
}
