import CustomerHealthTestSupport
import Foundation
import XCTest

/// Numbers too large to add up never crash a run: a value the parser cannot
/// hold is a `bad_value` reject, and sums saturate with a warning
/// (docs/data-contract.md, "Largest values").
final class LargeValueTests: XCTestCase {
    /// Ten savings rows of the largest amount for one customer, and hundreds of
    /// epoch-millisecond timestamps shifted into `amount` for another: both
    /// overflowed a 64-bit sum and killed `run` and `validate` (exit 132).
    func testSavingsThatAddUpPastTheLargestTotalAreHeldThereWithAWarning() throws {
        let f = try ExportsFolder()
        let largest = Array(repeating: "c1,2026-03-02,99999999999999.9999,energy", count: 10)
        let timestamps = (0..<600).map { "c3,2026-03-0\(1 + $0 % 9),\(1_764_547_200_000 + $0),energy" }
        try f.writeSample(savings: Sample.csv(Sample.savingsHeader, Sample.savingsRows + largest + timestamps))
        try f.writePipeline()
        let run = try f.run()
        XCTAssertEqual(run.status, 0, run.transcript)
        XCTAssertTrue(
            run.stderr.contains("the amounts of 2 customer(s) (first c1) add up past the largest total held"),
            run.stderr)
        let o = try f.outputs(Sample.asOf)
        for customer in ["c1", "c3"] {
            let features = try XCTUnwrap(try o.feature(customer)?["features"] as? [String: Any])
            XCTAssertEqual(
                JSON.double(features["cost_savings_achieved"]) ?? 0, 922_337_203_685_477.5807, accuracy: 1, customer)
        }
        XCTAssertEqual(try o.rejects.count, 0)
        let validate = try CLI.run(["validate", f.pipelinePath])
        XCTAssertEqual(validate.status, 0, validate.transcript)
    }

    /// Every column of every export holding extreme values (the largest
    /// integers, epoch milliseconds, far dates, NaN, inf): each row is either
    /// used or rejected and counted, and `run` and `validate` finish.
    func testExtremeValuesInEveryColumnAreUsedOrRejectedNeverACrash() throws {
        let extremes = [
            "99999999999999.9999", "999999999999999999", "9223372036854775807", "-9223372036854775808",
            "18446744073709551616", "1e308", "4294967296", "65536", "1764547200000", "9999-12-31", "0001-01-01",
            "2149-06-07", "2149-06-06T23:59:59Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00", "NaN", "inf",
            "-1",
        ]
        func csv(_ header: String, _ rows: [String]) -> String {
            let template = rows[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var out = rows
            for column in template.indices where column > 0 {
                for value in extremes {
                    var row = template
                    row[column] = value
                    out.append(row.joined(separator: ","))
                }
            }
            return Sample.csv(header, out)
        }
        var tickets = Sample.ticketsJSONL
        for key in ["opened_at", "first_response_at", "resolved_at", "priority", "status"] {
            for (i, value) in extremes.enumerated() {
                tickets +=
                    "{\"ticket_id\": \"x-\(key)-\(i)\", \"customer_id\": \"c1\", \"opened_at\": \"2026-03-10T10:00:00Z\", "
                    + "\"first_response_at\": null, \"resolved_at\": null, \"priority\": \"high\", \"status\": \"open\", \"\(key)\": \"\(value)\"}\n"
            }
        }
        let f = try ExportsFolder()
        try f.writeSample(
            accounts: csv(Sample.accountsHeader, Sample.accountsRows),
            activity: csv(Sample.activityHeader, Sample.activityRows),
            tickets: tickets, uptime: csv(Sample.uptimeHeader, Sample.uptimeRows),
            savings: csv(Sample.savingsHeader, Sample.savingsRows))
        try f.writePipeline()
        let run = try f.run()
        XCTAssertEqual(run.status, 0, run.transcript)
        try assertNothingLost(try f.outputs(Sample.asOf))
        let validate = try CLI.run(["validate", f.pipelinePath])
        XCTAssertTrue([0, 4].contains(validate.status), validate.transcript)
    }
}
