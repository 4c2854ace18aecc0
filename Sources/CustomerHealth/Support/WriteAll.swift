import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// write(2) until every byte is out, retrying on EINTR. A reader that went
/// away (EPIPE) is `StreamClosed`; any other failure names `path`.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EPIPE { throw StreamClosed() }
            throw CustomerHealthError.output(path: path, message: "write failed: \(IOFailure.describe(errno))")
        }
        offset += n
    }
}
