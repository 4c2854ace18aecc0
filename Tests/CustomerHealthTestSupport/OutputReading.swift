import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The files of one OUTPUT/<date>/ folder, read as a consumer would.
package struct RunOutputs {
    package let folder: URL
    /// Keeps the temporary folder alive as long as its outputs are read.
    package var owner: AnyObject?

    package init(folder: URL, owner: AnyObject? = nil) throws {
        self.folder = folder
        self.owner = owner
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: folder.path])
        }
    }

    package func data(_ name: String) throws -> Data { try Data(contentsOf: folder.appendingPathComponent(name)) }
    package func text(_ name: String) throws -> String { String(decoding: try data(name), as: UTF8.self) }

    package var manifest: [String: Any] { get throws { try JSON.object(try data("manifest.json")) } }
    package var rejects: [[String: Any]] { get throws { try JSON.lines(try data("rejects.jsonl")) } }
    package var scores: [[String: Any]] { get throws { try JSON.lines(try data("scores.jsonl")) } }
    package var features: [[String: Any]] { get throws { try JSON.lines(try data("features.jsonl")) } }
    package var kpis: [String: Any] { get throws { try JSON.object(try data("kpis.json")) } }
    package var atRisk: [String: Any] { get throws { try JSON.object(try data("at-risk.json")) } }

    /// The manifest's entry for one input file.
    package func input(_ file: String) throws -> [String: Any]? {
        let inputs = try manifest["inputs"] as? [[String: Any]] ?? []
        return inputs.first { $0["file"] as? String == file }
    }

    package func score(_ customer: String) throws -> [String: Any]? {
        try scores.first { $0["customer_id"] as? String == customer }
    }

    package func feature(_ customer: String) throws -> [String: Any]? {
        try features.first { $0["customer_id"] as? String == customer }
    }

    /// The rejects of one input file.
    package func rejects(in file: String) throws -> [[String: Any]] {
        try rejects.filter { $0["file"] as? String == file }
    }
}

package enum JSON {
    package struct NotAnObject: Error {}

    package static func object(_ data: Data) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw NotAnObject() }
        return o
    }

    package static func lines(_ data: Data) throws -> [[String: Any]] {
        try data.split(separator: 0x0A).map { try object(Data($0)) }
    }

    package static func int(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue }
    package static func double(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
}

/// Asserts that no row went missing: for every input file of the manifest,
/// rows read = accepted + rejected + unknown_customer, each rejected or
/// unknown row is in rejects.jsonl, and the totals add up.
package func assertNothingLost(_ outputs: RunOutputs, file: StaticString = #filePath, line: UInt = #line) throws {
    let manifest = try outputs.manifest
    let inputs = manifest["inputs"] as? [[String: Any]] ?? []
    XCTAssertFalse(inputs.isEmpty, "manifest.json lists no inputs", file: file, line: line)
    let rejects = try outputs.rejects
    var read = 0
    var rejected = 0
    var unknown = 0
    for input in inputs {
        let name = input["file"] as? String ?? "?"
        let r = JSON.int(input["rows_read"]) ?? -1
        let a = JSON.int(input["rows_accepted"]) ?? -1
        let j = JSON.int(input["rows_rejected"]) ?? -1
        let u = JSON.int(input["rows_unknown_customer"]) ?? -1
        XCTAssertEqual(
            r, a + j + u, "\(name): rows read \(r) != accepted \(a) + rejected \(j) + unknown \(u)", file: file,
            line: line)
        let listed = rejects.filter { $0["file"] as? String == name }.count
        XCTAssertEqual(
            listed, j + u, "\(name): rejects.jsonl lists \(listed) rows, manifest says \(j + u)", file: file, line: line
        )
        read += r
        rejected += j
        unknown += u
    }
    let rows = manifest["rows"] as? [String: Any] ?? [:]
    XCTAssertEqual(JSON.int(rows["read"]), read, "manifest rows.read", file: file, line: line)
    XCTAssertEqual(JSON.int(rows["rejected"]), rejected, "manifest rows.rejected", file: file, line: line)
    XCTAssertEqual(
        JSON.int(rows["unknown_customer"]), unknown, "manifest rows.unknown_customer", file: file, line: line)
    XCTAssertEqual(
        rejects.count, rejected + unknown, "rejects.jsonl has one line per rejected or unknown-customer row",
        file: file, line: line)
}

/// Asserts one line of rejects.jsonl.
package func assertReject(
    _ r: [String: Any]?, file name: String, line: Int, column: String?, code: String,
    reasonContains: [String] = [], file: StaticString = #filePath, line testLine: UInt = #line
) {
    guard let r else {
        XCTFail("no reject found for \(name):\(line)", file: file, line: testLine)
        return
    }
    XCTAssertEqual(r["file"] as? String, name, file: file, line: testLine)
    XCTAssertEqual(JSON.int(r["line"]), line, "line of \(r)", file: file, line: testLine)
    XCTAssertEqual(r["column"] as? String, column, "column of \(r)", file: file, line: testLine)
    XCTAssertEqual(r["code"] as? String, code, "code of \(r)", file: file, line: testLine)
    let reason = r["reason"] as? String ?? ""
    for part in reasonContains {
        XCTAssertTrue(
            reason.contains(part), "reason \"\(reason)\" should contain \"\(part)\"", file: file, line: testLine)
    }
}

/// Everything under OUTPUT, byte for byte, links as their targets (the lock
/// file, whose content is a note about the holder, is left out).
package func snapshotTree(_ root: URL) -> [String: String] {
    var out: [String: String] = [:]
    func walk(_ dir: String, _ rel: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name != ".lock" {
            let path = (dir as NSString).appendingPathComponent(name)
            let key = rel.isEmpty ? name : rel + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                out[key] = "link -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")
            case S_IFDIR:
                out[key] = "dir"
                walk(path, key)
            default:
                let data = FileManager.default.contents(atPath: path) ?? Data()
                out[key] = "file \(data.count) " + data.base64EncodedString()
            }
        }
    }
    walk(root.path, "")
    return out
}

/// The offset in a message that says "... byte offset N ...", or nil.
package func byteOffset(inMessage message: String) -> Int? {
    guard let range = message.range(of: "byte offset ") else { return nil }
    return Int(message[range.upperBound...].prefix { $0.isNumber })
}

/// Where a symlink points, or nil.
package func linkTarget(_ path: URL) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path.path)
}
