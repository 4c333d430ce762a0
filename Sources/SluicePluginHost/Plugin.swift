public import Logging
public import SluiceClient

/// A plugin the host runs: set up in `initialize`, work in `run`, answer `health`, clean up in
/// `shutdown`. Each instance runs on a thread of its own; a new instance is made for each
/// restart, so a plugin never has to reset itself.
public protocol Plugin: AnyObject, Sendable {
    /// Connect to what you need, subscribe, load state. Throwing here is a failed start.
    func initialize(_ context: PluginContext) async throws
    /// The plugin's work, until cancelled. Returning or throwing ends this run; the host restarts
    /// the plugin (with backoff) unless it is shutting down. The default waits for cancellation.
    func run(_ context: PluginContext) async throws
    /// Polled by the host; an answer that does not come within the host's health timeout marks
    /// the plugin hung.
    func health() async -> PluginHealth
    /// Last call on this instance: release what it holds. Calls still in flight have been drained.
    func shutdown() async
}

extension Plugin {
    public func run(_ context: PluginContext) async throws {
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }

    public func health() async -> PluginHealth { .healthy }

    public func shutdown() async {}
}

/// What a plugin says about itself.
public enum PluginHealth: Sendable, Equatable {
    case healthy
    case degraded(String)
}

/// What the host hands a plugin: its identity and a broker client bound to it.
public struct PluginContext: Sendable {
    /// The plugin id; the broker knows this plugin by it and nothing else.
    public let id: String
    /// Commands, queries, subscriptions, through the plugin's own connection and credentials,
    /// behind the host's circuit breaker.
    public let broker: PluginBroker
    public let logger: Logger
}
