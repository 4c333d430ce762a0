public import ServiceLifecycle

/// Runs a ``Broker`` under swift-service-lifecycle: graceful shutdown (SIGTERM/SIGINT through the
/// ServiceGroup) stops admitting, commits and answers what is queued, then closes the sockets.
public struct BrokerService: Service {
    public let broker: Broker

    public init(broker: Broker) { self.broker = broker }

    public func run() async throws {
        try broker.start()
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
