// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "customer-health",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "customer-health", targets: ["customer-health"]),
        .library(name: "CustomerHealth", targets: ["CustomerHealth"]),
        .library(name: "CustomerHealthServer", targets: ["CustomerHealthServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // Templates of the HTML report (docs/report.md): plain Swift, no server stack.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // The server stack: only CustomerHealthServer (and the executable that
        // links it) depends on these, so the core library and its tests build
        // without NIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // libcsv ships no pkg-config file: the module map links `csv` itself.
        .systemLibrary(
            name: "CCSV",
            path: "Sources/CCSV",
            providers: [.apt(["libcsv-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CustomerHealth",
            dependencies: [
                "CCSV",
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Sources/CustomerHealth"
        ),
        .target(
            name: "CustomerHealthServer",
            dependencies: [
                "CustomerHealth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/CustomerHealthServer"
        ),
        .executableTarget(
            name: "customer-health",
            dependencies: [
                "CustomerHealth",
                "CustomerHealthServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/customer-health"
        ),
        // Helpers of both test targets (exports folders, output readers,
        // fixtures): the library's public API only, no @testable import, so
        // that release builds of every target work.
        .target(
            name: "CustomerHealthTestSupport",
            dependencies: ["CustomerHealth"],
            path: "Tests/CustomerHealthTestSupport"
        ),
        // Unit tests: the library in this process, never the executable.
        .testTarget(
            name: "CustomerHealthTests",
            dependencies: ["CustomerHealth", "CustomerHealthTestSupport"],
            path: "Tests/CustomerHealthTests"
        ),
        // End-to-end tests: the built `customer-health` executable (CLI.run,
        // which `swift build --build-tests` builds too), its server process,
        // the report in a browser, the golden outputs.
        .testTarget(
            name: "CustomerHealthEndToEndTests",
            dependencies: ["CustomerHealth", "CustomerHealthTestSupport"],
            path: "Tests/CustomerHealthEndToEndTests",
            // The recorded digests of GoldenOutputTests, read from the checkout.
            exclude: ["Golden"]
        ),
        .testTarget(
            name: "CustomerHealthServerTests",
            dependencies: ["CustomerHealthServer", "CustomerHealth", .product(name: "Logging", package: "swift-log")],
            path: "Tests/CustomerHealthServerTests"
        ),
    ]
)
