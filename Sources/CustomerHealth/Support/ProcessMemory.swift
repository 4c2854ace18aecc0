#if canImport(Glibc)
    import Glibc
#endif

/// The process's own memory figures, for reports that size a machine.
public enum ProcessMemory {
    /// The peak resident set size so far (getrusage's ru_maxrss, which Linux gives in KiB).
    public static var peakResidentBytes: Int? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        return Int(usage.ru_maxrss) * 1024
    }

    /// Hands the heap's free pages back to the system. glibc keeps what ingest
    /// freed (the workers' stores after their merge, the slack compaction
    /// dropped) for reuse, so the resident size would not fall by it.
    public static func returnFreePages() {
        // malloc.h is not in Swift's Glibc module: the function is looked up by name.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias MallocTrim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }
}
