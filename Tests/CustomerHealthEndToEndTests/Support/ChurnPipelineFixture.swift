import CustomerHealth
import Foundation

/// Generated exports (500 customers over 200 days, seed 5) in `data/`, and
/// `main.yaml`, a pipeline whose churn model (`models/main.json`) is trained
/// through the real executable: made once per test process, on first use,
/// for the classes that need a trained model of it (`ChurnPipelineTests`,
/// `ModelReportCommandTests`). Tests add their own pipelines and outputs
/// beside it, under names of their own. Removed when the process exits.
final class ChurnPipelineFixture: @unchecked Sendable {
    let folder: URL
    /// `train main.yaml` as it ran.
    let train: CLIResult
    /// models/main.json as that training wrote it.
    let model: Data

    var pipeline: String { folder.appendingPathComponent("main.yaml").path }

    /// The `churn:` settings of main.yaml.
    static let mainChurn = """
          model: models/main.json
          if_missing: stop
          min_positives: 10
          on_insufficient_data: warn
          validation_dates: 1
        """

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Result<ChurnPipelineFixture, Error>?
    nonisolated(unsafe) private static var madeFolder: String?

    static func shared() throws -> ChurnPipelineFixture {
        lock.lock()
        defer { lock.unlock() }
        if made == nil { made = Result { try ChurnPipelineFixture() } }
        return try made!.get()
    }

    /// A pipeline file `<name>.yaml` reading data/exports, writing out-<name>, with `churn`.
    static func writePipeline(in folder: URL, _ name: String, churn: String) throws -> String {
        let path = folder.appendingPathComponent("\(name).yaml").path
        try """
        input: data/exports
        output: out-\(name)
        max_reject_ratio: 0.01
        churn:
        \(churn)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("churn-pipeline-\(UUID().uuidString)")
        Self.madeFolder = folder.path
        atexit {
            if let folder = ChurnPipelineFixture.madeFolder { try? FileManager.default.removeItem(atPath: folder) }
        }
        var options = SyntheticExportOptions()
        options.customers = 500
        options.days = 200
        options.seed = 5
        _ = try SyntheticExportGenerator.generate(options: options, to: folder.appendingPathComponent("data").path)
        let path = try Self.writePipeline(in: folder, "main", churn: Self.mainChurn)
        train = try CLI.run(["train", path, "--quiet"])
        model = (try? Data(contentsOf: folder.appendingPathComponent("models/main.json"))) ?? Data()
    }
}
