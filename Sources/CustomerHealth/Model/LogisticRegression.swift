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

    public func contributions(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>, scale: Double)
        -> Double
    {
        for j in 0..<weights.count { phi[j] += scale * weights[j] * standardised(x[j], j) }
        return scale * intercept
    }

    /// Rows standardised at a time: the Newton step reads the table in blocks of
    /// this many rows, standardised on the fly, instead of a dense standardised
    /// copy of the whole table (docs/model.md, "Training at scale").
    static let blockRows = 1024

    public static func train(_ table: TrainingTable, lambda: Double = 1.0, iterations: Int = 50) -> LogisticRegression {
        let d = table.featureCount
        let n = table.rowCount
        let block = min(blockRows, max(1, n))
        let (means, scales) = standardisation(of: table, block: block)
        var beta = [Double](repeating: 0, count: d + 1)
        let rate = Double(table.positives) / Double(max(1, n))
        beta[0] = log(max(rate, 1e-6) / max(1 - rate, 1e-6))
        let k = d + 1
        let design = NewtonSums(table: table, means: means, scales: scales, block: block)
        for _ in 0..<iterations {
            var (grad, hess) = design.gradientAndHessian(beta: beta)
            for a in 1..<k {
                grad[a] += lambda * beta[a]
                hess[a * k + a] += lambda
            }
            guard let change = LinearAlgebra.newtonStep(hessianUpper: hess, gradient: grad, beta: &beta) else { break }
            if change < 1e-8 { break }
        }
        return LogisticRegression(means: means, scales: scales, weights: Array(beta[1...]), intercept: beta[0])
    }

    /// Each column's mean and standard deviation (1 when it has none), summed in row order.
    private static func standardisation(of table: TrainingTable, block: Int) -> (means: [Double], scales: [Double]) {
        let d = table.featureCount
        let n = table.rowCount
        var means = [Double](repeating: 0, count: d)
        var scales = [Double](repeating: 1, count: d)
        let column = UnsafeMutablePointer<Double>.allocate(capacity: block)
        defer { column.deallocate() }
        for j in 0..<d {
            var s = 0.0
            var c = 0.0
            for lo in stride(from: 0, to: n, by: block) {
                let hi = min(n, lo + block)
                table.copy(feature: j, rows: lo..<hi, into: column)
                for i in 0..<(hi - lo) where !column[i].isNaN {
                    s += column[i]
                    c += 1
                }
            }
            let m = c > 0 ? s / c : 0
            var ss = 0.0
            for lo in stride(from: 0, to: n, by: block) {
                let hi = min(n, lo + block)
                table.copy(feature: j, rows: lo..<hi, into: column)
                for i in 0..<(hi - lo) where !column[i].isNaN {
                    let v = column[i]
                    ss += (v - m) * (v - m)
                }
            }
            means[j] = m
            let sd = c > 1 ? (ss / (c - 1)).squareRoot() : 0
            scales[j] = sd > 1e-12 ? sd : 1
        }
        return (means, scales)
    }

    /// Margins of every row of `table`, in blocks of rows in parallel.
    func margins(_ table: TrainingTable) -> [Double] {
        let n = table.rowCount
        let d = table.featureCount
        let block = LogisticRegression.blockRows
        return [Double](unsafeUninitializedCapacity: n) { out, initialized in
            let box = UnsafeSendable(out)
            // Fixed blocks: each holds a copy of its rows' columns.
            ParallelMap.forEachChunk(count: n, chunk: block) { range in
                let lo = range.lowerBound
                let hi = range.upperBound
                let columns = UnsafeMutablePointer<Double>.allocate(capacity: max(1, (hi - lo) * d))
                defer { columns.deallocate() }
                for j in 0..<d { table.copy(feature: j, rows: lo..<hi, into: columns + j * (hi - lo)) }
                var x = [Double](repeating: 0, count: d)
                for i in lo..<hi {
                    for j in 0..<d { x[j] = columns[j * (hi - lo) + i - lo] }
                    box.value[i] = x.withUnsafeBufferPointer { margin($0.baseAddress!) }
                }
            }
            initialized = n
        }
    }
}

enum LinearAlgebra {
    /// One Newton step of a fit: mirrors the Hessian's upper triangle (the
    /// only one summed), solves for the step, takes it from `beta`. Returns
    /// the largest change of a coefficient, nil when the Hessian is singular.
    static func newtonStep(hessianUpper: [Double], gradient: [Double], beta: inout [Double]) -> Double? {
        let k = beta.count
        var hess = hessianUpper
        for a in 0..<k { for b in 0..<a { hess[a * k + b] = hess[b * k + a] } }
        guard let step = solve(hess, gradient, k) else { return nil }
        var change = 0.0
        for j in 0..<k {
            beta[j] -= step[j]
            change = max(change, abs(step[j]))
        }
        return change
    }

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

/// The log-loss gradient and Hessian of a Newton step, summed over the table
/// a block of rows at a time: one block of the design matrix (an intercept
/// column, then the standardised inputs) and each row's residual and weight.
private final class NewtonSums {
    let table: TrainingTable
    let means: [Double]
    let scales: [Double]
    let block: Int
    let x: UnsafeMutablePointer<Double>
    let rw: UnsafeMutablePointer<Double>
    let column: UnsafeMutablePointer<Double>

    init(table: TrainingTable, means: [Double], scales: [Double], block: Int) {
        self.table = table
        self.means = means
        self.scales = scales
        self.block = block
        x = .allocate(capacity: block * (table.featureCount + 1))
        rw = .allocate(capacity: 2 * block)
        column = .allocate(capacity: block)
    }

    deinit {
        x.deallocate()
        rw.deallocate()
        column.deallocate()
    }

    func gradientAndHessian(beta: [Double]) -> (grad: [Double], hess: [Double]) {
        let d = table.featureCount
        let n = table.rowCount
        let k = d + 1
        let (x, rw, block) = (self.x, self.rw, self.block)
        var grad = [Double](repeating: 0, count: k)
        var hess = [Double](repeating: 0, count: k * k)
        // The Hessian's rows are shared out among workers: each entry is
        // summed over the rows in row order, by one worker, so the sums are
        // those of one thread going row by row, whatever the thread count.
        let workers = min(k, 8)
        beta.withUnsafeBufferPointer { bb in
            table.labels.withUnsafeBufferPointer { lb in
                grad.withUnsafeMutableBufferPointer { gb in
                    hess.withUnsafeMutableBufferPointer { hb in
                        let box = UnsafeSendable(
                            (x, rw, bb.baseAddress!, lb.baseAddress!, gb.baseAddress!, hb.baseAddress!))
                        for lo in stride(from: 0, to: n, by: block) {
                            let rows = min(n, lo + block) - lo
                            standardise(rows: lo..<(lo + rows))
                            let (x, rw, beta, labels, _, _) = box.value
                            for i in 0..<rows {
                                let row = x + i * k
                                var z = 0.0
                                for j in 0..<k { z += beta[j] * row[j] }
                                let p = 1 / (1 + exp(-z))
                                rw[2 * i] = p - Double(labels[lo + i])
                                rw[2 * i + 1] = max(p * (1 - p), 1e-12)
                            }
                            ParallelMap.forEach(count: k, atMost: workers) { a in
                                let (x, rw, _, _, grad, hess) = box.value
                                let h = hess + a * k
                                var g = grad[a]
                                for i in 0..<rows {
                                    let row = x + i * k
                                    let xa = row[a]
                                    g += rw[2 * i] * xa
                                    let wa = rw[2 * i + 1] * xa
                                    for b in a..<k { h[b] += wa * row[b] }
                                }
                                grad[a] = g
                            }
                        }
                    }
                }
            }
        }
        return (grad, hess)
    }

    /// Fills the design block with `rows`: 1, then each input standardised (0 when missing).
    private func standardise(rows: Range<Int>) {
        let d = table.featureCount
        let k = d + 1
        for i in 0..<rows.count { x[i * k] = 1 }
        for j in 0..<d {
            table.copy(feature: j, rows: rows, into: column)
            let m = means[j]
            let sc = scales[j]
            for i in 0..<rows.count {
                let v = column[i]
                x[i * k + j + 1] = v.isNaN ? 0 : (v - m) / sc
            }
        }
    }
}
