public import Foundation
public import Logging
public import SluiceClient
import SluiceWire
public import SluiceZMQ
import Synchronization

/// Runs plugins in-process, each on a thread of its own with its own broker client bound to its
/// identity, and keeps them alive: a plugin that fails to start, crashes or hangs is marked,
/// shut down and restarted with exponential backoff, while the others go on undisturbed.
///
/// ```swift
/// let host = PluginHost(configuration: .init(dataDirectory: dataURL))
/// host.register(id: "notes") { NotesPlugin() }
/// host.start()
/// ...
/// await host.stop()     // drains each plugin's in-flight calls, then shuts it down
/// ```
public final class PluginHost: Sendable {
    /// How the host connects plugins and watches over them.
    public struct Configuration: Sendable {
        /// The broker's data directory: its sockets, and each plugin's token
        /// (`tokens/<id>.token`, made by `sluice plugins install`).
        public var dataDirectory: URL
        /// How often `health()` is polled. Default 1 s.
        public var healthInterval: Duration = .seconds(1)
        /// A `health()` (or `initialize`, or `shutdown`) answer slower than this marks the plugin
        /// hung. Default 5 s.
        public var healthTimeout: Duration = .seconds(5)
        /// First restart delay; doubles per consecutive failure up to `maximumBackoff`. Default 100 ms.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(30)
        /// Consecutive failed calls that open a plugin's circuit breaker. Default 5.
        public var breakerThreshold = 5
        /// How long an open breaker fails calls fast before letting one probe through. Default 1 s.
        public var breakerCoolDown: Duration = .seconds(1)
        /// How long `stop()` waits for a plugin's in-flight calls. Default 5 s.
        public var drainTimeout: Duration = .seconds(5)
        /// Per-attempt reply timeout of each plugin's client. Default 5 s.
        public var callTimeout: Duration = .seconds(5)
        /// Where the host writes its plugins' statuses (JSON) for `sluice plugins health`, every
        /// health interval. Default `<data-dir>/plugin-host.json`; nil disables it.
        public var statusFile: URL?
        /// The ZeroMQ context of a broker embedded in this process (`broker.context`): plugins
        /// then connect over `inproc://` (``InprocEndpoint``) instead of the data directory's ipc
        /// sockets, as their own identity — the broker must list them in
        /// `BrokerConfiguration.inprocIdentities`. Nil (default): ipc with each plugin's token.
        public var inprocContext: ZMQContext?

        public init(dataDirectory: URL) {
            self.dataDirectory = dataDirectory
            statusFile = dataDirectory.appendingPathComponent("plugin-host.json")
        }
    }

    public let configuration: Configuration
    let logger: Logger
    let registrations = Mutex<[(id: String, make: @Sendable () -> any Plugin)]>([])
    let statusTable = Mutex<[String: PluginStatus]>([:])
    let brokers = Mutex<[String: PluginBroker]>([:])
    let supervisors = Mutex<[Task<Void, Never>]>([])
    let observers = Mutex<[UInt64: AsyncStream<[PluginStatus]>.Continuation]>([:])
    let nextObserver = Atomic<UInt64>(0)

    public init(configuration: Configuration, logger: Logger = Logger(label: "sluice.plugin-host")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Adds a plugin, made anew by `make` for every (re)start. `id` must be installed in the
    /// broker's data directory (it needs a token and capabilities).
    public func register(id: String, _ make: @escaping @Sendable () -> any Plugin) {
        registrations.withLock { $0.append((id, make)) }
        statusTable.withLock {
            $0[id] = PluginStatus(id: id, state: .stopped, lastError: nil, restarts: 0, inFlight: 0, circuitOpen: false)
        }
    }

    /// Starts every registered plugin's supervisor; returns at once.
    public func start() {
        for registration in registrations.withLock({ $0 }) {
            let task = Task { await supervise(id: registration.id, make: registration.make) }
            supervisors.withLock { $0.append(task) }
        }
        if let statusFile = configuration.statusFile {
            let task = Task {
                while !Task.isCancelled {
                    writeStatuses(to: statusFile)
                    try? await Task.sleep(for: configuration.healthInterval)
                }
                writeStatuses(to: statusFile)
            }
            supervisors.withLock { $0.append(task) }
        }
    }

    /// `{"pid", "updated_at", "plugins": [{id, state, last_error, restarts, in_flight, circuit_open}]}`.
    func writeStatuses(to url: URL) {
        let plugins: [JSONValue] = statuses().map { status in
            [
                "id": .string(status.id), "state": .string(status.state.rawValue),
                "last_error": status.lastError.map(JSONValue.string) ?? .null,
                "restarts": .int(Int64(status.restarts)), "in_flight": .int(Int64(status.inFlight)),
                "circuit_open": .bool(status.circuitOpen),
            ]
        }
        let document: JSONValue = [
            "pid": .int(Int64(ProcessInfo.processInfo.processIdentifier)),
            "updated_at": .double(Date().timeIntervalSince1970), "plugins": .array(plugins),
        ]
        try? Data(document.canonicalBytes()).write(to: url, options: .atomic)
    }

    /// Each plugin's state, last error, restarts, in-flight calls and breaker.
    public func statuses() -> [PluginStatus] {
        let table = statusTable.withLock { $0 }
        let live = brokers.withLock { $0 }
        return table.values.sorted { $0.id < $1.id }.map { status in
            var status = status
            status.inFlight = live[status.id]?.inFlight ?? 0
            status.circuitOpen = live[status.id]?.isOpen ?? false
            return status
        }
    }

    public func status(of id: String) -> PluginStatus? { statuses().first { $0.id == id } }

    /// Every plugin's status each time one changes (a start, a failure, a restart, a stop),
    /// beginning with the current ones: to wait for a state, not to poll for it.
    public func statusChanges() -> AsyncStream<[PluginStatus]> {
        let (stream, continuation) = AsyncStream<[PluginStatus]>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = nextObserver.add(1, ordering: .relaxed).newValue
        observers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in self?.observers.withLock { _ = $0.removeValue(forKey: id) } }
        continuation.yield(statuses())
        return stream
    }

    /// Stops every plugin: drains its in-flight calls, cancels its work, calls `shutdown()`.
    public func stop() async {
        let tasks = supervisors.withLock { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    func update(_ id: String, _ change: (inout PluginStatus) -> Void) {
        statusTable.withLock { table in
            if var status = table[id] {
                change(&status)
                table[id] = status
            }
        }
        let watching = observers.withLock { Array($0.values) }
        guard !watching.isEmpty else { return }
        let current = statuses()
        for observer in watching { observer.yield(current) }
    }
}
