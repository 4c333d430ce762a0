import ArgumentParser

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract:
            "A broker that owns SQLite databases for many plugins: typed commands over ZeroMQ, one writer per file, idempotency keys, audit and invalidation events.",
        discussion:
            "Start a broker with `sluice serve`, then talk to it with `sluice send`, `sluice status` and `sluice tail`. Every client command finds the broker through --data-dir (default ./data).",
        subcommands: [
            Serve.self, Send.self, Query.self, Status.self, Stats.self, Tail.self, Audit.self, Log.self, Replay.self,
            Verify.self,
            Compact.self,
            Backup.self, Restore.self, Plugins.self, Projections.self, Keys.self, Capabilities.self, Validate.self, Contracts.self, Migrate.self, Doctor.self,
            Bench.self,
        ]
    )
}
