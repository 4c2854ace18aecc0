import Foundation
import XCTest

@testable import CustomerHealth

/// report.html as a file: what `run` and `replay` write, byte for byte
/// repeatable, escaped, and built from the run folder alone.
final class ReportFileTests: XCTestCase {
    func testHostileNamesAreEscapedInThePageSource() throws {
        let fixture = try ReportFixture.shared()
        let html = try String(contentsOf: fixture.report, encoding: .utf8)
        XCTAssertFalse(html.contains(ReportFixture.hostileName), "a name went into the page raw")
        XCTAssertTrue(
            html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"), "the first rows are printed escaped")
        // The data block can hold no tag: "<" is written as \u003c inside it.
        let data = try XCTUnwrap(html.range(of: #"<script type="application/json" id="report-data">"#))
        let end = try XCTUnwrap(html.range(of: "</script>", range: data.upperBound..<html.endIndex))
        XCTAssertFalse(html[data.upperBound..<end.lowerBound].contains("<"))
        XCTAssertFalse(
            html.contains("http://") && html.range(of: #"(src|href)="https?://"#, options: .regularExpression) != nil)
    }

    func testTheReportIsTheSameWhenRenderedAgainFromTheFolder() throws {
        let fixture = try ReportFixture.shared()
        let written = try Data(contentsOf: fixture.report)
        let again = try RunReport.html(folder: fixture.latest.path, outputDirectory: fixture.output.path)
        XCTAssertEqual(Data(again.utf8), written)
        XCTAssertLessThan(written.count, 600_000)
    }

    func testEachRunComparesWithTheRunBeforeIt() throws {
        let fixture = try ReportFixture.shared()
        let first = try String(
            contentsOf: fixture.output.appendingPathComponent(ReportFixture.dates[0] + "/report.html"), encoding: .utf8)
        XCTAssertTrue(first.contains("No earlier run in this output folder"))
        let last = try String(contentsOf: fixture.report, encoding: .utf8)
        XCTAssertTrue(last.contains("Changes are against the run of \(ReportFixture.dates[1])"))
        XCTAssertTrue(last.contains(#"id="movers-health-down""#))
        for date in ReportFixture.dates { XCTAssertTrue(last.contains(#""\#(date)""#), "history lacks \(date)") }
    }

    /// `--output` moves the whole run, history included.
    func testTheHistoryIsReadFromTheOutputFolderGivenOnTheCommandLine() throws {
        let fixture = try ReportFixture.shared()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ch-report-output-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.run(
            [
                "replay", fixture.pipeline.path, "--output", folder.path, "--from", ReportFixture.dates[1],
                "--to", ReportFixture.dates[2], "--every", "7d", "--quiet",
            ], timeout: 300)
        XCTAssertEqual(result.status, 0, result.transcript)
        let html = try String(
            contentsOf: folder.appendingPathComponent(ReportFixture.dates[2] + "/report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Changes are against the run of \(ReportFixture.dates[1])"))
        XCTAssertFalse(
            html.contains(#""\#(ReportFixture.dates[0])""#),
            "a run of the pipeline's own output folder is not this one's history")
    }

    /// `rescore` with the same settings writes the same scores, so the same page.
    func testRescoreWritesTheReportToo() throws {
        let fixture = try ReportFixture.shared()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ch-report-rescore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: fixture.output, to: folder)
        let result = try CLI.run(
            [
                "rescore", fixture.pipeline.path, "--output", folder.path, "--features",
                folder.appendingPathComponent(ReportFixture.dates[2] + "/features.jsonl").path, "--quiet",
            ], timeout: 300)
        XCTAssertEqual(result.status, 0, result.transcript)
        let page = folder.appendingPathComponent(ReportFixture.dates[2] + "/report.html")
        XCTAssertTrue(result.stdout.contains("report:    \(page.path)"), result.stdout)
        XCTAssertEqual(try Data(contentsOf: page), try Data(contentsOf: fixture.report))
    }

    func testThePipelineSettingTurnsTheReportOff() throws {
        let fixture = try ReportFixture.shared()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ch-report-off-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var text = try String(contentsOf: fixture.pipeline, encoding: .utf8)
        text = text.replacingOccurrences(of: "input: exports", with: "input: \(fixture.root.path)/exports")
            .replacingOccurrences(of: "output: output", with: "output: \(folder.path)/output\nreport: false")
            .replacingOccurrences(of: "model: models/", with: "model: \(fixture.root.path)/models/")
        try Data(text.utf8).write(to: folder.appendingPathComponent("p.yaml"))
        let result = try CLI.run(["run", folder.appendingPathComponent("p.yaml").path, "--quiet"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertFalse(result.stdout.contains("report:"), result.stdout)
        let files = try FileManager.default.contentsOfDirectory(
            atPath: folder.appendingPathComponent("output/latest").path)
        XCTAssertTrue(files.contains("kpis.json"))
        XCTAssertFalse(files.contains("report.html"))
    }
}
