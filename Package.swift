// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SluiceWire", targets: ["SluiceWire"]),
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
        .library(name: "SluiceBroker", targets: ["SluiceBroker"]),
        .library(name: "SluicePluginHost", targets: ["SluicePluginHost"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-bench", targets: ["sluice-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The HTTP server of /metrics and /health: no dependencies of its own (SwiftNIO would
        // add minutes to every clean build for two GET routes).
        .package(url: "https://github.com/swhitty/FlyingFox.git", from: "0.27.1"),
        // exclusive-postgres databases (DESIGN.md: PostgreSQL through postgres-nio).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "SluiceWire", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(name: "SluiceZMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        .target(
            name: "SluiceClient",
            dependencies: ["SluiceWire", "SluiceZMQ"],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceBroker",
            dependencies: [
                "SluiceWire", "SluiceZMQ", "CSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SluicePluginHost",
            dependencies: ["SluiceClient", "SluiceWire", "SluiceZMQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceBroker", "SluiceClient", "SluiceWire",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sluice-bench",
            dependencies: [
                // SluiceTestSupport for its throwaway PostgreSQL cluster (`write --database postgres`).
                "SluiceBroker", "SluiceClient", "SluiceWire", "SluiceZMQ", "SluiceTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/Sources",
            swiftSettings: strict
        ),
        .target(
            name: "SluiceTestSupport",
            dependencies: [
                "SluiceBroker", "SluiceClient", "SluiceWire", "SluiceZMQ",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SluiceTestSupport",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tasks-example", dependencies: ["SluiceClient", "SluiceWire"], path: "examples/tasks/app",
            swiftSettings: strict
        ),
        .target(
            name: "InventoryRules", dependencies: ["SluiceBroker", "SluiceWire"], path: "examples/handlers/rules",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "handlers-example",
            dependencies: [
                "InventoryRules", "SluiceBroker", "SluiceClient", "SluiceWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/handlers/app", swiftSettings: strict
        ),
        .executableTarget(
            name: "audit-tail-example", dependencies: ["SluicePluginHost", "SluiceClient", "SluiceWire"],
            path: "examples/audit-tail", exclude: ["plugin"], swiftSettings: strict
        ),
        .testTarget(name: "SluiceWireTests", dependencies: ["SluiceWire"], swiftSettings: strict),
        .testTarget(name: "SluiceZMQTests", dependencies: ["SluiceZMQ"], swiftSettings: strict),
        .testTarget(
            name: "SluicePluginHostTests",
            dependencies: ["SluicePluginHost", "SluiceClient", "SluiceBroker", "SluiceWire", "SluiceZMQ", "SluiceTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SluiceClientTests",
            dependencies: ["SluiceClient", "SluiceBroker", "SluiceWire", "SluiceTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SluiceBrokerTests",
            dependencies: [
                "SluiceBroker", "SluiceClient", "SluiceWire", "SluiceZMQ", "SluiceTestSupport", "InventoryRules",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["JSONSchemaTestSuite"],
            swiftSettings: strict
        ),
    ]
)
