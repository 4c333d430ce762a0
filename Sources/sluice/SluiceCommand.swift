import ArgumentParser
import Foundation
import SluiceBroker

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract:
            "A broker that owns SQLite databases for many plugins: typed commands over ZeroMQ, one writer per file, idempotency keys, audit and invalidation events.",
        discussion: """
            Start a broker with `sluice serve` (or let any client command start one in the background), then talk \
            to it with `sluice send`, `sluice query`, `sluice status` and `sluice tail`. Every command finds the \
            broker through --data-dir (default ./data). `sluice <command> --help` explains each.
            """,
        version: BrokerVersion.current.description,
        groupedSubcommands: [
            CommandGroup(name: "Broker", subcommands: [Serve.self]),
            CommandGroup(
                name: "Client",
                subcommands: [Send.self, Query.self, Status.self, Stats.self, Tail.self, Audit.self, Compact.self]),
            CommandGroup(
                name: "History and recovery",
                subcommands: [Log.self, Replay.self, Verify.self, Backup.self, Restore.self, Projections.self]),
            CommandGroup(
                name: "Plugins, identities and contracts",
                subcommands: [Plugins.self, Keys.self, Capabilities.self, Contracts.self, Migrate.self]),
            CommandGroup(name: "Check", subcommands: [Doctor.self, Validate.self]),
            CommandGroup(name: "Measurement", subcommands: [Bench.self]),
        ]
    )

    /// SQLite's process-wide settings come first: they apply only before any database opens.
    /// A wrong argument or option exits with status 2 (the usual status of a usage error), after
    /// the message and the usage; every other outcome is ArgumentParser's.
    static func main() async {
        SQLiteProcess.prepare()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(usageError)
            }
            exit(withError: error)
        }
    }

    /// The exit status of a wrong argument or option.
    static let usageError: Int32 = 2
}
