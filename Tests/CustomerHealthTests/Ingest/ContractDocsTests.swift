import Foundation
import XCTest

@testable import CustomerHealth

/// docs/data-contract.md's column tables are the export contracts' own
/// (`ExportContract.markdownTable()`), so the two cannot drift. Run with
/// CUSTOMER_HEALTH_UPDATE_DOCS=1 to rewrite the tables from the code.
final class ContractDocsTests: XCTestCase {
    static let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/data-contract.md")

    func testColumnTablesAreTheContracts() throws {
        var text = try String(contentsOf: Self.doc, encoding: .utf8)
        let update = ProcessInfo.processInfo.environment["CUSTOMER_HEALTH_UPDATE_DOCS"] == "1"
        for kind in ExportKind.allCases {
            let open =
                "<!-- columns of \(kind.rawValue): generated from ExportContract; CUSTOMER_HEALTH_UPDATE_DOCS=1 swift test --filter ContractDocsTests rewrites it -->"
            let close = "<!-- end of \(kind.rawValue) columns -->"
            guard let start = text.range(of: open),
                let end = text.range(of: close, range: start.upperBound..<text.endIndex)
            else {
                XCTFail(
                    "docs/data-contract.md has no generated table for \(kind.rawValue); add the lines\n\(open)\n\(close)"
                )
                continue
            }
            let expected = "\n" + kind.contract.markdownTable() + "\n"
            let found = String(text[start.upperBound..<end.lowerBound])
            if update {
                text.replaceSubrange(start.upperBound..<end.lowerBound, with: expected)
            } else {
                XCTAssertEqual(
                    found, expected, "the \(kind.rawValue) table of docs/data-contract.md differs from the contract")
            }
        }
        if update { try text.write(to: Self.doc, atomically: true, encoding: .utf8) }
    }

    /// Every YAML example of docs/pipeline.md is a valid pipeline (fragments get an `input:`).
    func testPipelineExamplesParse() throws {
        let doc = Self.doc.deletingLastPathComponent().appendingPathComponent("pipeline.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        XCTAssertGreaterThan(blocks.count, 3)
        for block in blocks {
            let yaml =
                block.contains("\ninput:") || block.hasPrefix("input:") || block.contains("version: 1\ninput")
                ? block : "input: x\n" + block
            XCTAssertNoThrow(try PipelineConfig.parse(text: yaml, file: "pipeline.md", baseDirectory: "/base"), block)
        }
    }
}
