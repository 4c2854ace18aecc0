// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "customer-health",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "customer-health", targets: ["customer-health"]),
        .library(name: "CustomerHealth", targets: ["CustomerHealth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
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
            ],
            path: "Sources/CustomerHealth"
        ),
        .executableTarget(
            name: "customer-health",
            dependencies: [
                "CustomerHealth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/customer-health"
        ),
        .testTarget(
            name: "CustomerHealthTests",
            dependencies: ["CustomerHealth"],
            path: "Tests/CustomerHealthTests"
        ),
    ]
)
