import Dispatch
import Foundation

// Small building blocks of the synthetic-export generator: a seeded PRNG,
// civil-date arithmetic, shared slots for parallel workers, a worker pool and
// a byte buffer that feeds GzipFileWriter.

/// SplitMix64: a 64-bit-state generator that passes BigCrush. Every stream is
/// derived by hashing (seed, tag, a, b), so draws never depend on thread
/// scheduling or on the order in which streams are visited.
struct SyntheticRandom {
    private(set) var state: UInt64

    init(state: UInt64) { self.state = state }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The stream for (seed, tag, a, b); `b` is -1 for per-customer streams.
    @inline(__always)
    static func stream(seed: UInt64, tag: UInt64, _ a: Int, _ b: Int = -1) -> SyntheticRandom {
        var s = mix(seed ^ (0x9E37_79B9_7F4A_7C15 &* (tag &+ 1)))
        s = mix(s ^ (UInt64(bitPattern: Int64(a)) &+ 0x632B_E59B_D9B4_E019))
        s = mix(s ^ (UInt64(bitPattern: Int64(b)) &+ 0xD1B5_4A32_D192_ED03))
        return SyntheticRandom(state: s)
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n (n < 2^32), by multiply-shift.
    @inline(__always)
    mutating func int(below n: Int) -> Int {
        Int(truncatingIfNeeded: ((next() >> 32) &* UInt64(UInt32(truncatingIfNeeded: n))) >> 32)
    }

    /// Standard normal by Box-Muller (one value per call).
    mutating func normal() -> Double {
        let u1 = 1.0 - uniform()
        let u2 = uniform()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// Cheap bell-shaped draw with mean 0 and standard deviation 1 (Irwin-Hall
    /// sum of three uniforms, range -3...3).
    @inline(__always)
    mutating func bell() -> Double { (uniform() + uniform() + uniform() - 1.5) * 2.0 }

    /// Exponential with the given mean.
    @inline(__always)
    mutating func exponential(mean: Double) -> Double { -log(1.0 - uniform()) * mean }

    /// Poisson by inversion for small means, normal approximation above 40.
    mutating func poisson(_ mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        if mean < 40 {
            var p = exp(-mean)
            var cdf = p
            let u = uniform()
            var k = 0
            while u > cdf && k < 400 {
                k += 1
                p *= mean / Double(k)
                cdf += p
            }
            return k
        }
        let m = min(mean, 100_000)
        return max(0, Int((m + m.squareRoot() * normal()).rounded()))
    }
}

/// Proleptic Gregorian dates as days since 1970-01-01 (H. Hinnant's algorithms).
enum SyntheticCalendar {
    static func day(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        let next = month == 12 ? day(year: year + 1, month: 1, day: 1) : day(year: year, month: month + 1, day: 1)
        return next - day(year: year, month: month, day: 1)
    }

    /// Strict `yyyy-MM-dd`.
    static func parse(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var v = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10),
            y >= 1, (1...12).contains(m), d >= 1, d <= daysInMonth(year: y, month: m)
        else { return nil }
        return day(year: y, month: m, day: d)
    }

    /// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
    static func weekday(_ days: Int) -> Int { ((days % 7) + 7 + 3) % 7 }

    /// `yyyy-MM-dd` as 10 ASCII bytes.
    static func dateBytes(_ days: Int) -> [UInt8] {
        let (y, m, d) = civil(days)
        return [
            UInt8(48 + (y / 1000) % 10), UInt8(48 + (y / 100) % 10), UInt8(48 + (y / 10) % 10), UInt8(48 + y % 10),
            UInt8(ascii: "-"), UInt8(48 + m / 10), UInt8(48 + m % 10),
            UInt8(ascii: "-"), UInt8(48 + d / 10), UInt8(48 + d % 10),
        ]
    }

    static func dateString(_ days: Int) -> String { String(decoding: dateBytes(days), as: UTF8.self) }
}

/// A fixed-size array on the heap that parallel workers write at distinct
/// indices (no two workers ever touch the same slot).
final class SyntheticSlots<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, repeating value: Element) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    subscript(index: Int) -> Element {
        @inline(__always) get { base[index] }
        @inline(__always) set { base[index] = newValue }
    }
}

/// Runs `tasks` closures on `threads` workers. Workers claim task indices
/// from one atomic counter, so heavy tasks listed first balance well. The
/// result never depends on which worker ran what. The first error (by task
/// index) is rethrown after all tasks finished.
enum SyntheticParallel {
    static func run(tasks: Int, threads: Int, _ body: @Sendable (Int) throws -> Void) throws {
        guard tasks > 0 else { return }
        let workers = max(1, min(threads, tasks))
        if workers == 1 {
            for index in 0..<tasks { try body(index) }
            return
        }
        let errors = SyntheticSlots<(any Error)?>(count: tasks, repeating: nil)
        ParallelMap.pull(count: tasks, workers: workers) { index in
            do { try body(index) } catch { errors[index] = error }
        }
        for index in 0..<tasks {
            if let error = errors[index] { throw error }
        }
    }
}

/// Row bytes are built here with raw stores and handed to a GzipFileWriter
/// about every megabyte. A row must stay under 64 KiB (ours are < 300 bytes).
final class SyntheticByteSink {
    private let writer: GzipFileWriter
    private let buffer: UnsafeMutablePointer<UInt8>
    private let flushThreshold = 1 << 20
    private(set) var count = 0

    init(path: String, level: Int) throws {
        do {
            writer = try GzipFileWriter(path: path, level: level)
        } catch {
            throw SyntheticExportError.io("cannot create \(path): \(error)")
        }
        buffer = .allocate(capacity: (1 << 20) + (1 << 16))
    }

    deinit { buffer.deallocate() }

    @inline(__always)
    func byte(_ b: UInt8) {
        buffer[count] = b
        count += 1
    }

    @inline(__always)
    func bytes(_ source: UnsafePointer<UInt8>, _ length: Int) {
        if length <= 32 {
            for i in 0..<length { buffer[count + i] = source[i] }
        } else {
            (buffer + count).update(from: source, count: length)
        }
        count += length
    }

    @inline(__always)
    func bytes(_ array: [UInt8]) {
        array.withUnsafeBufferPointer { if let base = $0.baseAddress { bytes(base, $0.count) } }
    }

    @inline(__always)
    func ascii(_ text: StaticString) {
        bytes(text.utf8Start, text.utf8CodeUnitCount)
    }

    func string(_ text: String) {
        var copy = text
        copy.withUTF8 { if let base = $0.baseAddress { bytes(base, $0.count) } }
    }

    /// Decimal digits of a non-negative integer.
    @inline(__always)
    func int(_ value: Int) {
        if value < 10 {
            byte(UInt8(48 + value))
            return
        }
        var digits = 0
        var v = value
        while v > 0 {
            digits += 1
            v /= 10
        }
        v = value
        var i = count + digits - 1
        while v > 0 {
            buffer[i] = UInt8(48 + v % 10)
            v /= 10
            i -= 1
        }
        count += digits
    }

    /// A non-negative integer zero-padded to at least `width` digits.
    @inline(__always)
    func int(_ value: Int, width: Int) {
        var digits = 1
        var v = value / 10
        while v > 0 {
            digits += 1
            v /= 10
        }
        if digits < width {
            for _ in 0..<(width - digits) { byte(48) }
        }
        int(value)
    }

    /// Two digits, 00...99.
    @inline(__always)
    func twoDigits(_ value: Int) {
        buffer[count] = UInt8(48 + value / 10)
        buffer[count + 1] = UInt8(48 + value % 10)
        count += 2
    }

    /// A non-negative amount in hundredths as `d.dd`.
    @inline(__always)
    func cents(_ value: Int) {
        int(value / 100)
        byte(UInt8(ascii: "."))
        twoDigits(value % 100)
    }

    /// A non-negative value in thousandths, trailing zero decimals dropped
    /// (`100`, `99.9`, `99.931`).
    func thousandths(_ value: Int) {
        int(value / 1000)
        var fraction = value % 1000
        guard fraction != 0 else { return }
        byte(UInt8(ascii: "."))
        var width = 3
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        int(fraction, width: width)
    }

    /// Flushes to the gzip writer once a megabyte has accumulated.
    @inline(__always)
    func endRow() throws {
        if count >= flushThreshold { try flush() }
    }

    func flush() throws {
        guard count > 0 else { return }
        try writer.write(bytes: Array(UnsafeBufferPointer(start: buffer, count: count)))
        count = 0
    }

    /// Ends the current gzip member and starts the next one.
    func startNewMember() throws {
        try flush()
        try writer.startNewMember()
    }

    func close() throws {
        try flush()
        try writer.close()
    }
}
