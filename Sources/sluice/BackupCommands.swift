import ArgumentParser
import Foundation
import SluiceBroker

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the data directory's databases and state into a new directory, while the broker serves.",
        discussion: """
            Uses SQLite's online backup on read-only connections: each database is copied as of one consistent \
            point, its data, ledger and command log together. Also copies what a restore into an empty directory \
            needs: tokens, the audit key, CURVE keys, installed plugins, compaction snapshots and the audit \
            archive. Writes a backup.json (last) listing each database's last seq and epoch and the files copied.
            """
    )

    @Argument(help: "Destination directory (created; must be empty).")
    var destination: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let progress = ProgressLine("backup")
        let manifest = try DataDirectoryBackup.backup(
            dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL,
            to: URL(fileURLWithPath: destination).standardizedFileURL
        ) { file, done, total in progress.update("\(file) (\(done + 1) of \(total) databases)") }
        progress.finish()
        for (name, state) in manifest.databases.sorted(by: { $0.key < $1.key }) {
            print("\(name): seq \(state.lastSeq), epoch \(state.epoch)")
        }
        for file in manifest.files { print("\(file): copied") }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the data directory's databases and state with a backup (the broker must be stopped).",
        discussion: """
            Works into an empty directory too: tokens, keys, installed plugins, snapshots and the audit archive come \
            back with the databases, so a broker serves from it as from the original. \
            Every restored database gets a new epoch: subscribers see it in the next heartbeat and resync from the \
            restored history. Commands acknowledged after the backup was taken are gone; their clients can resend \
            them with the same keys.
            """
    )

    @Argument(help: "A directory written by `sluice backup`.")
    var source: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let progress = ProgressLine("restore")
        let epochs = try DataDirectoryBackup.restore(
            from: URL(fileURLWithPath: source).standardizedFileURL,
            to: URL(fileURLWithPath: dataDir).standardizedFileURL
        ) { file, done, total in progress.update("\(file) (\(done + 1) of \(total) databases)") }
        progress.finish()
        for (name, epoch) in epochs.sorted(by: { $0.key < $1.key }) { print("\(name): restored, new epoch \(epoch)") }
    }
}
