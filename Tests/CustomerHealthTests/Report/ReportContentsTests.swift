import Foundation
import XCTest

@testable import CustomerHealth

/// What the report page is made of: the pinned Chart.js release inlined,
/// and the outputs it needs listed with it.
final class ReportContentsTests: XCTestCase {
    func testTheInlinedChartJSIsThePinnedRelease() {
        XCTAssertEqual(
            ChurnModelFile.hash(ChartJSSource.text), ChartJSSource.sha256,
            "ChartJSSource.swift no longer holds ThirdParty/chart.js/chart.min.js: run embed.sh")
        XCTAssertEqual(ChartJSSource.version, "3.9.1")
        XCTAssertTrue(ChartJSSource.text.hasPrefix("/*!\n * Chart.js v3.9.1"))
    }

    func testTheReportNeedsTheFilesItIsMadeFrom() {
        XCTAssertThrowsError(try PublishedOutput.parseList("kpis,report")) { error in
            XCTAssertTrue("\(error)".contains("scores,kpis,at-risk,report"), "\(error)")
        }
        XCTAssertNoThrow(try PublishedOutput.parseList("scores,kpis,at-risk,report"))
    }
}
