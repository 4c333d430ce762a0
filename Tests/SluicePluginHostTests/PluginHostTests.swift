import Foundation
import SluiceBroker
import SluiceClient
import SluicePluginHost
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Synchronization
import Testing

/// Counts what a plugin's calls did, and lets a test wait until enough have happened.
final class CallTally: Sendable {
    let succeeded = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let rateLimited = Atomic<Int>(0)
    private let waiters = Mutex<[(condition: @Sendable (CallTally) -> Bool, continuation: CheckedContinuation<Void, Never>)]>([])

    enum Counter { case succeeded, failed, rateLimited }

    func count(_ counter: Counter) {
        switch counter {
        case .succeeded: succeeded.add(1, ordering: .relaxed)
        case .failed: failed.add(1, ordering: .relaxed)
        case .rateLimited: rateLimited.add(1, ordering: .relaxed)
        }
        let ready = waiters.withLock { waiters in
            let ready = waiters.filter { $0.condition(self) }
            waiters.removeAll { $0.condition(self) }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Returns once `condition` holds (checked at every count).
    func wait(until condition: @escaping @Sendable (CallTally) -> Bool) async {
        await withCheckedContinuation { continuation in
            let now = waiters.withLock { waiters in
                if condition(self) { return true }
                waiters.append((condition, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// One command at a time, each sent once the previous one is answered.
final class SteadyPlugin: Plugin {
    let tally: CallTally
    init(_ tally: CallTally) { self.tally = tally }
    func initialize(_ context: PluginContext) async throws {}
    func run(_ context: PluginContext) async throws {
        while !Task.isCancelled {
            do {
                try await context.broker.send("task.create@v1", ["title": .string("steady \(context.id)")])
                tally.count(.succeeded)
            } catch is CancellationError {
                return
            } catch {
                // The host stopping (cancelling this task, closing its client) is no failure,
                // whatever error the send in flight then ends with.
                if Task.isCancelled { return }
                tally.count(.failed)
            }
        }
    }
}

final class FailingStartPlugin: Plugin {
    struct Refused: Error {}
    func initialize(_ context: PluginContext) async throws { throw Refused() }
}

final class CrashingPlugin: Plugin {
    struct Crash: Error {}
    func initialize(_ context: PluginContext) async throws {}
    func run(_ context: PluginContext) async throws {
        throw Crash()
    }
}

final class HangingPlugin: Plugin {
    let gate: Gate
    init(_ gate: Gate) { self.gate = gate }
    func initialize(_ context: PluginContext) async throws {}
    func run(_ context: PluginContext) async throws {
        gate.block()  // health() cannot answer: its thread is busy until the test opens the gate
    }
}

/// Blocks the threads that reach it (what a buggy plugin does, out of reach of async's checks)
/// until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, blocked: Int)>((false, 0))
    private let semaphore = DispatchSemaphore(value: 0)

    func block() {
        let wait = state.withLock { state in
            guard !state.open else { return false }
            state.blocked += 1
            return true
        }
        if wait { semaphore.wait() }
    }

    /// Lets every blocked thread go, and every later one through.
    func open() {
        let blocked = state.withLock { state in
            state.open = true
            defer { state.blocked = 0 }
            return state.blocked
        }
        for _ in 0..<blocked { semaphore.signal() }
    }
}

final class FloodingPlugin: Plugin {
    let tally: CallTally
    init(_ tally: CallTally) { self.tally = tally }
    func initialize(_ context: PluginContext) async throws {}
    func run(_ context: PluginContext) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask { [tally] in
                    do {
                        try await context.broker.send("task.create@v1", ["title": .string("flood \(index)")])
                        tally.count(.succeeded)
                    } catch let error as WireError where error.code == .rateLimited {
                        tally.count(.rateLimited)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Then idle until cancelled (an empty stream ends when its task is cancelled).
        let (idle, _) = AsyncStream<Never>.makeStream()
        for await _ in idle {}
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct PluginHostTests {
    /// Installs plugins allowed to create tasks, with optional manifest limits.
    static func install(_ ids: [String], in directory: TemporaryDirectory, limits: [String: JSONValue] = [:]) throws {
        let catalog = PluginCatalog(dataDirectory: directory.path("data"))
        for id in ids {
            let folder = try PluginScaffold.create(id: id, mode: .shared, in: directory.path("sources"))
            let url = folder.appendingPathComponent("plugin.json")
            var manifest = try JSONValue(parsing: Array(try Data(contentsOf: url))).objectValue ?? [:]
            manifest["capabilities"] = ["data:task:create", .string("data:\(id):create")]
            manifest["limits"] = .object(limits)
            try JSONValue.object(manifest).canonicalString.write(to: url, atomically: true, encoding: .utf8)
            try catalog.install(from: folder)
        }
    }

    static func host(_ directory: TemporaryDirectory) -> PluginHost {
        var configuration = PluginHost.Configuration(dataDirectory: directory.path("data"))
        configuration.healthInterval = .milliseconds(100)
        configuration.healthTimeout = .milliseconds(300)
        configuration.initialBackoff = .milliseconds(50)
        configuration.maximumBackoff = .milliseconds(400)
        return PluginHost(configuration: configuration)
    }

    @Test func failingPluginsAreRestartedWhileAWellBehavedOneKeepsWorking() async throws {
        let directory = TemporaryDirectory()
        try Self.install(["good", "badstart", "crasher", "hanger"], in: directory)
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let tally = CallTally()
        let gate = Gate()
        defer { gate.open() }
        let host = Self.host(directory)
        host.register(id: "good") { SteadyPlugin(tally) }
        host.register(id: "badstart") { FailingStartPlugin() }
        host.register(id: "crasher") { CrashingPlugin() }
        host.register(id: "hanger") { HangingPlugin(gate) }
        var changes = host.statusChanges().makeAsyncIterator()
        host.start()
        // Wait until every failure was seen and handled (each status change is an event)…
        func restarts(_ statuses: [PluginStatus], _ id: String) -> Int { statuses.first { $0.id == id }?.restarts ?? 0 }
        while let statuses = await changes.next(),
            !(restarts(statuses, "badstart") >= 2 && restarts(statuses, "crasher") >= 2 && restarts(statuses, "hanger") >= 1)
        {}
        // …and the well-behaved plugin kept working meanwhile.
        await tally.wait { $0.succeeded.load(ordering: .relaxed) > 20 }

        let good = try #require(host.status(of: "good"))
        #expect(good.state == .healthy)
        #expect(good.restarts == 0)
        #expect(tally.succeeded.load(ordering: .relaxed) > 20)
        #expect(tally.failed.load(ordering: .relaxed) == 0)

        let badstart = try #require(host.status(of: "badstart"))
        #expect(badstart.restarts >= 2)
        #expect(badstart.lastError?.contains("initialize threw") == true)
        let crasher = try #require(host.status(of: "crasher"))
        #expect(crasher.restarts >= 2)
        #expect(crasher.lastError?.contains("run() threw") == true)
        let hanger = try #require(host.status(of: "hanger"))
        #expect(hanger.restarts >= 1)
        #expect(hanger.lastError?.contains("hung") == true)

        gate.open()  // the hung plugins' threads end, so stop() can wait for every plugin's work
        await host.stop()
        #expect(host.statuses().allSatisfy { $0.state == .stopped })
        // stop() returns once every plugin's work has ended: what it acknowledged is final.
        let settled = tally.succeeded.load(ordering: .relaxed)
        // Every command the good plugin had acknowledged is in the database; the one it had in
        // flight when stop() cancelled it may have committed too (its ACK never came back).
        let stored = try TasksDatabase.count(broker.open(), "SELECT count(*) FROM tasks WHERE created_by = 'good'")
        #expect(stored >= settled && stored <= settled + 1, "\(stored) rows, \(settled) acknowledged")
    }

    @Test func aFloodingPluginIsRateLimitedAndAnotherIsNotSlowedToFailure() async throws {
        let directory = TemporaryDirectory()
        try Self.install(["flood"], in: directory, limits: ["rate_per_second": 50])
        try Self.install(["steady"], in: directory)
        let broker = try RunningBroker(directory: directory)
        defer { broker.stop() }
        let flood = CallTally()
        let steady = CallTally()
        let host = Self.host(directory)
        host.register(id: "flood") { FloodingPlugin(flood) }
        host.register(id: "steady") { SteadyPlugin(steady) }
        let watcher = try broker.rejectionWatcher()
        host.start()
        await flood.wait { $0.rateLimited.load(ordering: .relaxed) + $0.succeeded.load(ordering: .relaxed) >= 400 }
        await steady.wait { $0.succeeded.load(ordering: .relaxed) > 10 }
        await host.stop()
        #expect(flood.rateLimited.load(ordering: .relaxed) > 200, "most of the burst is refused")
        #expect(flood.succeeded.load(ordering: .relaxed) < 200)
        #expect(steady.succeeded.load(ordering: .relaxed) > 10)
        #expect(steady.failed.load(ordering: .relaxed) == 0)

        // The refusals are audited in aggregate, once per heartbeat: a few records whose counts add
        // up. Wait for them on audit.rejected (each is published after its commit).
        let refused = flood.rateLimited.load(ordering: .relaxed)
        var audited = 0
        _ = try watcher.awaitEvents { event in
            if event.topic == Topic.rejected, event.body["code"] == "rate_limited" {
                audited += Int(event.body["count"]?.intValue ?? 0)
            }
            return audited >= refused
        }
        let audit = try TasksDatabase.open(directory.path("data/audit.db"))
        // Every refusal the plugin saw is in the audit (the client retried some before giving up:
        // those attempts were refused and audited too).
        #expect(audited >= refused)
        #expect(try TasksDatabase.count(audit, "SELECT count(*) FROM rejections") < refused / 10)
    }
}

/// Sends one command as itself when it starts, then runs as plugins do by default until stopped.
final class OneCommandPlugin: Plugin {
    let tally: CallTally
    let contract: String
    init(_ tally: CallTally, contract: String) {
        self.tally = tally
        self.contract = contract
    }
    func initialize(_ context: PluginContext) async throws {
        try await context.broker.send(contract, ["title": .string("from \(context.id)")])
        tally.count(.succeeded)
    }
}

/// A host embedding the broker runs its plugins over `inproc://`, through the broker's context:
/// no token, no socket file, the same identity, capabilities and events.
@Suite(.timeLimit(.minutes(2))) struct InprocPluginHostTests {
    @Test func inProcessPluginsAndSubscribersUseInproc() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginScaffold.create(id: "alpha", mode: .exclusiveSQLite, in: directory.path("sources")))
        var configuration = BrokerConfiguration(dataDirectory: data)
        configuration.contractDirectories = [Fixtures.tasksContracts]
        configuration.inprocIdentities = ["local", "alpha"]
        configuration.heartbeatIntervalMs = 100
        let broker = try Broker(configuration: configuration)
        try broker.start()
        defer {
            broker.shutdown()
            broker.wait()
        }
        // Only the in-process path can serve alpha now: its token is gone.
        try FileManager.default.removeItem(at: TokenStore(dataDirectory: data).url(for: "alpha"))

        // alpha's live events, in process: everything it may read ("" is narrowed to its topics).
        let events = try broker.context.socket(.sub)
        defer { events.close() }
        try events.setReceiveTimeout(10_000)
        try events.subscribe("")
        try events.connect(Broker.inprocEventEndpoint(for: "alpha"))
        while let frames = try events.receive(), frames.first != Array("hb".utf8) {}

        var localConfiguration = ClientConfiguration(endpoint: Broker.inprocEndpoint(for: "local"))
        localConfiguration.sharedContext = broker.context
        let local = try SluiceClient(configuration: localConfiguration)
        defer { local.close() }
        // Published before alpha's command: alpha must not receive it (no audit:tasks:read).
        _ = try await local.send("task.create@v1", ["title": "the operator's"])

        var hostConfiguration = PluginHost.Configuration(dataDirectory: data)
        hostConfiguration.inprocContext = broker.context
        hostConfiguration.statusFile = nil
        let host = PluginHost(configuration: hostConfiguration)
        let tally = CallTally()
        host.register(id: "alpha") { OneCommandPlugin(tally, contract: "alpha.item.create@v1") }
        host.start()
        await tally.wait { $0.succeeded.load(ordering: .relaxed) >= 1 }
        await host.stop()

        var topics: [String] = []
        while let frames = try events.receive() {
            let event = try Event(frames: frames)
            if event.topic == "hb" { continue }
            topics.append(event.topic)
            if event.topic == "audit.alpha" {
                #expect(event.body["actor"] == "alpha")
                break
            }
        }
        #expect(topics == ["audit.alpha"] || topics == ["inval.alpha", "audit.alpha"], "\(topics)")
    }
}
