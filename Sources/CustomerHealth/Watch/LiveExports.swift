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

    /// Reads the new rows of some event files. Returns the customers they
    /// touched and, per file name, where the next read of it starts.
    func add(_ reads: [Read]) throws -> (touched: [Int], consumed: [String: InputFileReader.Resume]) {
        let batch = IngestAccumulator(customerCount: accounts.count)
        var consumed: [String: InputFileReader.Resume] = [:]
        for read in reads {
            let settings = config.exports[read.file.kind] ?? ExportSettings(kind: read.file.kind)
            let fieldReader = FieldReader(settings: settings, dateFormat: config.dateFormat)
            guard let handler = IngestRunner.rowHandler(for: read.file.kind, reader: fieldReader, customers: directory,
                accumulator: batch, fileRank: read.rank) else { continue }
            let reader = try InputFileReader(path: read.file.path, settings: settings, handler: handler,
                maxRowBytes: config.maxRowBytes, includeRaw: config.rejectsIncludeRaw)
            let gzip = InputFileReader.format(ofName: read.file.name)?.1 ?? false
            reader.wholeRecordsOnly = !gzip
            reader.resume = read.resume
            reader.stopAt = read.stopAt
            let report = try reader.read()
            consumed[read.file.name] = gzip ? .init(offset: report.size, linesBefore: 0) : reader.consumed
            var total = reports[read.file.name] ?? FileReport(export: read.file.kind, path: read.file.path, name: read.file.name,
                size: 0, sha256: "")
            total.size = report.size
            total.rowsRead += report.rowsRead
            total.rowsAccepted += report.rowsAccepted
            total.rowsRejected += report.rowsRejected
            total.rowsUnknownCustomer += report.rowsUnknownCustomer
            total.rejects += report.rejects
            reports[read.file.name] = total
        }
        let touched = batch.touchedCustomers()
        store.merge(batch)
        return (touched, consumed)
    }

    /// The aggregates as they stand, for features and scores.
    func result() -> IngestResult {
        let files = (accountReports + reports.values).sorted { ($0.export, $0.name) < ($1.export, $1.name) }
        return IngestResult(accounts: accounts, aggregates: store, files: files, keepTickets: true)
    }
}
