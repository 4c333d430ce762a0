import Foundation
import GRDB
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// The broker commits every database with the synchronous level its configuration names, on the
/// writer connections themselves (GRDB's WAL set-up must not override it).
@Suite(.timeLimit(.minutes(2))) struct SynchronousLevelTests {
    func brokerWithPlugins(_ mode: SynchronousMode?) throws -> RunningBroker {
        let directory = TemporaryDirectory()
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        try catalog.install(from: try PluginTests.plugin("alpha", in: directory))
        try catalog.install(from: try PluginTests.plugin("beta", in: directory, mode: .shared))
        return try RunningBroker(directory: directory) { configuration in
            if let mode { configuration.synchronous = mode }
        }
    }

    @Test(arguments: [nil, SynchronousMode.full, .normal])
    func everyWriterConnectionCommitsWithTheConfiguredLevel(_ configured: SynchronousMode?) throws {
        let running = try brokerWithPlugins(configured)
        let modes = try running.broker.writerSynchronousModes()
        #expect(Set(modes.keys) == ["tasks", "alpha", "plugins", "audit", "core"])
        for (database, mode) in modes {
            #expect(mode == (configured ?? .full), "\(database).db commits with \(String(describing: mode))")
        }
    }

    /// Under NORMAL a power cut may lose published seqs, so a start after an unclean stop renews
    /// the epoch (subscribers resync instead of trusting reused seqs); after a clean stop, or
    /// under FULL, the epoch stays.
    @Test(arguments: [SynchronousMode.full, .normal])
    func epochAfterAnUncleanStop(_ mode: SynchronousMode) throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        /// Starts a broker, returns the epochs it serves `tasks` and `audit.rejected` under, stops it.
        func serve(stopCleanly: Bool) throws -> [String] {
            let broker = try BrokerProcess(dataDirectory: data, extraArguments: ["--synchronous", mode.rawValue])
            #expect(try broker.waitUntilServing(), "\(broker.output)")
            let epochs = try ["tasks.db", "audit.db"].map { file in
                try #require(try Self.storedEpoch(data.appendingPathComponent(file)))
            }
            if stopCleanly { #expect(broker.terminate() == 0) } else { broker.kill9() }
            return epochs
        }
        let first = try serve(stopCleanly: false)
        let afterKill = try serve(stopCleanly: true)
        let afterCleanStop = try serve(stopCleanly: false)
        if mode == .full {
            #expect(afterKill == first, "FULL keeps the epochs after SIGKILL")
        } else {
            #expect(afterKill[0] != first[0] && afterKill[1] != first[1], "NORMAL renews the epochs after SIGKILL")
        }
        #expect(afterCleanStop == afterKill, "a clean stop keeps the epochs")
    }

    static func storedEpoch(_ url: URL) throws -> String? {
        try TasksDatabase.open(url).read { db in
            try String.fetchOne(db, sql: "SELECT value FROM sluice_meta WHERE key = 'epoch'")
        }
    }
}
