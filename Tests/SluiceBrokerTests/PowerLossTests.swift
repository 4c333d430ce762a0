import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An ACK means durable: a real broker process serves a data directory on a filesystem that
/// loses everything not fsync'ed when the power is cut (``PowerCutFilesystem``). Under pipelined
/// load from several clients the broker is killed and the power cut at random moments; after
/// every cut each acknowledged command is present exactly once with its acknowledged seq.
///
/// `SLUICE_POWER_CUTS` sets the number of cuts (default 5; `make soak` runs more).
@Suite(.serialized, .timeLimit(.minutes(10))) struct PowerLossTests {
    /// What the clients were told, and a way to wait until they have been told enough.
    actor Acknowledgements {
        var seqs: [String: Int64] = [:]
        private var target = Int.max
        private var reached: CheckedContinuation<Void, Never>?

        func record(_ key: String, _ seq: Int64) {
            seqs[key] = seq
            if seqs.count >= target, let reached {
                self.reached = nil
                reached.resume()
            }
        }

        /// Returns once `count` keys in all have been acknowledged.
        func waitFor(count: Int) async {
            guard seqs.count < count else { return }
            await withCheckedContinuation { continuation in
                target = count
                reached = continuation
            }
        }
    }

    struct Outcome {
        /// Acknowledged keys whose command was missing after a cut (it ran again on resend, or its
        /// seq was given to another command).
        var lost: [String] = []
        var acknowledged = 0
        var cuts = 0
    }

    static let cuts = ProcessInfo.processInfo.environment["SLUICE_POWER_CUTS"].flatMap { Int($0) } ?? 5

    @Test func acknowledgedCommandsSurvivePowerCuts() async throws {
        let outcome = try await run(mode: .full, cuts: Self.cuts)
        #expect(outcome.cuts == Self.cuts)
        #expect(outcome.acknowledged >= 200 * Self.cuts)
        #expect(outcome.lost.count == 0, "acknowledged, then lost to a power cut: \(outcome.lost.prefix(20))")
    }

    /// The test of the test: with `--synchronous normal` commits are not fsync'ed, and the same
    /// procedure must see acknowledged commands disappear.
    @Test func theSameCutsLoseAcknowledgedCommandsUnderSynchronousNormal() async throws {
        let outcome = try await run(mode: .normal, cuts: 2)
        #expect(outcome.lost.count > 0, "NORMAL lost nothing over \(outcome.cuts) cuts: the test cannot see a lost ACK")
    }

    func run(mode: SynchronousMode, cuts: Int) async throws -> Outcome {
        let directory = TemporaryDirectory()
        let filesystem = try PowerCutFilesystem(mountPoint: directory.path("mnt"))
        defer { filesystem.unmount() }
        let data = filesystem.mountPoint.appendingPathComponent("data")
        // The operator made the data directory before the broker's first start, and it is on disk.
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try filesystem.syncEverything()

        var outcome = Outcome()
        var acknowledged: [String: Int64] = [:]
        var operatorToken: String?
        var generator = SystemRandomNumberGenerator()
        for round in 0...cuts {
            let broker = try BrokerProcess(
                dataDirectory: data, socketDirectory: directory.url, extraArguments: ["--synchronous", mode.rawValue])
            // Whatever ends this round (a failed expectation that throws included), no broker outlives it.
            defer { broker.kill9() }
            #expect(try broker.waitUntilServing(), "broker did not serve after cut \(round): \(broker.output)")
            let token = try #require(TokenStore(dataDirectory: data).token(for: TokenStore.operatorName))
            if operatorToken == nil { operatorToken = token }
            #expect(token == operatorToken, "the operator token changed across a power cut")

            // Every command acknowledged before a cut answers as a duplicate with its seq.
            outcome.lost += try await verify(acknowledged, on: broker, data: data)
            if mode == .normal, !outcome.lost.isEmpty {
                broker.kill9()
                return outcome
            }
            guard round < cuts else {
                #expect(broker.terminate() == 0)
                break
            }

            // Pipelined load from 4 clients, 16 in flight each, until a random number of ACKs.
            let record = Acknowledgements()
            let target = Int.random(in: 200...1200, using: &generator)
            let clients = try (0..<4).map { _ in try client(broker, attemptTimeout: .seconds(3)) }
            let load = (0..<64).map { lane in
                Task {
                    let client = clients[lane % clients.count]
                    for index in 0..<1_000_000 {
                        let key = "c\(round)-l\(lane)-\(index)"
                        guard let ack = try? await client.send("task.create@v1", payload(key), idempotencyKey: key)
                        else { return }
                        await record.record(key, ack.seq)
                    }
                }
            }
            await record.waitFor(count: target)
            broker.kill9()
            try filesystem.cut()
            for task in load { await task.value }
            for client in clients { client.close() }
            let seqs = await record.seqs
            acknowledged.merge(seqs) { first, _ in first }
            outcome.acknowledged += seqs.count
            outcome.cuts += 1
        }

        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        #expect(try TasksDatabase.integrity(db) == "ok")
        let seqs = try TasksDatabase.logSeqs(db)
        #expect(seqs == Array(1...Int64(seqs.count)), "the log is gap-free")
        #expect(try TasksDatabase.count(db, "SELECT count(*) FROM tasks") == seqs.count)
        for (key, seq) in acknowledged.sorted(by: { $0.value < $1.value }).prefix(50) {
            #expect(
                try TasksDatabase.count(db, "SELECT count(*) FROM tasks WHERE ref = ?", [key]) == 1,
                "acknowledged \(key) (seq \(seq)) is present exactly once")
        }
        return outcome
    }

    /// Projection refreshes commit with NORMAL on a writer whose commands commit with FULL
    /// (docs/projections.md). Under load on both the source (tasks) and the projection's own
    /// database (plugin alpha's commands), cut the power: every acknowledged command of either
    /// database is there, and the restarted broker brings the projection back exactly to its
    /// source — a lost refresh loses nothing, and FULL came back after each refresh.
    @Test func projectionRefreshesLoseNothingToAPowerCut() async throws {
        let directory = TemporaryDirectory()
        let set = try ProjectionTests.contractSet(in: directory)
        let filesystem = try PowerCutFilesystem(mountPoint: directory.path("mnt"))
        defer { filesystem.unmount() }
        let data = filesystem.mountPoint.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try PluginCatalog(dataDirectory: data).install(
            from: try ProjectionTests.plugin("alpha", in: directory, capabilities: ["projection:open_tasks:read"]),
            contractDirectories: [set])
        try filesystem.syncEverything()
        var registry = try ContractRegistry(directories: [set])
        try registry.loadInstalledPlugins(dataDirectory: data)
        let projection = try #require(registry.projections["open_tasks"])

        var acknowledged: [String: (contract: String, seq: Int64)] = [:]
        var generator = SystemRandomNumberGenerator()
        let cuts = max(2, Self.cuts / 2)
        for round in 0...cuts {
            let broker = try BrokerProcess(dataDirectory: data, contracts: set, socketDirectory: directory.url)
            defer { broker.kill9() }
            #expect(try broker.waitUntilServing(), "broker did not serve after cut \(round): \(broker.output)")
            let check = try ProjectionCheck.check(projection, registry: registry, dataDirectory: data, compareRows: true)
            #expect(check.verdict == .exact, "after cut \(round): \(check)")
            // Every command acknowledged before a cut answers as a duplicate with its seq.
            let operatorClient = try client(broker, attemptTimeout: .seconds(10))
            let alpha = try pluginClient(broker, data: data)
            for (key, (contract, seq)) in acknowledged {
                let sender = contract == "task.create@v1" ? operatorClient : alpha
                let ack = try await sender.send(contract, ["title": .string(key)], idempotencyKey: key)
                #expect(ack.duplicate && ack.seq == seq, "acknowledged \(contract) \(key) (seq \(seq)) was lost")
            }
            operatorClient.close()
            alpha.close()
            guard round < cuts else {
                #expect(broker.terminate() == 0)
                break
            }
            let record = Acknowledgements()
            let writers = [
                (try client(broker, attemptTimeout: .seconds(3)), "task.create@v1"),
                (try pluginClient(broker, data: data), "alpha.item.create@v1"),
            ]
            var sent: [String: String] = [:]
            let load = (0..<32).map { lane in
                let (sender, contract) = writers[lane % 2]
                let prefix = "p\(round)-l\(lane)-"
                return Task {
                    for index in 0..<1_000_000 {
                        let key = prefix + "\(index)"
                        guard let ack = try? await sender.send(contract, ["title": .string(key)], idempotencyKey: key)
                        else { return }
                        await record.record(key, ack.seq)
                    }
                }
            }
            for lane in 0..<32 { sent["p\(round)-l\(lane)-"] = writers[lane % 2].1 }
            await record.waitFor(count: Int.random(in: 200...800, using: &generator))
            broker.kill9()
            try filesystem.cut()
            for task in load { await task.value }
            for (sender, _) in writers { sender.close() }
            for (key, seq) in await record.seqs {
                let prefix = String(key[..<key.index(after: key.lastIndex(of: "-")!)])
                acknowledged[key] = (sent[prefix]!, seq)
            }
        }
        #expect(acknowledged.values.contains { $0.contract == "alpha.item.create@v1" })
    }

    func pluginClient(_ broker: BrokerProcess, data: URL) throws -> SluiceClient {
        let token = try #require(TokenStore(dataDirectory: data).token(for: "alpha"))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: ClientCredentials(name: "alpha", token: token))
        configuration.attemptTimeout = .seconds(3)
        configuration.maxAttempts = 1
        return try SluiceClient(configuration: configuration)
    }

    /// Resends every acknowledged key with its payload: each must come back as a duplicate with the
    /// seq it was acknowledged with. Returns the keys that did not.
    func verify(_ acknowledged: [String: Int64], on broker: BrokerProcess, data: URL) async throws -> [String] {
        guard !acknowledged.isEmpty else { return [] }
        let client = try client(broker, attemptTimeout: .seconds(10))
        defer { client.close() }
        let keys = Array(acknowledged.keys)
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for lane in 0..<16 {
                group.addTask {
                    var lost: [String] = []
                    for key in stride(from: lane, to: keys.count, by: 16).map({ keys[$0] }) {
                        let ack = try await client.send("task.create@v1", payload(key), idempotencyKey: key)
                        if !ack.duplicate || ack.seq != acknowledged[key] { lost.append(key) }
                    }
                    return lost
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    func payload(_ key: String) -> JSONValue { ["title": .string("power \(key)"), "ref": .string(key)] }

    func client(_ broker: BrokerProcess, attemptTimeout: Duration) throws -> SluiceClient {
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, credentials: try .operator(dataDirectory: broker.dataDirectory))
        configuration.attemptTimeout = attemptTimeout
        configuration.maxAttempts = 1
        return try SluiceClient(configuration: configuration)
    }
}
