import Foundation

/// The exports as watch mode holds them: the customers of the accounts
/// files, and one set of aggregates to which new rows are added as files
/// land or grow. Each batch is read into aggregates of its own first, so
/// that the customers it touched are known, then merged.
final class LiveExports {
    let config: PipelineConfig
    let accounts: [AccountRecord]
    let directory: CustomerDirectory
    let store: IngestAccumulator
    /// The named product events of every read, numbered once for the life of the stream.
    let registry = ProductEventRegistry()
    /// Row counts and rejects per file, summed over every read of it.
    private(set) var reports: [String: FileReport] = [:]
    private var accountReports: [FileReport]

    /// One read of an event file: from `resume` (nil: the start), up to
    /// `stopAt` (nil: the end). Plain files are taken in whole lines and
    /// records; gzip files are read whole.
    struct Read {
        var file: InputFile
        var resume: InputFileReader.Resume?
        var stopAt: Int?
        /// The file's position in name order among all input files (ticket tie-breaks).
        var rank: Int
    }

    /// Reads the accounts files (every other row joins to their customers).
    init(config: PipelineConfig, accountFiles: [InputFile]) throws {
        self.config = config
        let runner = IngestRunner(config: config, threads: 1, logger: .init(label: "customer-health"))
        (accounts, directory, accountReports) = try runner.readAccounts(files: accountFiles)
        store = IngestAccumulator(customerCount: accounts.count)
    }

    /// What one batch did.
    struct BatchOutcome {
        /// The customers with new rows, in index order.
        var touched: [Int]
        /// Per file name: where the next read of it starts.
        var consumed: [String: InputFileReader.Resume]
        /// This batch's rows and rejects, per file read.
        var reports: [FileReport]
        /// Files that could not be read (a corrupt gzip file, say), with why;
        /// none of their rows were kept.
        var failed: [(name: String, error: CustomerHealthError)]
    }

    /// Reads the new rows of some event files. Each file goes into
    /// aggregates of its own first, so a file that fails half-way leaves
    /// nothing behind when `skipFailures` is set (it is reported instead).
    func add(_ reads: [Read], skipFailures: Bool = false) throws -> BatchOutcome {
        let batch = IngestAccumulator(customerCount: accounts.count)
        var outcome = BatchOutcome(touched: [], consumed: [:], reports: [], failed: [])
        for read in reads {
            let settings = config.exportSettings(read.file.kind)
            let own = IngestAccumulator(customerCount: accounts.count)
            let context = RowHandlerContext(
                reader: FieldReader(settings: settings, dateFormat: config.dateFormat), customers: directory,
                accumulator: own, fileRank: read.rank, events: config.events, registry: registry)
            guard let handler = read.file.kind.makeHandler(context) else { continue }
            let report: FileReport
            let reader: InputFileReader
            do {
                reader = try InputFileReader(
                    path: read.file.path, settings: settings, handler: handler,
                    maxRowBytes: config.maxRowBytes, includeRaw: config.rejectsIncludeRaw,
                    mode: .watch(resume: read.resume, stopAt: read.stopAt))
                report = try reader.read()
            } catch let error as CustomerHealthError where skipFailures {
                outcome.failed.append((read.file.name, error))
                continue
            }
            batch.merge(own)
            outcome.consumed[read.file.name] = reader.consumed
            outcome.reports.append(report)
            var total =
                reports[read.file.name]
                ?? FileReport(
                    export: read.file.kind, path: read.file.path, name: read.file.name,
                    size: 0, sha256: "")
            total.size = report.size
            total.rowsRead += report.rowsRead
            total.rowsAccepted += report.rowsAccepted
            total.rowsRejected += report.rowsRejected
            total.rowsUnknownCustomer += report.rowsUnknownCustomer
            // Not the rejects: they go to STATE/rejects.jsonl as they come, and kept
            // here they would grow with every row the stream ever rejected.
            reports[read.file.name] = total
        }
        outcome.touched = batch.touchedCustomers()
        store.merge(batch)
        return outcome
    }

    /// The aggregates as they stand, for features and scores.
    func result() -> IngestResult {
        let files = (accountReports + reports.values).sorted { ($0.export, $0.name) < ($1.export, $1.name) }
        return IngestResult(
            accounts: accounts, aggregates: store, files: files, registry: registry, churn: config.churnDefinition,
            threads: ProcessInfo.processInfo.activeProcessorCount, keepTickets: true)
    }
}
