import CustomerHealthTestSupport
import Foundation
import XCTest

/// `replay` writes, for each date, what `run --as-of DATE` writes.
final class ReplayTests: XCTestCase {
    /// The synthetic exports with their pipeline file, in a folder of their own.
    private func exports() throws -> ExportsFolder {
        let f = try ExportsFolder()
        try SyntheticExports.write(to: f)
        try f.writePipeline()
        return f
    }

    func testReplayedDatesMatchSingleRuns() throws {
        let f = try exports()
        let replayOut = f.root.appendingPathComponent("replay")
        let r = try CLI.run([
            "replay", f.pipelinePath, "--quiet", "--from", "2026-03-01", "--to", "2026-03-29", "--every", "14d",
            "--output", replayOut.path, "--threads", "2",
        ])
        XCTAssertEqual(r.status, 0, r.transcript)
        for date in ["2026-03-01", "2026-03-15", "2026-03-29"] {
            let single = f.root.appendingPathComponent("single-\(date)")
            XCTAssertEqual(
                try CLI.run(["run", f.pipelinePath, "--quiet", "--as-of", date, "--output", single.path]).status, 0)
            for name in ["scores.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "features.jsonl", "rejects.jsonl"]
            {
                XCTAssertEqual(
                    try Data(contentsOf: replayOut.appendingPathComponent("\(date)/\(name)")),
                    try Data(contentsOf: single.appendingPathComponent("\(date)/\(name)")), "\(date)/\(name)")
            }
        }
        XCTAssertEqual(linkTarget(replayOut.appendingPathComponent("latest")), "2026-03-29")
    }

    /// `--outputs` writes only the files named (the same bytes as a full
    /// replay's), marks the folder partial, and never moves `latest` to it.
    func testReplayWritesOnlyTheOutputsAskedFor() throws {
        let f = try exports()
        let out = f.root.appendingPathComponent("replay")
        let full = try CLI.run([
            "replay", f.pipelinePath, "--quiet", "--from", "2026-03-01", "--to", "2026-03-15", "--every", "14d",
            "--output", out.path,
        ])
        XCTAssertEqual(full.status, 0, full.transcript)
        let fullScores = try Data(contentsOf: out.appendingPathComponent("2026-03-15/scores.jsonl"))
        let fullKPIs = try Data(contentsOf: out.appendingPathComponent("2026-03-15/kpis.json"))

        let partial = try CLI.run([
            "replay", f.pipelinePath, "--quiet", "--from", "2026-03-15", "--to", "2026-03-29", "--every", "14d",
            "--output", out.path, "--outputs", "scores,kpis",
        ])
        XCTAssertEqual(partial.status, 0, partial.transcript)
        XCTAssertTrue(partial.stdout.contains("features "), partial.stdout)
        XCTAssertTrue(partial.stdout.contains("per date: features"), partial.stdout)
        for date in ["2026-03-15", "2026-03-29"] {
            let folder = out.appendingPathComponent(date).path
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            XCTAssertEqual(names, [".partial", "kpis.json", "manifest.json", "metrics.prom", "scores.jsonl"], date)
            let manifest =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))) as? [String: Any]
            XCTAssertEqual(manifest?["outputs"] as? [String], ["scores", "kpis"])
        }
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("2026-03-15/scores.jsonl")), fullScores)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("2026-03-15/kpis.json")), fullKPIs)
        XCTAssertEqual(
            linkTarget(out.appendingPathComponent("latest")), "2026-03-01",
            "latest points at the newest complete folder, not at the partial ones")

        let bad = try CLI.run([
            "replay", f.pipelinePath, "--from", "2026-03-15", "--to", "2026-03-29", "--outputs", "scores,charts",
        ])
        XCTAssertEqual(bad.status, 2, bad.transcript)
        XCTAssertTrue(bad.stderr.contains("unknown output \"charts\""), bad.transcript)
    }

    /// `--gzip` writes each data file as `<name>.gz`: the same bytes once
    /// inflated, the folder marked partial.
    func testReplayCompressesTheOutputsWhenAsked() throws {
        let f = try exports()
        let plain = f.root.appendingPathComponent("plain")
        let gz = f.root.appendingPathComponent("gz")
        let args = [
            "replay", f.pipelinePath, "--quiet", "--from", "2026-03-15", "--to", "2026-03-29", "--every", "14d",
            "--threads", "2",
        ]
        XCTAssertEqual(try CLI.run(args + ["--output", plain.path]).status, 0)
        let r = try CLI.run(args + ["--output", gz.path, "--gzip"])
        XCTAssertEqual(r.status, 0, r.transcript)
        let folder = gz.appendingPathComponent("2026-03-29").path
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
            [
                ".partial", "at-risk.csv.gz", "at-risk.json.gz", "features.jsonl.gz", "kpis.json.gz", "manifest.json",
                "metrics.prom",
                "rejects.jsonl.gz", "report.html", "scores.jsonl.gz",
            ])
        for name in ["scores.jsonl", "features.jsonl", "at-risk.json", "at-risk.csv", "kpis.json", "rejects.jsonl"] {
            let inflated = try SyntheticGenTestSupport.run(["sh", "-c", "gzip -dc '\(folder)/\(name).gz'"]).output
            XCTAssertEqual(inflated, try Data(contentsOf: plain.appendingPathComponent("2026-03-29/\(name)")), name)
        }
        // The report stays plain HTML, made from the compressed files: the same page.
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: folder + "/report.html")),
            try Data(contentsOf: plain.appendingPathComponent("2026-03-29/report.html")))
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json")))
            as? [String: Any]
        XCTAssertEqual(manifest?["compression"] as? String, "gzip")
        XCTAssertNil(linkTarget(gz.appendingPathComponent("latest")), "no complete plain folder: no latest")
    }
}
