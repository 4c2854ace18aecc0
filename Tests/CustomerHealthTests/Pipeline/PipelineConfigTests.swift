import Foundation
import XCTest

@testable import CustomerHealth

/// The pipeline file: every mistake is an error that names where it is (exit 2).
final class PipelineConfigTests: XCTestCase {
    private func parse(_ text: String) throws -> PipelineConfig {
        try PipelineConfig.parse(text: text, file: "test.yaml", baseDirectory: "/base")
    }

    private func assertError(
        _ text: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try parse(text), file: file, line: line) { error in
            guard let e = error as? CustomerHealthError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(e.exitCode, 2, file: file, line: line)
            let message = e.description
            XCTAssertTrue(message.hasPrefix("test.yaml"), message, file: file, line: line)
            for part in parts {
                XCTAssertTrue(
                    message.contains(part), "\"\(message)\" should contain \"\(part)\"", file: file, line: line)
            }
        }
    }

    func testTheCommittedNightlyPipelineParses() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let config = try PipelineConfig.load(path: repo.appendingPathComponent("pipelines/nightly.yaml").path)
        XCTAssertEqual(config.scoring.weightUsage, 0.30)
        XCTAssertEqual(config.scoring.weightEngagement, 0.25)
        XCTAssertEqual(config.scoring.weightSatisfaction, 0.25)
        XCTAssertEqual(config.scoring.weightValue, 0.20)
        XCTAssertEqual(config.maxRejectRatio, 0.001)
        XCTAssertEqual(config.onCorruptFile, .fail)
        XCTAssertTrue(config.inputDirectory.hasSuffix("sample-data/exports"), config.inputDirectory)
    }

    func testDefaultsAndRelativePaths() throws {
        let c = try parse("input: exports\n")
        XCTAssertEqual(c.inputDirectory, "/base/exports")
        XCTAssertEqual(c.outputDirectory, "/base/output")
        XCTAssertEqual(c.asOf, .latestActivity)
        XCTAssertEqual(c.maxRejectRatio, 0.001)
        XCTAssertEqual(c.onCorruptFile, .fail)
        XCTAssertEqual(c.scoring, ScoringSettings())
        XCTAssertEqual(
            try parse("input: /abs/in\noutput: /abs/out\nas_of: 2026-03-31\n").asOf, .date(CalendarDay("2026-03-31")!))
    }

    func testUnknownTopLevelKeyIsNamed() {
        assertError("input: exports\ntreads: 2\n", contains: ["unknown setting \"treads\"", "threads"])
    }

    /// The keys an unknown-key error lists are the section's declared keys
    /// (SettingsDeclarations.swift), in every section.
    func testEveryDeclaredSectionListsItsKeysForAnUnknownOne() {
        for section in PipelineConfig.declaredSettings {
            var yaml = "input: exports\n"
            var indent = ""
            for part in section.path.split(separator: ".") where !section.path.isEmpty {
                yaml += "\(indent)\(part == "<name>" ? "activity" : part):\n"
                indent += "  "
            }
            yaml += "\(indent)zz_unknown: 1\n"
            let known = section.keys.map(\.name).sorted().joined(separator: ", ")
            let path = section.path.replacingOccurrences(of: "<name>", with: "activity")
            assertError(
                yaml,
                contains: [
                    "\(path.isEmpty ? "" : path + ".")zz_unknown: unknown setting \"zz_unknown\"; known settings here: \(known)"
                ])
        }
    }

    func testUnknownNestedKeyIsNamedWithItsPath() {
        assertError(
            """
            input: exports
            scoring:
              weights: {usage: 0.3, engagement: 0.25, satisfaction: 0.25, value_realization: 0.2, loyalty: 0}
            """, contains: ["scoring.weights.loyalty", "unknown setting \"loyalty\""])
        assertError("input: exports\nexports:\n  activity:\n    glob: \"*.csv\"\n", contains: ["exports.activity.glob"])
        assertError("input: exports\nexports:\n  events: {files: \"x\"}\n", contains: ["unknown export \"events\""])
    }

    func testWeightsMustAddUpToOne() {
        assertError(
            "input: exports\nscoring:\n  weights: {usage: 0.5}\n", contains: ["scoring.weights", "add up to 1"])
        XCTAssertNoThrow(
            try parse(
                "input: exports\nscoring:\n  weights: {usage: 0.1, engagement: 0.2, satisfaction: 0.3, value_realization: 0.4}\n"
            ))
    }

    func testMissingInputIsAnError() {
        assertError("output: out\n", contains: ["missing setting \"input\""])
        assertError("", contains: ["input"])
    }

    func testBadValuesAreNamed() {
        assertError(
            "input: x\nmax_reject_ratio: lots\n", contains: ["max_reject_ratio", "expected a number", "\"lots\""])
        assertError("input: x\nmax_reject_ratio: 2\n", contains: ["max_reject_ratio", "between"])
        assertError("input: x\non_corrupt_file: ignore\n", contains: ["on_corrupt_file", "fail or skip"])
        assertError("input: x\nas_of: yesterday\n", contains: ["as_of", "yesterday"])
        assertError("input: x\nexports:\n  activity:\n    delimiter: colon\n", contains: ["delimiter", "colon"])
        assertError(
            "input: x\nexports:\n  activity:\n    timestamp_format: \"dd/MMM/yyyy\"\n", contains: ["timestamp_format"])
        assertError(
            "input: x\nexports:\n  activity:\n    columns: {customer: ref}\n",
            contains: ["\"customer\" is not a column of the activity export"])
        assertError(
            "input: x\nscoring:\n  status: {excellent: 60, good: 70}\n", contains: ["scoring.status", "decrease"])
        assertError("input: x\nscoring:\n  priority:\n    at_risk: [urgent]\n", contains: ["urgent"])
        assertError("input: [x\n", contains: ["not valid YAML"])
        assertError("- just\n- a list\n", contains: ["mapping"])
    }

    func testErrorsGiveTheLineInTheFile() {
        assertError("input: exports\nthreads: 2\nmax_reject_ratio: high\n", contains: ["line 3"])
    }

    func testChurnHyperparametersAndRetrainingAreSettings() throws {
        let c = try parse(
            """
            input: exports
            churn:
              model: models/m.json
              retrain_every: 3m
              gradient_boosting: {learning_rate: 0.1, max_rounds: 50, max_depth: 3, l2: 2, row_subsample: 1, early_stopping_rounds: 5}
              random_forest: {trees: 20, max_depth: 6, features_per_split: 4}
              logistic_regression: {l2: 0.5}
              seed: 7
            """)
        let t = c.churn.training
        XCTAssertEqual(t.gradientBoosting.learningRate, 0.1)
        XCTAssertEqual(t.gradientBoosting.maxRounds, 50)
        XCTAssertEqual(t.gradientBoosting.maxDepth, 3)
        XCTAssertEqual(t.gradientBoosting.lambda, 2)
        XCTAssertEqual(t.gradientBoosting.rowSubsample, 1)
        XCTAssertEqual(t.gradientBoosting.earlyStoppingRounds, 5)
        XCTAssertEqual(
            t.gradientBoosting.minLeafRows, GradientBoostingParameters().minLeafRows, "left out: the default")
        XCTAssertEqual(t.randomForest.trees, 20)
        XCTAssertEqual(t.randomForest.featuresPerSplit, 4)
        XCTAssertEqual(t.logisticLambda, 0.5)
        XCTAssertEqual(t.seed, 7)
        XCTAssertEqual(c.churn.retrainEvery, .months(3))
        XCTAssertEqual(c.churn.historyModelsFolder, "/base/models/m.history")
        // Another setting gives another fingerprint, so cached point-in-time models are retrained.
        var other = c.churn
        other.training.gradientBoosting.maxDepth = 4
        XCTAssertNotEqual(
            other.trainingFingerprint(windowDays: 30, definition: c.churnDefinition, events: c.events),
            c.churn.trainingFingerprint(windowDays: 30, definition: c.churnDefinition, events: c.events))
        assertError(
            "input: x\nchurn:\n  gradient_boosting: {max_depht: 3}\n",
            contains: ["churn.gradient_boosting", "max_depht"])
        assertError("input: x\nchurn:\n  random_forest: {trees: 0}\n", contains: ["trees"])
        assertError("input: x\nchurn:\n  retrain_every: weekly\n", contains: ["retrain_every", "weekly"])
    }

    func testWatchSettings() throws {
        let c = try parse(
            "input: x\nwatch: {min_score_delta: 2.5, settle_seconds: 0, poll_seconds: 0.2, heartbeat_seconds: 10, state: st}\n"
        )
        XCTAssertEqual(c.watch.minScoreDelta, 2.5)
        XCTAssertEqual(c.watch.settleSeconds, 0)
        XCTAssertEqual(c.watch.pollSeconds, 0.2)
        XCTAssertEqual(c.watch.heartbeatSeconds, 10)
        XCTAssertEqual(c.watch.stateDirectory, "/base/st")
        XCTAssertEqual(try parse("input: x\n").watch, WatchSettings())
        assertError("input: x\nwatch: {heartbeat: 5}\n", contains: ["watch.heartbeat"])
        assertError("input: x\nwatch: {poll_seconds: 0}\n", contains: ["poll_seconds"])
    }
}
