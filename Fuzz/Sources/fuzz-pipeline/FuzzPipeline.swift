// Fuzz target `pipeline`: the pipeline file parser (PipelineConfig.parse in
// Sources/CustomerHealth/Pipeline/PipelineConfig.swift, ConfigNode over Yams,
// and every section's loader: events, churn_definition, scoring, kpis, churn, watch).
//
// Input: the pipeline file's bytes. As PipelineConfig.load does, bytes that
// are not UTF-8 are refused before parsing.
//
// Checks: parse() returns a config or throws CustomerHealthError (a
// pipeline-file error, exit 2), never anything else and never traps; a
// config it returns can be turned into the settings `run` uses (each export's
// reader settings and field formats, the training fingerprint) without trapping.
import Foundation
import FuzzSupport
@testable import CustomerHealth

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzBytes(data, size).rest
    guard let text = String(validating: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else { return 0 }
    do {
        let config = try PipelineConfig.parse(text: text, file: "fuzz.yaml", baseDirectory: "/srv/customer-health/pipelines", sha256: "")
        for kind in ExportKind.allCases {
            let settings = config.exportSettings(kind)
            let reader = FieldReader(settings: settings, dateFormat: config.dateFormat)
            _ = reader.tokens.count + reader.dateTokens.count
            _ = settings.timestampFormat.expectation(dateOnly: false)
        }
        _ = config.trainingFingerprint
    } catch is CustomerHealthError {
        // A pipeline-file error: exit 2 with a message.
    } catch {
        fatalError("PipelineConfig.parse threw \(type(of: error)) instead of a CustomerHealthError: \(error)")
    }
    return 0
}
