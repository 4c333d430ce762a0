import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

@Suite(.timeLimit(.minutes(2))) struct MigrationAndBackupTests {
    @Test func migrationsRunOnceAndAChangedOneIsDetected() throws {
        let directory = TemporaryDirectory()
        let first = Migration(name: "001_items.sql", sql: "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);")
        let second = Migration(name: "002_index.sql", sql: "CREATE INDEX items_name ON items(name);")
        _ = try DatabaseFile(name: "things", directory: directory.url, migrations: [first, second])
        // Running them again (a restart) is a no-op: no error, nothing recorded twice.
        _ = try DatabaseFile(name: "things", directory: directory.url, migrations: [first, second])
        let db = try TasksDatabase.open(directory.path("things.db"))
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM sluice_migrations") == 2)

        let edited = Migration(
            name: "001_items.sql", sql: "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, extra TEXT);")
        do {
            _ = try DatabaseFile(name: "things", directory: directory.url, migrations: [edited, second])
            Issue.record("a changed migration must be refused")
        } catch {
            #expect("\(error)".contains("001_items.sql changed after it ran"))
        }
        #expect(
            try TasksDatabase.count(db, "SELECT count(*) FROM pragma_table_info('items')") == 2,
            "the schema was not touched")
    }

    @Test func backupDuringAWriteLoadRestoresAConsistentDatabase() async throws {
        let directory = TemporaryDirectory()
        let broker = try RunningBroker(directory: directory)
        let client = try broker.client()
        defer { client.close() }
        // 512 commands committed first (their ACKs say so), then the rest keep writing while the
        // backup runs.
        func send(_ range: Range<Int>) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<32 {
                    group.addTask {
                        for n in stride(from: range.lowerBound + lane, to: range.upperBound, by: 32) {
                            try await client.send(
                                "task.create@v1", ["title": .string("b\(n)")], idempotencyKey: "b\(n)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await send(0..<512)
        let load = Task { try await send(512..<3000) }
        let manifest = try DataDirectoryBackup.backup(
            dataDirectory: broker.broker.configuration.dataDirectory, to: directory.path("backup")
        )
        try await load.value

        let backedUp = try TasksDatabase.open(directory.path("backup/tasks.db"))
        let seqs = try TasksDatabase.logSeqs(backedUp)
        #expect(seqs.count >= 500 && seqs.count < 3000, "taken in the middle of the load")
        #expect(seqs == Array(1...Int64(seqs.count)))
        #expect(manifest.databases["tasks"]?.lastSeq == Int64(seqs.count))
        #expect(try TasksDatabase.integrity(backedUp) == "ok")
        // Log, ledger and data agree: every logged command is its key's entry, in force, and has its row.
        #expect(
            try TasksDatabase.count(
                backedUp, "SELECT count(*) FROM sluice_log WHERE length(payload_hash) = 64 AND expires_ms > ?",
                [Int64(Date().timeIntervalSince1970 * 1000)]) == seqs.count
        )
        #expect(try TasksDatabase.count(backedUp, "SELECT count(*) FROM tasks") == seqs.count)
    }

    /// A backup holds everything a broker needs: restored into an empty directory, it serves the
    /// same identities (same tokens), the same data, the same ledger, and the audit trail whole.
    @Test func aBackupRestoredIntoAnEmptyDirectoryServes() async throws {
        let directory = TemporaryDirectory()
        var original: RunningBroker? = try RunningBroker(directory: directory)
        let data = original!.broker.configuration.dataDirectory
        var client = try original!.client()
        for n in 0..<20 {
            try await client.send("task.create@v1", ["title": .string("r\(n)")], idempotencyKey: "r\(n)")
        }
        _ = try await client.compact(db: "tasks", keep: 5)
        let token = try String(contentsOf: data.appendingPathComponent("tokens/local.token"), encoding: .utf8)
        let manifest = try DataDirectoryBackup.backup(dataDirectory: data, to: directory.path("backup"))
        #expect(Set(manifest.files).isSuperset(of: ["tokens", "audit.key", "snapshots", "audit-archive"]))
        client.close()
        original!.stop()
        original = nil

        let restoredDirectory = TemporaryDirectory()
        let restored = restoredDirectory.path("data")
        _ = try DataDirectoryBackup.restore(from: directory.path("backup"), to: restored)
        #expect(try String(contentsOf: restored.appendingPathComponent("tokens/local.token"), encoding: .utf8) == token)
        let tokenMode = try FileManager.default.attributesOfItem(
            atPath: restored.appendingPathComponent("tokens/local.token").path)[.posixPermissions] as? Int
        #expect(tokenMode == 0o600)
        #expect(try AuditTrail.verify(dataDirectory: restored).flatMap(\.problems) == [])

        let broker = try RunningBroker(directory: restoredDirectory)
        client = try broker.client()
        defer { client.close() }
        // The same key is the same command: the ledger came back with the data.
        let retry = try await client.send("task.create@v1", ["title": "r3"], idempotencyKey: "r3")
        #expect(retry.duplicate && retry.seq == 4)
        let next = try await client.send("task.create@v1", ["title": "new"], idempotencyKey: "new")
        #expect(next.seq == 21)
        #expect(try TasksDatabase.count(try broker.open(), "SELECT count(*) FROM tasks") == 21)
        let export = try Fixtures.run("sluice", ["audit", "export", "--db", "tasks", "--data-dir", restored.path])
        #expect(export.status == 0, "\(export.output)")
        #expect(export.output.split(separator: "\n").count == 21, "15 archived, 6 in the log")
    }
}
