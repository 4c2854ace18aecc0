import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The bucket files of one export file being split by `partition`
/// (PartitionLayout): each bucket's records as written in the original,
/// after the header, and a `.positions` file of where each was there.
///
/// One buffer of at most `memberBytes` per bucket, written out as a gzip
/// member when full: memory stays near 256 buffers however large the file.
/// Everything goes to temporary names (`.<name>.<pid>.tmp`) until `commit`
/// renames it into place.
final class BucketFileSet: RecordSplitter {
    static let memberBytes = 128 << 10

    let directory: String
    let name: String
    private var headerBytes: [UInt8] = []
    private var buffers: [[UInt8]]
    private var positionBuffers: [[UInt8]]
    /// Bytes of each bucket file before its buffer (uncompressed).
    private var written: [Int]
    private var lastBucketOffset: [Int]
    private var lastLine: [Int]
    private var lastOffset: [Int]
    private(set) var rows: [Int]
    private var failure: CustomerHealthError?

    init(directory: String, name: String) {
        self.directory = directory
        self.name = name
        let n = ShardSpec.bucketCount
        buffers = Array(repeating: [], count: n)
        positionBuffers = Array(repeating: [], count: n)
        written = Array(repeating: 0, count: n)
        lastBucketOffset = Array(repeating: 0, count: n)
        lastLine = Array(repeating: 0, count: n)
        lastOffset = Array(repeating: 0, count: n)
        rows = Array(repeating: 0, count: n)
    }

    func header(_ raw: [UInt8]) {
        headerBytes = raw
        if let last = raw.last, last != 0x0A && last != 0x0D { headerBytes.append(0x0A) }
    }

    func record(_ raw: [UInt8], line: Int, offset: Int, bucket b: Int) {
        if rows[b] == 0 { buffers[b] = headerBytes }
        let at = written[b] + buffers[b].count
        PartitionPositions.append(
            bucketOffsetDelta: at - lastBucketOffset[b], lineDelta: line - lastLine[b],
            offsetDelta: offset - lastOffset[b],
            to: &positionBuffers[b])
        lastBucketOffset[b] = at
        lastLine[b] = line
        lastOffset[b] = offset
        buffers[b] += raw
        // The file's last record may have no line end; the bucket's next one must start on a line of its own.
        if let last = raw.last, last != 0x0A && last != 0x0D { buffers[b].append(0x0A) }
        rows[b] += 1
        if buffers[b].count >= BucketFileSet.memberBytes { flush(b) }
    }

    private func temporary(_ path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder + "/." + (path as NSString).lastPathComponent + ".\(getpid()).tmp"
    }
    private func dataPath(_ b: Int) -> String { PartitionLayout.bucketFile(directory, bucket: b, name: name) }
    private func positionsPath(_ b: Int) -> String { PartitionLayout.positionsFile(directory, bucket: b, name: name) }

    private func flush(_ b: Int) {
        guard failure == nil, !buffers[b].isEmpty else { return }
        do {
            // The first write truncates: a temporary of an earlier process with this pid is not ours.
            try BucketFileSet.append(
                try GzipFileWriter.member(buffers[b]), to: temporary(dataPath(b)), truncate: written[b] == 0)
            try BucketFileSet.append(positionBuffers[b], to: temporary(positionsPath(b)), truncate: written[b] == 0)
        } catch let error as CustomerHealthError {
            failure = error
        } catch {
            failure = .output(path: dataPath(b), message: "cannot be written: \(error)")
        }
        written[b] += buffers[b].count
        buffers[b].removeAll(keepingCapacity: false)
        positionBuffers[b].removeAll(keepingCapacity: false)
    }

    private static func append(_ bytes: [UInt8], to path: String, truncate: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard fd >= 0 else {
            throw CustomerHealthError.output(path: path, message: "cannot create: \(IOFailure.describe(errno))")
        }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    /// Writes what is still buffered; the buckets that have a file.
    func finish() throws -> [Int] {
        for b in 0..<ShardSpec.bucketCount { flush(b) }
        if let failure { throw failure }
        return (0..<ShardSpec.bucketCount).filter { rows[$0] > 0 }
    }

    /// Renames the temporary files into place (after they were synced).
    func commit() throws {
        for b in 0..<ShardSpec.bucketCount where rows[b] > 0 {
            for path in [dataPath(b), positionsPath(b)] {
                guard rename(temporary(path), path) == 0 else {
                    throw CustomerHealthError.output(
                        path: path, message: "cannot rename into place: \(IOFailure.describe(errno))")
                }
            }
        }
    }

    /// Removes the temporary files (a failed split).
    func abandon() {
        for b in 0..<ShardSpec.bucketCount where rows[b] > 0 {
            unlink(temporary(dataPath(b)))
            unlink(temporary(positionsPath(b)))
        }
    }
}

/// Splits nothing: reading a file again only for its partition summary.
final class DiscardingSplitter: RecordSplitter {
    func header(_ raw: [UInt8]) {}
    func record(_ raw: [UInt8], line: Int, offset: Int, bucket: Int) {}
}
