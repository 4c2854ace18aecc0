import Foundation
import Synchronization

/// The one way work is spread over threads: `concurrentPerform` over chunks
/// of items, each chunk writing only its own items' slots, so results never
/// depend on the chunking or the thread count.
///
/// The chunking rule, stated once (`chunkSize`): about eight chunks per
/// thread, so that uneven items even out, and never fewer items than
/// `minimum` (256 unless a call says why: below it, handing a chunk to a
/// thread costs more than the work) nor more than `maximum` (a call whose
/// chunk holds a buffer of its own bounds its memory that way).
enum ParallelMap {
    static func chunkSize(count: Int, threads: Int, minimum: Int = 256, maximum: Int = .max) -> Int {
        min(maximum, max(minimum, count / (max(1, threads) * 8) + 1))
    }

    /// The cores of this machine: the thread count of work that takes no `--threads`.
    static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Calls `body` with consecutive ranges of `0..<count` of `chunk` items
    /// (the last one shorter), in parallel.
    static func forEachChunk(count: Int, chunk: Int, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            body((k * chunk)..<min(count, (k + 1) * chunk))
        }
    }

    /// `forEachChunk` with the rule's chunk size.
    static func forEachChunk(
        count: Int, threads: Int, minimum: Int = 256, maximum: Int = .max, _ body: @Sendable (Range<Int>) -> Void
    ) {
        forEachChunk(
            count: count, chunk: chunkSize(count: count, threads: threads, minimum: minimum, maximum: maximum), body)
    }

    /// Calls `body` for each of `count` large tasks, at most `width` at once
    /// (when each one holds memory while it runs), in task order per worker.
    static func forEach(count: Int, atMost width: Int, _ body: @Sendable (Int) -> Void) {
        let workers = min(count, max(1, width))
        guard workers > 0 else { return }
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for task in stride(from: worker, to: count, by: workers) { body(task) }
        }
    }

    /// Tasks of uneven size on `workers` threads, each worker taking the
    /// next task as it finishes one (task 0 first: a caller that numbers its
    /// tasks largest first keeps the last one to finish small).
    static func pull(count: Int, workers: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while true {
                let task = next.add(1, ordering: .relaxed).oldValue
                guard task < count else { return }
                body(task)
            }
        }
    }

    /// A few tasks of their own at once, one a thread; the results in task order.
    static func run<T>(_ tasks: [@Sendable () -> T]) -> [T] {
        [T](unsafeUninitializedCapacity: tasks.count) { buffer, initialized in
            let box = UnsafeSendable(buffer)
            DispatchQueue.concurrentPerform(iterations: tasks.count) { k in
                (box.value.baseAddress! + k).initialize(to: tasks[k]())
            }
            initialized = tasks.count
        }
    }

    /// `body(i)` for every item, in parallel, as an array in item order.
    static func map<T>(count: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let box = UnsafeSendable(buffer)
            forEachChunk(count: count, threads: threads) { range in
                for i in range { (box.value.baseAddress! + i).initialize(to: body(i)) }
            }
            initialized = count
        }
    }
}

/// Lets `concurrentPerform` workers write disjoint slots of one buffer.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
