public import SluiceClient
public import SluiceWire
import Synchronization

/// A plugin's way to the broker: its own client, behind a circuit breaker, with its calls
/// counted so the host can drain them before shutting the plugin down.
public final class PluginBroker: Sendable {
    /// Why a call was not sent.
    public struct CircuitOpen: Error, Sendable, CustomStringConvertible {
        public var failures: Int
        public var description: String {
            "circuit open after \(failures) consecutive failures; calls resume after the cool-down"
        }
    }

    struct Breaker {
        var consecutiveFailures = 0
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    let client: SluiceClient
    let failureThreshold: Int
    let coolDown: Duration
    private let breaker = Mutex(Breaker())
    private let inFlightCalls = Atomic<Int>(0)

    init(client: SluiceClient, failureThreshold: Int, coolDown: Duration) {
        self.client = client
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }

    /// Calls in flight now.
    public var inFlight: Int { inFlightCalls.load(ordering: .relaxed) }

    /// True while calls fail fast.
    public var isOpen: Bool {
        breaker.withLock { state in state.openUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    public func send(_ contract: String, _ payload: JSONValue, idempotencyKey: String? = nil) async throws
        -> Acknowledgement
    {
        try await call { try await client.send(contract, payload, idempotencyKey: idempotencyKey) }
    }

    public func send<Command: CommandContract>(_ command: Command, idempotencyKey: String? = nil) async throws
        -> Command.Result
    {
        try await call { try await client.send(command, idempotencyKey: idempotencyKey) }
    }

    public func query(_ contract: String, _ parameters: JSONValue = [:], limit: Int? = nil) async throws -> QueryResult
    {
        try await call { try await client.query(contract, parameters, limit: limit) }
    }

    public func query<Query: QueryContract>(_ query: Query, limit: Int? = nil) async throws -> [Query.Row] {
        try await call { try await client.query(query, limit: limit) }
    }

    /// Gap-free events of a topic (not behind the breaker: a subscription is not a call).
    public func subscribe(topic: String, after position: StreamPosition? = nil) -> GapFreeSubscription {
        client.subscribe(topic: topic, after: position)
    }

    /// Runs a call through the breaker. Failures that say the broker or the path is unwell
    /// (timeouts, `overloaded`, `internal`) count; a refusal of this call's content
    /// (`validation_failed`, `capability_denied`, ...) or a rate limit does not.
    func call<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let now = ContinuousClock.now
        try breaker.withLock { state throws(CircuitOpen) in
            if let until = state.openUntil {
                guard now >= until, !state.probing else { throw CircuitOpen(failures: state.consecutiveFailures) }
                state.probing = true  // half-open: this call is the probe
            }
        }
        inFlightCalls.add(1, ordering: .relaxed)
        defer { inFlightCalls.subtract(1, ordering: .relaxed) }
        do {
            let value = try await body()
            breaker.withLock { $0 = Breaker() }
            return value
        } catch {
            let counts: Bool
            switch error {
            case let wire as WireError: counts = wire.code == .overloaded || wire.code == .internal
            case is SluiceClientError: counts = true
            default: counts = false
            }
            breaker.withLock { state in
                state.probing = false
                guard counts else { return }
                state.consecutiveFailures += 1
                if state.consecutiveFailures >= failureThreshold { state.openUntil = ContinuousClock.now + coolDown }
            }
            throw error
        }
    }

    /// Waits (up to `limit`) until no call is in flight.
    func drain(limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while inFlight > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }
}
