import Foundation
import GRDB
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// A full disk, for real: the data directory on a small tmpfs (mounting needs root, as CI runs).
@Suite(.serialized, .timeLimit(.minutes(3))) struct DiskFullTests {
    static func run(_ arguments: [String]) throws -> Int32 {
        try Fixtures.run(arguments[0], Array(arguments.dropFirst())).status
    }

    static func freeBytes(_ path: String) -> Int {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return 0 }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    @Test func aFullDiskGivesTypedErrorsNoFalseACKAndWritesResumeWithoutARestart() async throws {
        try #require(getuid() == 0, "mounting a tmpfs needs root (CI runs as root)")
        let directory = TemporaryDirectory()
        let mount = directory.path("small")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        try #require(try Self.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount.path]) == 0)
        defer { _ = try? Self.run(["/usr/bin/umount", "-l", mount.path]) }
        let data = mount.appendingPathComponent("data")
        let broker = try BrokerProcess(dataDirectory: data, socketDirectory: directory.path("sockets-dir"))
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: try .operator(dataDirectory: data))
        configuration.attemptTimeout = .seconds(10)
        configuration.maxAttempts = 1
        let client = try SluiceClient(configuration: configuration)
        defer { client.close() }

        // Leave about 256 KiB free, then write until the disk refuses.
        let filler = mount.appendingPathComponent("filler")
        let fill = Self.freeBytes(mount.path) - 256 * 1024
        try #require(fill > 0)
        FileManager.default.createFile(atPath: filler.path, contents: Data(count: fill))
        func payload(_ key: String) -> JSONValue {
            ["title": .string(key + String(repeating: "x", count: 180)), "ref": .string(key)]
        }
        var acknowledged: [String: Acknowledgement] = [:]
        var refused: [String: WireError] = [:]
        var index = 0
        while refused.count < 20, index < 20_000 {
            let key = "full-\(index)"
            index += 1
            do {
                acknowledged[key] = try await client.send("task.create@v1", payload(key), idempotencyKey: key)
            } catch let error as WireError {
                refused[key] = error
            }
        }
        try #require(refused.count == 20, "the disk never filled (\(acknowledged.count) ACKs)")
        for (key, error) in refused {
            #expect([.storageLimit, .internal].contains(error.code), "\(key): \(error)")
        }

        // Space comes back: the same broker process takes every refused command, and every ACKed
        // one is still there exactly once.
        try FileManager.default.removeItem(at: filler)
        for key in refused.keys.sorted() {
            let ack = try await client.send("task.create@v1", payload(key), idempotencyKey: key)
            #expect(!ack.duplicate, "\(key) was refused, so it never ran")
        }
        for (key, original) in acknowledged {
            let again = try await client.send("task.create@v1", payload(key), idempotencyKey: key)
            #expect(again.duplicate && again.seq == original.seq, "\(key)")
        }
        #expect(broker.process.isRunning)
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        #expect(try TasksDatabase.integrity(db) == "ok")
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == acknowledged.count + refused.count)
        let seqs = try TasksDatabase.logSeqs(db)
        #expect(seqs == Array(1...Int64(seqs.count)), "the log has no gaps")
    }
}
