/// Where a plugin is in its lifecycle, and how it has fared.
public struct PluginStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case starting, healthy, degraded, stopping, stopped, failed
    }

    public var id: String
    public var state: State
    public var lastError: String?
    /// Times the host restarted the plugin.
    public var restarts: Int
    /// Broker calls in flight now.
    public var inFlight: Int
    /// True while the plugin's calls fail fast.
    public var circuitOpen: Bool
}
