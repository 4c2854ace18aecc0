import Foundation

/// One cell of a report table. Numbers carry their unformatted value
/// (`data-value`) beside the printed text, so a program (or the browser
/// test) can check a table against kpis.json without parsing "1,234.5".
enum Cell {
    case text(String)
    case number(Double?, FigureFormat, key: String? = nil)
    case customer(String)
    case list([String])
}

/// A table of a report page: every figure a chart shows is in one.
struct Table {
    var links: ReportLinks
    var id: String
    var caption: String
    var columns: [String]
    var rows: [[Cell]]
    /// The at-risk table's sortable columns, by position ("" is not sortable).
    var sortKeys: [String] = []

    var view: [String: Any] {
        [
            "id": id,
            "caption": caption,
            "columns": columns.enumerated().map { i, name -> [String: Any] in
                let key = i < sortKeys.count ? sortKeys[i] : ""
                return ["name": name, "sortable": !key.isEmpty, "sortKey": key]
            },
            "rows": rows.map { ["cells": $0.map(cellView)] },
        ]
    }

    private func cellView(_ cell: Cell) -> [String: Any] {
        var v: [String: Any] = [
            "text": "", "numeric": false, "hasValue": false, "dataValue": "", "hasKey": false, "dataKey": "",
            "hasHref": false, "href": "", "isList": false, "items": [String](),
        ]
        switch cell {
        case .text(let s):
            v["text"] = s
        case .number(let value, let format, let key):
            v["text"] = format.text(value)
            v["numeric"] = true
            if let value, value.isFinite {
                v["hasValue"] = true
                v["dataValue"] = JSONValue.number(value, places: 6).serialized()
            }
            if let key {
                v["hasKey"] = true
                v["dataKey"] = key
            }
        case .customer(let id):
            v["text"] = id
            if let prefix = links.customerPrefix {
                v["hasHref"] = true
                v["href"] = prefix + ReportPage.pathComponent(id)
            }
        case .list(let items):
            v["isList"] = true
            v["items"] = items
        }
        return v
    }
}
