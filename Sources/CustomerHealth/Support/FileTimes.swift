#if canImport(Glibc)
    import Glibc
#endif

/// The last modification in `st`, in seconds since 1970 (with the nanoseconds).
public func modifiedSeconds(_ st: stat) -> Double { Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 }

/// The last modification in `st`, in nanoseconds since 1970: exact, for
/// telling whether a file is still the one seen before.
public func modifiedNanoseconds(_ st: stat) -> Int64 {
    Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
}
