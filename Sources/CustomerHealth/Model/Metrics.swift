import Foundation

/// Classification metrics for churn probabilities.
public enum Metrics {
    @inline(__always)
    static func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }

    public static func logLoss(margins: [Double], labels: [UInt8]) -> Double {
        var s = 0.0
        for i in 0..<margins.count {
            let z = margins[i]
            // log(1 + e^z) - y z, computed stably.
            let softplus = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
            s += softplus - Double(labels[i]) * z
        }
        return s / Double(max(1, margins.count))
    }

    public static func logLoss(probabilities: [Double], labels: [UInt8]) -> Double {
        var s = 0.0
        for i in 0..<probabilities.count {
            let p = min(max(probabilities[i], 1e-15), 1 - 1e-15)
            s -= labels[i] == 1 ? log(p) : log(1 - p)
        }
        return s / Double(max(1, probabilities.count))
    }

    public static func brier(probabilities: [Double], labels: [UInt8]) -> Double {
        var s = 0.0
        for i in 0..<probabilities.count {
            let d = probabilities[i] - Double(labels[i])
            s += d * d
        }
        return s / Double(max(1, probabilities.count))
    }

    /// ROC AUC by ranks, ties counted half (the Mann-Whitney statistic).
    public static func rocAUC(scores: [Double], labels: [UInt8]) -> Double? {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        let positives = labels.reduce(0) { $0 + Int($1) }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j where labels[order[k]] == 1 { rankSum += rank }
            i = j + 1
        }
        return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    /// PR AUC as average precision (the step-wise area scikit-learn reports).
    public static func averagePrecision(scores: [Double], labels: [UInt8]) -> Double? {
        let positives = labels.reduce(0) { $0 + Int($1) }
        guard positives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tp = 0
        var fp = 0
        var ap = 0.0
        var i = 0
        while i < order.count {
            var j = i
            var newTP = 0
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if labels[order[j]] == 1 { newTP += 1 } else { fp += 1 }
                j += 1
            }
            tp += newTP
            if newTP > 0 { ap += Double(newTP) / Double(positives) * Double(tp) / Double(tp + fp) }
            i = j
        }
        return ap
    }

    /// The ROC curve as (false positive rate, true positive rate) points, from
    /// (0, 0) to (1, 1): one point per distinct score, highest first, so tied
    /// scores make one diagonal step and the trapezoid area under the points
    /// is `rocAUC`. Nil without both classes. At most `maxPoints` (`thinned`).
    public static func rocCurve(scores: [Double], labels: [UInt8], maxPoints: Int = 200) -> [(x: Double, y: Double)]? {
        let positives = labels.reduce(0) { $0 + Int($1) }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        var points: [(x: Double, y: Double)] = [(0, 0)]
        var tp = 0
        var fp = 0
        forEachThreshold(scores: scores, labels: labels) { newTP, newFP in
            tp += newTP
            fp += newFP
            points.append((Double(fp) / Double(negatives), Double(tp) / Double(positives)))
        }
        return thinned(points, maxPoints: maxPoints)
    }

    /// The precision-recall curve as (recall, precision) points, one per
    /// distinct score, highest first. It starts at recall 0 with the precision
    /// of the highest score, the step that `averagePrecision` sums. Nil
    /// without a positive. At most `maxPoints` (`thinned`).
    public static func precisionRecallCurve(scores: [Double], labels: [UInt8], maxPoints: Int = 200) -> [(
        x: Double, y: Double
    )]? {
        let positives = labels.reduce(0) { $0 + Int($1) }
        guard positives > 0, !scores.isEmpty else { return nil }
        var points: [(x: Double, y: Double)] = []
        var tp = 0
        var fp = 0
        forEachThreshold(scores: scores, labels: labels) { newTP, newFP in
            tp += newTP
            fp += newFP
            let precision = Double(tp) / Double(tp + fp)
            if points.isEmpty { points.append((0, precision)) }
            points.append((Double(tp) / Double(positives), precision))
        }
        return thinned(points, maxPoints: maxPoints)
    }

    /// Calls `body` with the positives and negatives at each distinct score, highest score first.
    private static func forEachThreshold(scores: [Double], labels: [UInt8], _ body: (Int, Int) -> Void) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var i = 0
        while i < order.count {
            var j = i
            var newTP = 0
            var newFP = 0
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if labels[order[j]] == 1 { newTP += 1 } else { newFP += 1 }
                j += 1
            }
            body(newTP, newFP)
            i = j
        }
    }

    /// At most `maxPoints` of a curve's points, evenly spaced along its length
    /// (not by index: a curve's points crowd where the scores do, and a plot
    /// needs them where the curve bends). The first and last points are always
    /// kept; the same points always give the same result.
    static func thinned(_ points: [(x: Double, y: Double)], maxPoints: Int) -> [(x: Double, y: Double)] {
        guard points.count > maxPoints, maxPoints >= 2 else { return points }
        var length = [Double](repeating: 0, count: points.count)
        for k in 1..<points.count {
            length[k] = length[k - 1] + abs(points[k].x - points[k - 1].x) + abs(points[k].y - points[k - 1].y)
        }
        let total = length[points.count - 1]
        var kept: [(x: Double, y: Double)] = [points[0]]
        var next = 1
        for k in 1..<(points.count - 1) {
            // The first point at or past each of the maxPoints - 2 marks inside the curve.
            guard next < maxPoints - 1, length[k] >= total * Double(next) / Double(maxPoints - 1) else { continue }
            kept.append(points[k])
            while next < maxPoints - 1 && length[k] >= total * Double(next) / Double(maxPoints - 1) { next += 1 }
        }
        kept.append(points[points.count - 1])
        return kept
    }

    /// Predicted against observed churn in ten bins of predicted probability.
    public static func calibrationTable(probabilities: [Double], labels: [UInt8], bins: Int = 10) -> [(
        low: Double, high: Double, count: Int, meanPredicted: Double, observedRate: Double
    )] {
        var count = [Int](repeating: 0, count: bins)
        var sumP = [Double](repeating: 0, count: bins)
        var sumY = [Double](repeating: 0, count: bins)
        for i in 0..<probabilities.count {
            let b = min(bins - 1, Int(probabilities[i] * Double(bins)))
            count[b] += 1
            sumP[b] += probabilities[i]
            sumY[b] += Double(labels[i])
        }
        return (0..<bins).map { b in
            (
                Double(b) / Double(bins), Double(b + 1) / Double(bins), count[b],
                count[b] > 0 ? sumP[b] / Double(count[b]) : 0, count[b] > 0 ? sumY[b] / Double(count[b]) : 0
            )
        }
    }
}
