import CustomerHealthTestSupport
import Foundation

extension ExportsFolder {
    /// `customer-health run pipeline.yaml ...` through the real executable.
    @discardableResult
    func run(_ extra: [String] = []) throws -> CLIResult {
        try CLI.run(["run", pipelinePath, "--quiet"] + extra)
    }
}
