import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The churn model through the real executable: train, run, replay,
/// backtest, table training, and the ways a model is refused.
final class ChurnPipelineTests: XCTestCase {
    /// The shared generated exports and `main.yaml`, trained once (`ChurnPipelineFixture`).
    var fixture: ChurnPipelineFixture!
    var folder: URL { fixture.folder }

    override func setUpWithError() throws {
        fixture = try ChurnPipelineFixture.shared()
    }

    func pipeline(_ name: String, churn: String) throws -> String {
        try ChurnPipelineFixture.writePipeline(in: folder, name, churn: churn)
    }

    func file(_ relative: String) -> String { folder.appendingPathComponent(relative).path }

    func testTrainRunReplayAndBacktest() throws {
        let p = fixture.pipeline
        let trained = fixture.train
        XCTAssertEqual(trained.status, 0, trained.transcript)
        XCTAssertTrue(trained.stdout.contains("ROC AUC"), trained.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file("models/main.report.json")))

        let run = try CLI.run(["run", p, "--quiet"])
        XCTAssertEqual(run.status, 0, run.transcript)
        let scores = try String(contentsOfFile: file("out-main/latest/scores.jsonl"), encoding: .utf8)
        let first = try XCTUnwrap(scores.split(separator: "\n").first)
        let line = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        let probability = try XCTUnwrap(line["churn_probability"] as? Double)
        XCTAssertNotNil(line["churn_risk"] as? String)
        XCTAssertEqual((line["reason_codes"] as? [Any])?.count, 3)
        let health = try XCTUnwrap(line["health_score"] as? Double)
        let priority = ((line["recommendations"] as? [String: Any])?["intervention_priority"] as? String)
        let expected =
            probability > 0.7 || health < 25
            ? "critical"
            : probability > 0.5 || health < 50
                ? "high"
                : probability > 0.3 || health < 70 ? "medium" : "low"
        XCTAssertEqual(priority, expected)
        let kpis = try String(contentsOfFile: file("out-main/latest/kpis.json"), encoding: .utf8)
        XCTAssertTrue(kpis.contains("avg_churn_probability"))
        let manifest = try String(contentsOfFile: file("out-main/latest/manifest.json"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("churn_model"))

        // Replay gives each date exactly what run --as-of gives.
        let replay = try CLI.run([
            "replay", p, "--from", "2026-10-01", "--to", "2026-10-15", "--every", "7d", "--output", file("replayed"),
            "--quiet",
        ])
        XCTAssertEqual(replay.status, 0, replay.transcript)
        let single = try CLI.run(["run", p, "--as-of", "2026-10-08", "--output", file("single"), "--quiet"])
        XCTAssertEqual(single.status, 0, single.transcript)
        for name in ["scores.jsonl", "kpis.json", "at-risk.json", "features.jsonl"] {
            XCTAssertEqual(
                try Data(contentsOf: URL(fileURLWithPath: file("replayed/2026-10-08/\(name)"))),
                try Data(contentsOf: URL(fileURLWithPath: file("single/2026-10-08/\(name)"))), name)
        }

        // Rescore reproduces the churn fields from features.jsonl's model_inputs,
        // with the same point-in-time model for the past day.
        for folder in ["out-main/latest", "single/2026-10-08"] {
            let original = try Data(contentsOf: URL(fileURLWithPath: file("\(folder)/scores.jsonl")))
            let rescoreOut = file("rescored-\(folder.replacingOccurrences(of: "/", with: "-"))")
            let rescored = try CLI.run([
                "rescore", p, "--quiet", "--features", file("\(folder)/features.jsonl"), "--output", rescoreOut,
            ])
            XCTAssertEqual(rescored.status, 0, rescored.transcript)
            XCTAssertEqual(
                try Data(contentsOf: URL(fileURLWithPath: rescoreOut + "/latest/scores.jsonl")), original,
                "\(folder): rescore changed scores.jsonl")
        }
        // Features written without the model's inputs cannot be rescored with a model.
        let stripped =
            try String(contentsOfFile: file("single/2026-10-08/features.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line -> String in
                guard let r = line.range(of: ", \"model_inputs\":") else { return String(line) }
                return String(line[..<r.lowerBound]) + "}"
            }.joined(separator: "\n") + "\n"
        try stripped.write(toFile: file("stripped-features.jsonl"), atomically: true, encoding: .utf8)
        let refused = try CLI.run([
            "rescore", p, "--quiet", "--features", file("stripped-features.jsonl"), "--output",
            file("rescored-stripped"),
        ])
        XCTAssertEqual(refused.status, 3, refused.transcript)
        XCTAssertTrue(refused.stderr.contains("model_inputs"), refused.stderr)

        let backtest = try CLI.run(["backtest", p, "--predictions", file("single/2026-10-08"), "--quiet"])
        XCTAssertEqual(backtest.status, 0, backtest.transcript)
        XCTAssertTrue(backtest.stdout.contains("roc_auc"), backtest.stdout)
    }

    /// The model `train` writes on all cores (the shared training of
    /// main.yaml) is the model it writes on one.
    func testTrainingIsIdenticalOnOneCore() throws {
        XCTAssertEqual(fixture.train.status, 0, fixture.train.transcript)
        let allCores = fixture.model
        XCTAssertFalse(allCores.isEmpty, "train wrote models/main.json")
        let model = URL(fileURLWithPath: file("models/main.json"))
        // The other tests read the shared model: leave it as it was trained.
        defer { try? allCores.write(to: model) }
        // taskset leaves one CPU, so Dispatch runs every parallel loop on one thread.
        let binary = try CLI.binary().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        process.arguments = ["-c", "0", binary, "train", fixture.pipeline, "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(try Data(contentsOf: model), allCores)
    }

    func testMissingCorruptAndMismatchedModelsStopTheRun() throws {
        let p = try pipeline(
            "refuse",
            churn: """
                  model: models/refuse.json
                  if_missing: stop
                """)
        let missing = try CLI.run(["run", p, "--quiet"])
        XCTAssertEqual(missing.status, 3, missing.transcript)
        XCTAssertTrue(missing.stderr.contains("customer-health train"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file("out-refuse/latest")))

        // A model trained on another table: its features do not match.
        let table = file("table.csv")
        var csv = "id,label,x,kind\n"
        for i in 0..<400 {
            csv +=
                "\(i),\(i % 3 == 0 ? "yes" : "no"),\(Double(i % 3 == 0 ? 1 : 0) + Double(i % 7) / 7),\(i % 2 == 0 ? "a" : "b")\n"
        }
        try csv.write(toFile: table, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: file("models"), withIntermediateDirectories: true)
        let trained = try CLI.run([
            "train", "--table", table, "--label", "label", "--id", "id", "--model", file("models/refuse.json"),
            "--quiet",
        ])
        XCTAssertEqual(trained.status, 0, trained.transcript)
        let evaluated = try CLI.run(["evaluate", "--table", table, "--model", file("models/refuse.json")])
        XCTAssertEqual(evaluated.status, 0, evaluated.transcript)
        XCTAssertTrue(evaluated.stdout.contains("roc_auc"), evaluated.stdout)
        let mismatch = try CLI.run(["run", p, "--quiet"])
        XCTAssertEqual(mismatch.status, 3, mismatch.transcript)
        XCTAssertTrue(
            mismatch.stderr.contains("the model reads x, kind=a, kind=b, which this customer-health does not compute"),
            mismatch.stderr)

        // A truncated model file.
        let text = try Data(contentsOf: URL(fileURLWithPath: file("models/refuse.json")))
        try text.prefix(text.count / 2).write(to: URL(fileURLWithPath: file("models/refuse.json")))
        let corrupt = try CLI.run(["run", p, "--quiet"])
        XCTAssertEqual(corrupt.status, 3, corrupt.transcript)
        XCTAssertTrue(corrupt.stderr.contains("truncated or corrupt"), corrupt.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file("out-refuse/latest")))
    }

    /// A past day is never scored with a model that saw data after it: it
    /// gets a point-in-time model trained only on data up to its retraining
    /// date, so late churn and late events leave every output of the day as
    /// it was, even after the pipeline's own model has learned from them.
    func testPastDaysUseModelsThatSawNothingAfterThem() throws {
        let fm = FileManager.default
        let exports = folder.appendingPathComponent("leak-exports")
        try? fm.removeItem(at: exports)
        try fm.copyItem(at: folder.appendingPathComponent("data/exports"), to: exports)
        let p = try pipeline(
            "leak",
            churn: """
                  model: models/leak.json
                  if_missing: train
                  min_positives: 10
                  on_insufficient_data: warn
                  validation_dates: 1
                  retrain_every: 1m
                """)
        try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(
            of: "input: data/exports", with: "input: leak-exports"
        )
        .write(toFile: p, atomically: true, encoding: .utf8)
        let day = "2026-10-20"
        let compared = ["scores.jsonl", "kpis.json", "at-risk.json", "at-risk.csv", "features.jsonl"]
        func outputs(_ name: String) throws -> [String: Data] {
            let r = try CLI.run(["run", p, "--quiet", "--as-of", day, "--output", file(name)])
            XCTAssertEqual(r.status, 0, r.transcript)
            var out: [String: Data] = [:]
            for n in compared + ["manifest.json"] {
                out[n] = try Data(contentsOf: URL(fileURLWithPath: file("\(name)/\(day)/\(n)")))
            }
            return out
        }
        func churnModel(_ manifest: Data?) throws -> [String: Any] {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: XCTUnwrap(manifest)) as? [String: Any])
            return try XCTUnwrap(object["churn_model"] as? [String: Any])
        }
        let before = try outputs("leak-before")
        let model = try churnModel(before["manifest.json"])
        XCTAssertEqual(model["point_in_time"] as? Bool, true)
        XCTAssertEqual(model["data_through"] as? String, "2026-10-01", "1m retrains on month starts")
        XCTAssertEqual(model["file"] as? String, "leak.history/through-2026-10-01.json")
        XCTAssertTrue(
            String(decoding: try XCTUnwrap(before["scores.jsonl"]), as: UTF8.self).contains("\"churn_probability\""))
        XCTAssertFalse(
            fm.fileExists(atPath: file("models/leak.json")), "a past day alone does not need the pipeline's model")
        XCTAssertEqual(try CLI.run(["train", p, "--quiet"]).status, 0)
        let mainBefore = try Data(contentsOf: URL(fileURLWithPath: file("models/leak.json")))

        // Plant the future: a later accounts snapshot in which 150 customers
        // churn after the day, and a burst of activity after it.
        let accounts = try SyntheticGenTestSupport.gunzip(exports.appendingPathComponent("accounts.csv.gz"))
        var lines = accounts.split(separator: "\n").map(String.init)
        var churned = 0
        for i in 1..<lines.count where churned < 150 {
            var fields = lines[i].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 11, fields[5].isEmpty, fields[4] < "2026-06-01" else { continue }
            fields[5] = "2026-11-0\(1 + churned % 9)"
            lines[i] = fields.joined(separator: ",")
            churned += 1
        }
        XCTAssertEqual(churned, 150)
        try (lines.joined(separator: "\n") + "\n").write(
            to: exports.appendingPathComponent("accounts2.csv"), atomically: true, encoding: .utf8)
        var activity = "customer_id,user_id,occurred_at,event_type,feature,duration_s\n"
        for i in 1...300 {
            activity += "cust_\(String(format: "%06d", i)),late-\(i),2026-10-2\(1 + i % 9)T10:00:00Z,login,,60\n"
        }
        try activity.write(to: exports.appendingPathComponent("activity-late.csv"), atomically: true, encoding: .utf8)

        XCTAssertEqual(try CLI.run(["train", p, "--quiet"]).status, 0)
        let mainAfter = try Data(contentsOf: URL(fileURLWithPath: file("models/leak.json")))
        XCTAssertNotEqual(mainAfter, mainBefore, "the planted data reached the pipeline's model")
        // Train the day's model again from the planted data, not from the cache.
        try fm.removeItem(atPath: file("models/leak.history"))
        let after = try outputs("leak-after")
        for name in compared {
            XCTAssertEqual(after[name], before[name], "\(name) of \(day) changed after planting later data")
        }
        XCTAssertEqual(try churnModel(after["manifest.json"])["sha256"] as? String, model["sha256"] as? String)

        // The newest day uses the pipeline's model.
        let latest = try CLI.run(["run", p, "--quiet", "--output", file("leak-latest")])
        XCTAssertEqual(latest.status, 0, latest.transcript)
        let newest = try churnModel(
            try Data(contentsOf: URL(fileURLWithPath: file("leak-latest/latest/manifest.json"))))
        XCTAssertEqual(newest["point_in_time"] as? Bool, false)
        XCTAssertEqual(newest["file"] as? String, "leak.json")
    }

    /// Month-end observation dates, every month or every nth, counted back
    /// from the latest month end with a full horizon after it.
    func testMonthEndObservationDates() throws {
        for (step, expected) in [
            ("1m", ["2026-06-30", "2026-07-31", "2026-08-31", "2026-09-30"]), ("2m", ["2026-07-31", "2026-09-30"]),
        ] {
            let p = try pipeline(
                "months-\(step)",
                churn: """
                      model: models/months-\(step).json
                      observe_every: \(step)
                      min_positives: 5
                      on_insufficient_data: warn
                      validation_dates: 1
                    """)
            let table = file("months-\(step).csv")
            let r = try CLI.run(["train", p, "--quiet", "--export-table", table])
            XCTAssertEqual(r.status, 0, r.transcript)
            let dates = Set(
                try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").dropFirst()
                    .map { String($0.split(separator: ",", omittingEmptySubsequences: false)[1]) })
            XCTAssertEqual(dates.sorted(), expected, step)
        }
    }
}
