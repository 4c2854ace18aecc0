#if canImport(Glibc)
import Glibc
#endif

/// The last modification in `st`, in seconds since 1970 (with the nanoseconds).
public func modifiedSeconds(_ st: stat) -> Double { Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 }
