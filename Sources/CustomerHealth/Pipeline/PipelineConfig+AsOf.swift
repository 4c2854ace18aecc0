import Foundation

extension PipelineConfig {
    /// The as-of day of a run on `data`: `override` (the command line's
    /// `--as-of`), the pipeline's date, or the newest activity day.
    public func asOfDay(for data: IngestResult, override: CalendarDay? = nil) throws -> CalendarDay {
        if let override { return override }
        if case .date(let d) = asOf { return d }
        guard let d = data.latestActivityDay else {
            throw CustomerHealthError.input(
                file: inputDirectory,
                message:
                    "the activity export has no accepted rows, so there is no newest activity day to score as of; pass --as-of DATE"
            )
        }
        return d
    }
}
