import Foundation

/// Renders `count` items in chunks on `threads` workers and hands each
/// chunk's bytes to `sink` in item order, so that the output is the same
/// bytes whatever the thread count. At most two chunks per worker are held
/// at once, so memory does not grow with `count`.
func renderInOrder(count: Int, chunkSize: Int = 512, threads: Int, render: @Sendable (Range<Int>, inout [UInt8]) -> Void,
                   sink: ([UInt8]) throws -> Void) throws {
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
    let slots = UnsafeMutablePointer<[UInt8]>.allocate(capacity: window)
    slots.initialize(repeating: [], count: window)
    defer {
        slots.deinitialize(count: window)
        slots.deallocate()
    }
    let shared = UnsafeSendable(slots)
    var first = 0
    while first < chunks {
        let n = min(window, chunks - first)
        let base = first
        DispatchQueue.concurrentPerform(iterations: n) { k in
            let c = base + k
            shared.value[k].removeAll(keepingCapacity: true)
            render(c * chunkSize..<min(count, (c + 1) * chunkSize), &shared.value[k])
        }
        for k in 0..<n { try sink(slots[k]) }
        first += n
    }
}
