public import ServiceLifecycle

/// Runs a ``Broker`` under swift-service-lifecycle: graceful shutdown (SIGTERM/SIGINT through the
/// ServiceGroup) stops admitting, commits and answers what is queued, then closes the sockets.
public struct BrokerService: Service {
    public let broker: Broker
    /// Called once the broker serves (its endpoints are bound).
    let onStarted: @Sendable () -> Void

    public init(broker: Broker, onStarted: @escaping @Sendable () -> Void = {}) {
        self.broker = broker
        self.onStarted = onStarted
    }

    /// Starts the broker unless the host already did (``Broker/start()`` before the service group
    /// runs: in-process clients then never wait for the group's task to be scheduled), and runs
    /// it until a graceful shutdown or cancellation.
    public func run() async throws {
        if !broker.hasStarted { try broker.start() }
        onStarted()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await broker.stopped()
            } onGracefulShutdown: {
                broker.shutdown()
            }
        } onCancel: {
            broker.shutdown()
        }
    }
}
