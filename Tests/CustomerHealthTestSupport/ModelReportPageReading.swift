import Foundation
import XCTest

/// Reading the model's and the backtest's pages (`ModelReportPage`) as a
/// reader would: the JSON data block, the tables' cells, the curves.
package protocol ModelReportPageReading {}

extension ModelReportPageReading {

    package func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    package func curve(_ value: Any?) throws -> [(x: Double, y: Double)] {
        let pairs = try XCTUnwrap(value as? [[Double]], "a curve is an array of [x, y]")
        return pairs.map { ($0[0], $0[1]) }
    }

    package func trapezoid(_ points: [(x: Double, y: Double)]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.x - $1.0.x) * ($1.0.y + $1.1.y) / 2 }
    }

    /// The text of the page's `report-data` block.
    package func dataBlock(_ html: String) throws -> String {
        let start = try XCTUnwrap(html.range(of: "<script type=\"application/json\" id=\"report-data\">"))
        let end = try XCTUnwrap(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        return String(html[start.upperBound..<end.lowerBound])
    }

    /// The body rows of table `id`: each cell's text and its data-value.
    package func tableRows(_ html: String, id: String) throws -> [[(text: String, value: Double?)]] {
        let start = try XCTUnwrap(html.range(of: "<table id=\"\(id)\">"), "table \(id)")
        let end = try XCTUnwrap(html.range(of: "</table>", range: start.upperBound..<html.endIndex))
        let body = try XCTUnwrap(html.range(of: "<tbody>", range: start.upperBound..<end.lowerBound))
        let cell = try NSRegularExpression(pattern: #"<td[^>]*?(?: data-value="([^"]*)")?>(.*?)</td>"#)
        return html[body.upperBound..<end.lowerBound].components(separatedBy: "<tr>").dropFirst().map { row in
            cell.matches(in: row, range: NSRange(row.startIndex..., in: row)).map { m in
                let value = Range(m.range(at: 1), in: row).flatMap { Double(row[$0]) }
                return (Self.unescape(String(row[Range(m.range(at: 2), in: row)!])), value)
            }
        }
    }

    package static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Every cell with a data-key holds, as data-value, the figure at that
    /// path of the report (`calibration.3.observed_rate`); returns the keys.
    @discardableResult
    package func assertTablesMatch(
        _ html: String, report: [String: Any], file: StaticString = #filePath, line: UInt = #line
    )
        throws -> Set<String>
    {
        let keyed = try NSRegularExpression(pattern: #"<td[^>]* data-key="([^"]+)" data-value="([^"]+)""#)
        var checked = Set<String>()
        for m in keyed.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let key = String(html[Range(m.range(at: 1), in: html)!])
            let value = try XCTUnwrap(Double(html[Range(m.range(at: 2), in: html)!]))
            var node: Any? = report
            for part in key.split(separator: ".") {
                if let index = Int(part), let array = node as? [Any] {
                    node = index < array.count ? array[index] : nil
                } else {
                    node = (node as? [String: Any])?[String(part)]
                }
            }
            let expected = try XCTUnwrap(node as? NSNumber, "\(key) is a number of the report", file: file, line: line)
            XCTAssertEqual(value, expected.doubleValue, accuracy: 1e-9, key, file: file, line: line)
            checked.insert(key)
        }
        return checked
    }

    /// No element of the page would fetch anything: no src, href, action or
    /// CSS url() pointing off the page, and the Content-Security-Policy says none.
    package func assertOffline(_ html: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fetching = try NSRegularExpression(
            pattern:
                #"(?i)(?:\b(?:src|href|action|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))|url\(\s*["']?\s*(?:[a-z]+:|//)|@import"#
        )
        let matches = fetching.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range, in: html)!])
        }
        XCTAssertEqual(matches, [], file: file, line: line)
        XCTAssertTrue(
            html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"), file: file,
            line: line)
    }
}
