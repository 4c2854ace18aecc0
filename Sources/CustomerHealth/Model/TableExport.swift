import Foundation

/// Writes a training table as CSV (for the benchmark's peers and for audits).
public enum TableExport {
    public static func write(_ table: TrainingTable, split: [String]?, to path: String) throws {
        // RFC 4180 quoting: input names of product events hold quotes, ids may hold commas.
        func cell(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var out =
            "customer_id,as_of," + (split != nil ? "split," : "") + "label,"
            + table.featureNames.map(cell).joined(separator: ",") + "\n"
        out.reserveCapacity(table.rowCount * 120)
        for i in 0..<table.rowCount {
            out += cell(table.rowIDs[i])
            out += ","
            out += table.dates.map { $0[i].description } ?? ""
            out += ","
            if let split { out += split[i] + "," }
            out += table.labels[i] == 1 ? "1" : "0"
            for j in 0..<table.featureCount {
                let v = table.columns[j][i]
                out += ","
                if !v.isNaN { out += v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
            }
            out += "\n"
        }
        try AtomicFile.write(Data(out.utf8), to: path)
    }
}
