#if canImport(Glibc)
import Glibc
#endif

extension stat {
    /// The last modification, in seconds since 1970 (with the nanoseconds).
    public var modifiedSeconds: Double { Double(st_mtim.tv_sec) + Double(st_mtim.tv_nsec) / 1e9 }
}
