import Foundation

/// L2-regularised logistic regression on standardised features, missing
/// values imputed with the training mean (a standardised 0). Fitted by
/// Newton's method: with a dozen features the Hessian is tiny.
public struct LogisticRegression: Sendable, Equatable {
    public var means: [Double]
    public var scales: [Double]
    public var weights: [Double]
    public var intercept: Double

    @inline(__always)
    func standardised(_ v: Double, _ j: Int) -> Double {
        v.isNaN ? 0 : (v - means[j]) / scales[j]
    }

    public func margin(_ x: UnsafePointer<Double>) -> Double {
        var s = intercept
        for j in 0..<weights.count { s += weights[j] * standardised(x[j], j) }
        return s
    }

    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double) -> Double {
        for j in 0..<weights.count { phi[j] += scale * weights[j] * standardised(x[j], j) }
        return scale * intercept
    }

    public static func train(_ table: TrainingTable, lambda: Double = 1.0, iterations: Int = 50) -> LogisticRegression {
        let d = table.featureCount
        let n = table.rowCount
        var means = [Double](repeating: 0, count: d)
        var scales = [Double](repeating: 1, count: d)
        for j in 0..<d {
            var s = 0.0, c = 0.0
            for v in table.columns[j] where !v.isNaN { s += v; c += 1 }
            let m = c > 0 ? s / c : 0
            var ss = 0.0
            for v in table.columns[j] where !v.isNaN { ss += (v - m) * (v - m) }
            means[j] = m
            let sd = c > 1 ? (ss / (c - 1)).squareRoot() : 0
            scales[j] = sd > 1e-12 ? sd : 1
        }
        // Design matrix with an intercept column.
        var x = [Double](repeating: 0, count: n * (d + 1))
        for i in 0..<n {
            x[i * (d + 1)] = 1
            for j in 0..<d {
                let v = table.columns[j][i]
                x[i * (d + 1) + j + 1] = v.isNaN ? 0 : (v - means[j]) / scales[j]
            }
        }
        var beta = [Double](repeating: 0, count: d + 1)
        let rate = Double(table.positives) / Double(max(1, n))
        beta[0] = log(max(rate, 1e-6) / max(1 - rate, 1e-6))
        let k = d + 1
        for _ in 0..<iterations {
            var grad = [Double](repeating: 0, count: k)
            var hess = [Double](repeating: 0, count: k * k)
            // The same sums in the same order as plain array code, without bounds checks.
            x.withUnsafeBufferPointer { xb in
                beta.withUnsafeBufferPointer { bb in
                    table.labels.withUnsafeBufferPointer { lb in
                        grad.withUnsafeMutableBufferPointer { gb in
                            hess.withUnsafeMutableBufferPointer { hb in
                                let beta = bb.baseAddress!, grad = gb.baseAddress!, hess = hb.baseAddress!
                                for i in 0..<n {
                                    let row = xb.baseAddress! + i * k
                                    var z = 0.0
                                    for j in 0..<k { z += beta[j] * row[j] }
                                    let p = 1 / (1 + exp(-z))
                                    let r = p - Double(lb[i])
                                    let w = max(p * (1 - p), 1e-12)
                                    for a in 0..<k {
                                        let xa = row[a]
                                        grad[a] += r * xa
                                        let wa = w * xa
                                        let h = hess + a * k
                                        for b in a..<k { h[b] += wa * row[b] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for a in 1..<k {
                grad[a] += lambda * beta[a]
                hess[a * k + a] += lambda
            }
            for a in 0..<k { for b in 0..<a { hess[a * k + b] = hess[b * k + a] } }
            guard let step = LinearAlgebra.solve(hess, grad, k) else { break }
            var change = 0.0
            for j in 0..<k { beta[j] -= step[j]; change = max(change, abs(step[j])) }
            if change < 1e-8 { break }
        }
        return LogisticRegression(means: means, scales: scales, weights: Array(beta[1...]), intercept: beta[0])
    }
}

enum LinearAlgebra {
    /// Solves A x = b for a symmetric positive definite A (Cholesky), nil when singular.
    static func solve(_ a: [Double], _ b: [Double], _ k: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in 0...i {
                var s = a[i * k + j]
                for m in 0..<j { s -= l[i * k + m] * l[j * k + m] }
                if i == j {
                    guard s > 1e-14 else { return nil }
                    l[i * k + i] = s.squareRoot()
                } else {
                    l[i * k + j] = s / l[j * k + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: k)
        for i in 0..<k {
            var s = b[i]
            for m in 0..<i { s -= l[i * k + m] * y[m] }
            y[i] = s / l[i * k + i]
        }
        var x = [Double](repeating: 0, count: k)
        for i in stride(from: k - 1, through: 0, by: -1) {
            var s = y[i]
            for m in (i + 1)..<k { s -= l[m * k + i] * x[m] }
            x[i] = s / l[i * k + i]
        }
        return x
    }
}
