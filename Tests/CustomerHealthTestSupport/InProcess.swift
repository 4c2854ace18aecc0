import CustomerHealth
import Foundation
import XCTest

/// Helpers that drive the library directly, for tests that need internals.
package enum InProcess {
    // The test target does not depend on swift-log, so loggers are made by
    // inference (`.init(label:)`) and quietened through the runner.

    package static func ingestRunner(_ config: PipelineConfig, threads: Int = 1) -> IngestRunner {
        var r = IngestRunner(config: config, threads: threads, logger: .init(label: "customer-health-tests"))
        r.logger.logLevel = .critical
        return r
    }

    /// Reads the exports of a folder's pipeline, as `run` does.
    package static func ingest(_ folder: ExportsFolder, threads: Int = 1) throws -> IngestResult {
        try ingestRunner(folder.config(), threads: threads).run()
    }

    package static func runner(_ folder: ExportsFolder, asOf: String? = nil, threads: Int = 1) throws -> PipelineRunner
    {
        var r = PipelineRunner(
            config: try folder.config(),
            options: RunOptions(asOf: asOf.flatMap(CalendarDay.init), threads: threads),
            logger: .init(label: "customer-health-tests"))
        r.logger.logLevel = .critical
        return r
    }

    package static func day(_ text: String) -> CalendarDay { CalendarDay(text)! }
}

/// Byte offset at which 1-based line `n` of `text` starts.
package func byteOffset(ofLine n: Int, in text: String) -> Int {
    let starts = lineStarts(text)
    return n >= 1 && n <= starts.count ? starts[n - 1] : -1
}

/// Byte offsets at which each line of `text` starts.
package func lineStarts(_ text: String) -> [Int] {
    var starts = [0]
    text.utf8.withContiguousStorageIfAvailable { bytes in
        for i in 0..<bytes.count where bytes[i] == 0x0A { starts.append(i + 1) }
    }
        ?? {
            for (i, b) in text.utf8.enumerated() where b == 0x0A { starts.append(i + 1) }
        }()
    return starts
}
