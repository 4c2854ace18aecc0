import Foundation

/// Renders `count` items in chunks on `threads` workers and hands each
/// chunk's bytes to `sink` in item order, so that the output is the same
/// bytes whatever the thread count. The workers render the next window of
/// chunks while this thread hands the last one to `sink` (writing a file is
/// a third of the work), so at most four chunks per worker are held at once:
/// memory does not grow with `count`.
func renderInOrder(
    count: Int, chunkSize: Int = 512, threads: Int, render: @escaping @Sendable (Range<Int>, inout [UInt8]) -> Void,
    sink: ([UInt8]) throws -> Void
) throws {
    let chunks = (count + chunkSize - 1) / chunkSize
    guard threads > 1 && chunks > 1 else {
        var bytes: [UInt8] = []
        for c in 0..<chunks {
            bytes.removeAll(keepingCapacity: true)
            render(c * chunkSize..<min(count, (c + 1) * chunkSize), &bytes)
            try sink(bytes)
        }
        return
    }
    let window = threads * 2
    let windows = (chunks + window - 1) / window
    // Two halves: one being rendered, one being written.
    let slots = UnsafeMutablePointer<[UInt8]>.allocate(capacity: 2 * window)
    slots.initialize(repeating: [], count: 2 * window)
    defer {
        slots.deinitialize(count: 2 * window)
        slots.deallocate()
    }
    let shared = UnsafeSendable(slots)
    @Sendable func chunksIn(_ w: Int) -> Int { min(window, chunks - w * window) }
    @Sendable func renderWindow(_ w: Int) {
        DispatchQueue.concurrentPerform(iterations: chunksIn(w)) { k in
            let c = w * window + k
            let slot = shared.value + (w % 2) * window + k
            slot.pointee.removeAll(keepingCapacity: true)
            render(c * chunkSize..<min(count, (c + 1) * chunkSize), &slot.pointee)
        }
    }
    renderWindow(0)
    for w in 0..<windows {
        let next = DispatchGroup()
        if w + 1 < windows { DispatchQueue.global().async(group: next) { renderWindow(w + 1) } }
        // The next window must be done before its memory can go, even when writing failed.
        defer { next.wait() }
        let half = slots + (w % 2) * window
        for k in 0..<chunksIn(w) { try sink(half[k]) }
    }
}
