// swift-tools-version:6.1
// libFuzzer targets for customer-health (issue 12). Build and run them with
// Fuzz/run.sh (docs/fuzzing.md); a plain `swift build` here does not add the
// sanitizers, and without `-sanitize=fuzzer` there is no main().
import Foundation
import PackageDescription

// The root package is a path dependency: its identity is its folder's name
// (e.g. "main" or "customer-health"), whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let core: [Target.Dependency] = [
    "FuzzSupport",
    .product(name: "CustomerHealth", package: rootIdentity),
]

// The harnesses have no main(): libFuzzer's runtime provides it.
let harness: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency] = core) -> Target {
    .executableTarget(name: name, dependencies: dependencies, path: "Sources/\(name)", swiftSettings: harness)
}

let package = Package(
    name: "customer-health-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        // Only for the HTTP target (the same requirements as the root package).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "CustomerHealth", package: rootIdentity),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/FuzzSupport"
        ),
        fuzzTarget("fuzz-csv"),
        fuzzTarget("fuzz-csv-file"),
        fuzzTarget("fuzz-jsonl"),
        fuzzTarget("fuzz-fields"),
        fuzzTarget("fuzz-gzip"),
        fuzzTarget("fuzz-pipeline"),
        fuzzTarget("fuzz-http", core + [
            .product(name: "CustomerHealthServer", package: rootIdentity),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
