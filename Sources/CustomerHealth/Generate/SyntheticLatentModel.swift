import Foundation

/// The hidden process behind the synthetic exports (documented in
/// docs/generator.md; keep the two in step).
///
/// Hidden health lives on the grid 0, 0.01, ..., 1 (index 0...100), so the
/// daily dynamics are a finite Markov chain per (baseline, infrastructure
/// class), and the 30-day churn probability written to truth.csv.gz is
/// computed exactly by dynamic programming over that chain.
enum SyntheticLatentModel {
    /// Grid index of h = 1.
    static let top = 100
    /// Fraction of the gap to the baseline closed each day.
    static let reversion = 0.04
    /// Daily noise: a discretised normal with this sd (grid steps), cut at +-6 steps.
    static let noiseSigma = 1.5
    static let noiseRadius = 6
    /// Daily probability of a negative shock of 10...30 steps (uniform).
    static let shockDownProbability = 0.006
    static let shockDown = -30 ... -10
    /// Daily probability of a positive shock of 5...15 steps (uniform).
    static let shockUpProbability = 0.003
    static let shockUp = 5...15
    /// Days simulated (without churn) before a customer's first subscribed day in the window.
    static let burnInDays = 60
    /// Daily churn hazard: logistic(intercept + slope * h).
    static let hazardIntercept = -2.0
    static let hazardSlope = -11.0
    /// Days ahead covered by `churn_probability_30d`.
    static let horizon = 30

    /// Uptime levels 0...3 and the health penalty (grid steps) of each.
    static let penaltySteps: [Int] = [0, 1, 2, 4]
    /// P(level 1), P(level 2), P(level 3) per infrastructure class
    /// (0 stable, 1 average, 2 flaky); level 0 takes the rest.
    static let levelProbabilities: [[Double]] = [
        [0.02, 0.005, 0.001],
        [0.05, 0.020, 0.005],
        [0.12, 0.060, 0.020],
    ]

    /// Offsets of the daily step's random part (noise or shock), -30...15.
    static let stepOffsets: [Int] = Array(-30...15)

    /// Cumulative probabilities of `stepOffsets`; the last is exactly 1.
    static let stepCDF: [Double] = {
        var pmf = [Double](repeating: 0, count: stepOffsets.count)
        let first = stepOffsets[0]
        var gauss: [Double] = []
        for z in -noiseRadius...noiseRadius {
            gauss.append(exp(-Double(z * z) / (2 * noiseSigma * noiseSigma)))
        }
        let gaussTotal = gauss.reduce(0, +)
        let calm = 1 - shockDownProbability - shockUpProbability
        for (k, z) in (-noiseRadius...noiseRadius).enumerated() {
            pmf[z - first] += calm * gauss[k] / gaussTotal
        }
        for z in shockDown { pmf[z - first] += shockDownProbability / Double(shockDown.count) }
        for z in shockUp { pmf[z - first] += shockUpProbability / Double(shockUp.count) }
        var cdf = [Double](repeating: 0, count: pmf.count)
        var running = 0.0
        for k in 0..<pmf.count {
            running += pmf[k]
            cdf[k] = running
        }
        cdf[cdf.count - 1] = 1
        return cdf
    }()

    /// The probabilities the sampler actually realises (differences of `stepCDF`).
    static let stepPMF: [Double] = {
        var pmf = [Double](repeating: 0, count: stepCDF.count)
        var previous = 0.0
        for k in 0..<stepCDF.count {
            pmf[k] = stepCDF[k] - previous
            previous = stepCDF[k]
        }
        return pmf
    }()

    /// Daily churn probability at each grid index.
    static let hazard: [Double] = (0...top).map { i in
        let h = Double(i) / Double(top)
        return 1 / (1 + exp(-(hazardIntercept + hazardSlope * h)))
    }

    /// The uptime level of a day from a uniform draw.
    @inline(__always)
    static func level(_ u: Double, infraClass: Int) -> Int {
        let p = levelProbabilities[infraClass]
        if u < p[0] { return 1 }
        if u < p[0] + p[1] { return 2 }
        if u < p[0] + p[1] + p[2] { return 3 }
        return 0
    }

    /// Mean of the next index before rounding: reversion toward the baseline
    /// minus the uptime penalty.
    @inline(__always)
    static func target(_ i: Int, baseline: Int, penalty: Int) -> Double {
        Double(i) + reversion * Double(baseline - i) - Double(penalty)
    }

    /// One day of the chain: floor(m) + Bernoulli(frac(m)) + Z, clamped to 0...100,
    /// with u1 choosing the rounding and u2 the step Z (inverse CDF).
    @inline(__always)
    static func transition(_ i: Int, baseline: Int, penalty: Int, u1: Double, u2: Double) -> Int {
        let m = target(i, baseline: baseline, penalty: penalty)
        let f = m.rounded(.down)
        var next = Int(f) + (u1 < m - f ? 1 : 0)
        next += stepOffset(u2)
        return min(top, max(0, next))
    }

    @inline(__always)
    static func stepOffset(_ u: Double) -> Int {
        let cdf = stepCDF
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if u < cdf[mid] { hi = mid } else { lo = mid + 1 }
        }
        return stepOffsets[lo]
    }

    /// P(churn within the next `horizon` days | h index today, end of day) for
    /// every index 0...100, for one (baseline, infrastructure class).
    ///
    /// S_0 = 1; S_k(i) = E[(1 - hazard(j)) * S_{k-1}(j)] over tomorrow's j,
    /// mixing the uptime levels with their probabilities; the answer is 1 - S_horizon.
    static func churnProbabilities(baseline: Int, infraClass: Int, horizon: Int = horizon) -> [Double] {
        let pmf = stepPMF
        let offsets = stepOffsets
        let p = levelProbabilities[infraClass]
        let levelWeights = [1 - p[0] - p[1] - p[2], p[0], p[1], p[2]]
        // Rounded targets reach -5 ... 101; keep a margin.
        let gMin = -8
        let gMax = top + 4
        var survive = [Double](repeating: 1, count: top + 1)
        var weighted = [Double](repeating: 0, count: top + 1)
        var q = [Double](repeating: 0, count: gMax - gMin + 1)
        for _ in 0..<horizon {
            for j in 0...top { weighted[j] = (1 - hazard[j]) * survive[j] }
            // q(g) = E[weighted(clamp(g + Z))]
            for g in gMin...gMax {
                var sum = 0.0
                for k in 0..<pmf.count {
                    let j = min(top, max(0, g + offsets[k]))
                    sum += pmf[k] * weighted[j]
                }
                q[g - gMin] = sum
            }
            var next = [Double](repeating: 0, count: top + 1)
            for i in 0...top {
                var total = 0.0
                for level in 0..<4 {
                    let m = target(i, baseline: baseline, penalty: penaltySteps[level])
                    let f = m.rounded(.down)
                    let frac = m - f
                    let g = Int(f)
                    total += levelWeights[level] * ((1 - frac) * q[g - gMin] + frac * q[g + 1 - gMin])
                }
                next[i] = total
            }
            survive = next
        }
        return survive.map { max(0, min(1, 1 - $0)) }
    }
}
