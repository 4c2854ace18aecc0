import Foundation
import XCTest

@testable import CustomerHealth

/// The learning core on data with a known answer: y ~ Bernoulli(sigmoid(z))
/// with z a known function of the features, one of them often missing.
final class ChurnModelTests: XCTestCase {
    static func knownTable(rows: Int, seed: UInt64) -> (TrainingTable, [Double]) {
        var rng = SeededGenerator(seed: seed)
        var columns = [[Double]](repeating: [], count: 4)
        var labels: [UInt8] = []
        var truth: [Double] = []
        for _ in 0..<rows {
            let a = rng.uniform() * 4 - 2
            let b = rng.uniform() * 4 - 2
            let c = rng.uniform() < 0.3 ? Double.nan : rng.uniform()
            let d = rng.uniform()  // noise
            let z = -2.0 + 1.5 * a - 1.0 * b * b + (c.isNaN ? 0.8 : -0.5 * c)
            let p = 1 / (1 + exp(-z))
            columns[0].append(a)
            columns[1].append(b)
            columns[2].append(c)
            columns[3].append(d)
            labels.append(rng.uniform() < p ? 1 : 0)
            truth.append(p)
        }
        return (
            TrainingTable(
                featureNames: ["a", "b", "c", "noise"], columns: columns, labels: labels,
                rowIDs: (0..<rows).map(String.init)), truth
        )
    }

    static func quickParameters() -> ChurnTrainingParameters {
        var p = ChurnTrainingParameters()
        p.gradientBoosting.maxRounds = 150
        p.gradientBoosting.learningRate = 0.1
        p.randomForest.trees = 30
        return p
    }

    static let trained: (ChurnEnsemble, TrainingReport, TrainingTable, [Double]) = {
        let (train, _) = knownTable(rows: 6000, seed: 1)
        let (validation, truth) = knownTable(rows: 4000, seed: 2)
        let (model, report) = ChurnTrainer.train(train: train, validation: validation, parameters: quickParameters())
        return (model, report, validation, truth)
    }()

    func testReasonCodesSumToTheModelOutput() {
        let (model, _, validation, _) = Self.trained
        for i in stride(from: 0, to: validation.rowCount, by: 97) {
            let x = validation.row(i)
            let (bias, phi) = model.contributions(x)
            let logit = x.withUnsafeBufferPointer { model.logit($0.baseAddress!) }
            XCTAssertEqual(bias + phi.reduce(0, +), logit, accuracy: 1e-9, "row \(i)")
            XCTAssertEqual(model.probability(x), 1 / (1 + exp(-logit)), accuracy: 1e-12)
        }
        // The pure-noise feature explains little next to the real ones.
        var mean = [Double](repeating: 0, count: 4)
        for i in 0..<validation.rowCount {
            let phi = model.contributions(validation.row(i)).phi
            for j in 0..<4 { mean[j] += abs(phi[j]) }
        }
        XCTAssertLessThan(mean[3], mean[0] / 4)
    }

    func testCompiledScoringGivesTheSameLogits() {
        let (model, _, validation, _) = Self.trained
        let compiled = CompiledEnsemble(model)
        for i in stride(from: 0, to: validation.rowCount, by: 31) {
            let x = validation.row(i)
            x.withUnsafeBufferPointer { p in
                XCTAssertEqual(compiled.logit(p.baseAddress!), model.logit(p.baseAddress!), accuracy: 1e-9, "row \(i)")
            }
        }
    }

    /// Many-row scoring bins each row and walks the trees on bin indices: it
    /// must give exactly (bit for bit) the raw-value logits, missing and
    /// infinite values and values equal to bin edges included.
    func testBlockScoringOnBinsEqualsRawScoring() {
        let (model, _, validation, _) = Self.trained
        let compiled = CompiledEnsemble(model)
        XCTAssertTrue(compiled.binnable)
        let d = validation.featureCount
        var matrix = [Double](repeating: 0, count: validation.rowCount * d)
        for j in 0..<d { for i in 0..<validation.rowCount { matrix[i * d + j] = validation.columns[j][i] } }
        for i in stride(from: 0, to: validation.rowCount, by: 7) { matrix[i * d + i % d] = .nan }
        for i in stride(from: 3, to: validation.rowCount, by: 11) {
            matrix[i * d + i % d] = i % 2 == 0 ? .infinity : -.infinity
        }
        for i in stride(from: 5, to: validation.rowCount, by: 13) {
            let e = model.binner.edges[i % d]
            if !e.isEmpty { matrix[i * d + i % d] = e[i % e.count] }
        }
        for threads in [1, 3] {
            let p = model.probabilities(rows: matrix, featureCount: d, threads: threads)
            var mismatches = 0
            matrix.withUnsafeBufferPointer { m in
                for i in 0..<validation.rowCount where p[i] != Metrics.sigmoid(compiled.logit(m.baseAddress! + i * d)) {
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, "threads \(threads)")
        }
    }

    func testQualityAndCalibrationOnKnownData() throws {
        let (model, report, validation, truth) = Self.trained
        let truthAUC = try XCTUnwrap(Metrics.rocAUC(scores: truth, labels: validation.labels))
        XCTAssertGreaterThan(report.ensembleAUC, truthAUC - 0.02, "ensemble \(report.ensembleAUC) vs truth \(truthAUC)")
        let p = (0..<validation.rowCount).map { model.probability(validation.row($0)) }
        let meanPredicted = p.reduce(0, +) / Double(p.count)
        let observed = Double(validation.positives) / Double(validation.rowCount)
        XCTAssertEqual(meanPredicted, observed, accuracy: 0.01)
        for bin in Metrics.calibrationTable(probabilities: p, labels: validation.labels) where bin.count >= 300 {
            XCTAssertEqual(bin.meanPredicted, bin.observedRate, accuracy: 0.06, "bin \(bin.low)-\(bin.high)")
        }
        // Against the true probabilities themselves: close, row by row, on average.
        var absError = 0.0
        for i in 0..<p.count { absError += abs(p[i] - truth[i]) }
        XCTAssertLessThan(absError / Double(p.count), 0.05)
    }

    func testEnsembleIsNeverWorseThanItsBestMemberOnValidation() throws {
        let (model, report, validation, _) = Self.trained
        var margins: [[Double]] = [[], [], []]
        for i in 0..<validation.rowCount {
            validation.row(i).withUnsafeBufferPointer { x in
                margins[0].append(model.member(.gradientBoosting)!.margin(x.baseAddress!))
                margins[1].append(model.member(.randomForest)!.margin(x.baseAddress!))
                margins[2].append(model.member(.logisticRegression)!.margin(x.baseAddress!))
            }
        }
        for k in 0..<3 {
            let single = try XCTUnwrap(ChurnTrainer.stack([margins[k]], labels: validation.labels))
            XCTAssertLessThanOrEqual(report.logLoss, single.loss + 1e-9, "member \(k)")
        }
    }

    func testModelFileRoundTripsAndIsRefusedWhenCorrupt() throws {
        let (model, _, validation, _) = Self.trained
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.json").path
        let text = ChurnModelFile(ensemble: model, metadata: .object([("note", .string("test"))])).serialized()
        XCTAssertEqual(
            text, ChurnModelFile(ensemble: model, metadata: .object([("note", .string("test"))])).serialized())
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try ChurnModelFile.load(path: path).ensemble
        for i in stride(from: 0, to: validation.rowCount, by: 50) {
            XCTAssertEqual(loaded.probability(validation.row(i)), model.probability(validation.row(i)))
        }
        XCTAssertLessThan(text.utf8.count, 5 << 20)

        // One changed digit: the content no longer matches its hash.
        var bytes = Array(text.utf8)
        let target = text.utf8.count / 2
        var k = target
        while !(bytes[k] >= 0x30 && bytes[k] <= 0x38) { k += 1 }
        bytes[k] += 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ChurnModelFile.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("SHA-256"), "\(error)")
        }
        // Cut short.
        try Data(Array(text.utf8).prefix(text.utf8.count * 2 / 3)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ChurnModelFile.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("truncated or corrupt"), "\(error)")
        }
    }

    /// The binner's radix sort gives exactly (bit for bit, -0.0 and 0.0 in
    /// input order) what the stable `sort()` gives.
    func testRadixSortEqualsTheStableSort() {
        var rng = SeededGenerator.derive(7, 1)
        let pool: [Double] = [
            0, -0.0, 1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 1e-300, -1e300, 0.5, 3,
        ]
        for n in [10, 5000, 20_000] {
            let values: [Double] = (0..<n).map { i in
                i % 3 == 0
                    ? pool[Int(rng.next() % UInt64(pool.count))]
                    : (rng.uniform() - 0.5) * pow(10, Double(rng.next() % 40) - 20)
            }
            let expected = values.sorted().map(\.bitPattern)
            XCTAssertEqual(FeatureBinner.stableSorted(values).map(\.bitPattern), expected, "n \(n)")
        }
    }

    func testBinsAreQuantilesWithAMissingBin() {
        let (table, _) = Self.knownTable(rows: 5000, seed: 3)
        let binner = FeatureBinner.fit(table, maxBins: 254)
        XCTAssertLessThanOrEqual(binner.binCount(0), 255)
        XCTAssertGreaterThan(binner.binCount(0), 100)
        XCTAssertEqual(binner.bin(.nan, feature: 2), FeatureBinner.missingBin)
        // Quantile edges: bins hold similar numbers of rows.
        var counts = [Int](repeating: 0, count: 256)
        for v in table.columns[0] { counts[Int(binner.bin(v, feature: 0))] += 1 }
        let used = counts.filter { $0 > 0 }
        XCTAssertLessThan(Double(used.max()!) / Double(used.min()!), 4)
    }

    func testMetricsOnHandMadeScores() throws {
        XCTAssertEqual(
            try XCTUnwrap(Metrics.rocAUC(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1])), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Metrics.rocAUC(scores: [0.5, 0.5], labels: [0, 1])), 0.5, accuracy: 1e-12)
        XCTAssertEqual(
            try XCTUnwrap(Metrics.averagePrecision(scores: [0.9, 0.8, 0.7], labels: [1, 0, 1])), (1 + 2.0 / 3) / 2,
            accuracy: 1e-12)
        XCTAssertEqual(Metrics.brier(probabilities: [0.2, 0.9], labels: [0, 1]), (0.04 + 0.01) / 2, accuracy: 1e-12)
        XCTAssertNil(Metrics.rocAUC(scores: [0.1, 0.2], labels: [1, 1]))
    }

    func testRiskBands() {
        XCTAssertEqual(ChurnRisk(probability: 0.30), .low)
        XCTAssertEqual(ChurnRisk(probability: 0.31), .medium)
        XCTAssertEqual(ChurnRisk(probability: 0.60), .medium)
        XCTAssertEqual(ChurnRisk(probability: 0.61), .high)
        XCTAssertEqual(ChurnRisk(probability: 0.80), .high)
        XCTAssertEqual(ChurnRisk(probability: 0.81), .critical)
    }
}
