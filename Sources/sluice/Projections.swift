import ArgumentParser
import Foundation
import SluiceBroker
import SluiceWire

struct Projections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, verify and rebuild projections (read-only copies of core data in plugin databases).",
        discussion: "Projections are defined in a contract set's projections/*.json; see docs/projections.md.",
        subcommands: [ProjectionsList.self, ProjectionsVerify.self, ProjectionsRebuild.self]
    )
}

/// The options every `projections` subcommand takes.
struct ProjectionOptions: ParsableArguments {
    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract sets, as for serve. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    @Flag(name: .long, help: "Print JSON, one object per projection.")
    var json = false

    var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }

    func registry() throws -> ContractRegistry { try loadRegistry(dataDir: dataDir, contracts: contracts) }

    func report(_ checks: [ProjectionCheck]) {
        if json {
            for check in checks { print(check.json.canonicalString) }
            return
        }
        printTable(
            ["projection", "target", "source", "reflects", "source at", "rows", "state"],
            checks.map { check in
                var state = "\(check.verdict)"
                if check.verdict == .drift { state += " (\(check.missingRows) missing, \(check.extraRows) extra)" }
                return [
                    check.name, check.target, check.source, check.reflectedSeq.map(String.init) ?? "-",
                    String(check.sourceSeq), String(check.rows), state,
                ]
            })
    }
}

struct ProjectionsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Each projection: its table, its source, the source seq it reflects and the source's own.",
        discussion: "Reads the files read-only: works while the broker runs."
    )

    @OptionGroup var options: ProjectionOptions

    func run() async throws {
        let registry = try options.registry()
        options.report(
            try registry.projections.values.sorted { $0.name < $1.name }.map {
                try ProjectionCheck.check($0, registry: registry, dataDirectory: options.dataDirectory, compareRows: false)
            })
    }
}

struct ProjectionsVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run a projection's query fresh and compare its rows with the table's.",
        discussion: """
            Exit status: 0 when the table holds exactly the query's rows at the source's current seq; 1 on drift \
            (same seq, different rows); 3 when the table is behind its source or stale (writes are still \
            arriving, or the broker has not caught it up yet): run it again when writes pause. Works while the \
            broker runs.
            """
    )

    @Argument(help: "The projection's name; all of them when omitted.")
    var name: String?

    @OptionGroup var options: ProjectionOptions

    func run() async throws {
        let registry = try options.registry()
        let names = name.map { [$0] } ?? registry.projections.keys.sorted()
        var checks: [ProjectionCheck] = []
        for name in names {
            guard let projection = registry.projections[name] else {
                throw ValidationError("no projection named \(name); see sluice projections list")
            }
            checks.append(
                try ProjectionCheck.check(
                    projection, registry: registry, dataDirectory: options.dataDirectory, compareRows: true))
        }
        options.report(checks)
        if checks.contains(where: { $0.verdict == .drift }) { throw ExitCode(1) }
        if checks.contains(where: { $0.verdict != .exact }) { throw ExitCode(3) }
    }
}

struct ProjectionsRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Refill a projection's table from its source (the broker must be stopped).",
        discussion: "A starting broker rebuilds by itself every projection that does not reflect its source exactly."
    )

    @Argument(help: "The projection's name.")
    var name: String

    @OptionGroup var options: ProjectionOptions

    func run() async throws {
        let registry = try options.registry()
        let rebuilt = try ProjectionRebuild.rebuild(name, registry: registry, dataDirectory: options.dataDirectory)
        if options.json {
            let body: JSONValue = [
                "name": .string(name), "source_seq": .int(rebuilt.sourceSeq), "rows": .int(rebuilt.rows),
            ]
            print(body.canonicalString)
        } else {
            print("\(name): rebuilt, \(rebuilt.rows) row(s) at source seq \(rebuilt.sourceSeq)")
        }
    }
}
