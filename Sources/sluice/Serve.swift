import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceBroker
import SluiceClient
import SluiceWire
import SluiceZMQ
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker in the foreground until SIGINT or SIGTERM.",
        discussion: """
            Creates the data directory (mode 0700) if needed, loads contract sets, runs pending migrations and \
            serves requests on an ipc endpoint inside the data directory. On SIGINT/SIGTERM it stops admitting, \
            commits and answers everything queued, then exits.
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A JSON configuration file with any of these options (schemas/config.schema.json; example examples/sluice.json).",
            discussion: "An option given here wins over the file; relative paths in the file are relative to the file."))
    var config: String?

    @Option(name: .long, help: "Data directory for database files, audit.db and the ipc sockets. Default: data.")
    var dataDir: String?

    @Option(
        name: .long, parsing: .singleValue,
        help:
            "A contract set directory (contracts/*.json, migrations/<db>/*.sql). Repeatable. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    @Option(name: .long, help: "Request endpoint (ROUTER). Default ipc://<data-dir>/sluice.sock.")
    var endpoint: String?

    @Option(name: .long, help: "Event endpoint (PUB). Default ipc://<data-dir>/events.sock.")
    var eventsEndpoint: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Put the ipc sockets in this directory (mode 0750, group --socket-group), for plugins running as other OS users.",
            discussion: "The data directory stays 0700: databases, tokens and keys remain this user's alone."))
    var socketDir: String?

    @Option(name: .long, help: "The group whose members may connect to the sockets in --socket-dir.")
    var socketGroup: String?

    @Option(name: .long, help: "PRAGMA synchronous for every database: full (an ACK survives power loss; the default) or normal (survives a broker crash only).")
    var synchronous: String?

    @Option(name: .long, help: "Most commands per transaction. Default: \(BrokerConfiguration.defaultMaxBatchSize).")
    var maxBatch: Int?

    @Option(
        name: .long,
        help: "Serve GET /metrics (Prometheus) and GET /health over HTTP on HOST:PORT, e.g. 127.0.0.1:9464 (no authentication: keep it on loopback or a private network).")
    var metricsEndpoint: String?

    @Option(name: .long, help: "Log level: trace, debug, info (the default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(
        name: .long,
        help: "Stop after this many milliseconds with no client connected and nothing pending (ephemeral mode; default: never).")
    var idleExitMs: Int?

    @Option(name: .long, help: "Write everything the broker prints to this file (appended) instead of the terminal.")
    var logFile: String?

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Print 'sluice-ready' on the original standard output once serving (with --log-file: the only line it gets).",
            discussion: "How a client that starts a broker in the background knows it serves."))
    var readyLine = false

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Serve tcp endpoints without CURVE (no encryption; every tcp connection is 'anonymous' and may only HELLO and PING).",
            discussion: "Without it a tcp endpoint is always CURVE; PLAIN (tokens) is never offered on tcp."))
    var insecureTCP = false

    @OptionGroup var postgres: PostgresOptions

    func run() async throws {
        // With --log-file, the broker's output goes there; the original stdout keeps only the ready
        // line (and the reason, if it cannot start), so a starter reading it can close it.
        var readyOutput: Int32 = 1
        if let logFile {
            let log = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard log >= 0 else { throw ValidationError("cannot open --log-file \(logFile)") }
            readyOutput = dup(1)
            dup2(log, 1)
            dup2(log, 2)
            close(log)
        }
        do {
            try await serve(readyOutput: readyOutput)
        } catch {
            if readyOutput != 1 { Self.write("sluice serve: \(error)\n", to: readyOutput) }
            throw error
        }
    }

    /// What serves where, once the broker serves (its CURVE key exists from then on).
    static func printBanner(_ broker: Broker, metrics: String?) {
        let configuration = broker.configuration
        print("sluice broker")
        print("  data directory: \(configuration.dataDirectory.path)")
        print("  requests:       \(configuration.commandEndpoint)")
        print("  events:         \(configuration.eventEndpoint)")
        if let keys = broker.curveKeyPair {
            print("  CURVE key:      \(keys.publicKey) (clients of the tcp endpoints need it)")
        }
        print("  contracts:      \(broker.registry.contracts.keys.map(\.description).sorted().joined(separator: ", "))")
        print("  databases:      \(broker.registry.databases.joined(separator: ", "))")
        if let metrics { print("  metrics:        \(metrics)") }
        let plugins = broker.registry.plugins.keys.sorted()
        print("  plugins:        \(plugins.isEmpty ? "(none installed)" : plugins.joined(separator: ", "))")
        fflush(nil)
    }

    static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(descriptor, &bytes, bytes.count)
    }

    private func serve(readyOutput: Int32) async throws {
        let file: ConfigurationFile
        do {
            file = try config.map { try ConfigurationFile(contentsOf: URL(fileURLWithPath: $0).standardizedFileURL) }
                ?? ConfigurationFile()
        } catch let invalid as ConfigurationFile.Invalid {
            throw ValidationError("\(invalid)")
        }
        func url(_ path: String) -> URL { URL(fileURLWithPath: path).standardizedFileURL }
        let levelName = logLevel ?? file.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("log level \(levelName): trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let directory = dataDir.map(url) ?? file.dataDirectory ?? url("data")
        var configuration = BrokerConfiguration(dataDirectory: directory)
        var sets = contracts.map(url)
        if sets.isEmpty { sets = file.contracts ?? [] }
        if sets.isEmpty, FileManager.default.fileExists(atPath: "examples/tasks/contracts") {
            sets = [url("examples/tasks")]
        }
        configuration.contractDirectories = sets
        switch (socketDir.map(url) ?? file.socketDirectory, socketGroup ?? file.socketGroup) {
        case (let directory?, let group?):
            configuration.useSharedSockets(SharedSocketLayout(directory: directory, group: group))
        case (nil, nil): break
        default: throw ValidationError("--socket-dir and --socket-group go together")
        }
        if let endpoint = endpoint ?? file.endpoint { configuration.commandEndpoint = endpoint }
        if let eventsEndpoint = eventsEndpoint ?? file.eventsEndpoint { configuration.eventEndpoint = eventsEndpoint }
        guard let mode = SynchronousMode(rawValue: synchronous ?? file.synchronous ?? "full") else {
            throw ValidationError("--synchronous must be full or normal")
        }
        configuration.synchronous = mode
        configuration.maxBatchSize = max(1, maxBatch ?? file.maxBatch ?? BrokerConfiguration.defaultMaxBatchSize)
        configuration.insecureTCP = insecureTCP || file.insecureTCP == true
        configuration.idleExitMs = idleExitMs ?? file.idleExitMs
        let metricsEndpoint = metricsEndpoint ?? file.metricsEndpoint
        configuration.postgres = try postgres.server(orURL: file.postgresURL, passwordFile: file.postgresPasswordFile)

        let logger = Logger(label: "sluice")
        let broker = try Broker(configuration: configuration, logger: logger)
        let metrics = try metricsEndpoint.map { try MetricsEndpoint(address: $0, broker: broker) }
        let metricsAddress = metrics.map { "http://\($0.host):\($0.port)/metrics and /health" }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: BrokerService(broker: broker) { [readyLine] in
                            Self.printBanner(broker, metrics: metricsAddress)
                            guard readyLine else { return }
                            fflush(nil)
                            Self.write(BrokerAutoStart.readyLine + "\n", to: readyOutput)
                            if readyOutput != 1 { close(readyOutput) }
                        },
                        // An idle exit ends the broker by itself: a normal end, not a failure.
                        successTerminationBehavior: .gracefullyShutdownGroup)
                ] + (metrics.map { [.init(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
