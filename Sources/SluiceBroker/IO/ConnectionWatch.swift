import SluiceZMQ

/// The peers of the request and event sockets, from their `zmq_socket_monitor` events (accepted,
/// disconnected), on the I/O thread: how many are connected (ephemeral mode's idle exit) and which
/// request connection just closed (its reads are cancelled: nobody is left to answer).
///
/// libzmq 4.3.4 has no `ZMQ_ROUTER_NOTIFY`, so a closed connection is known by its file
/// descriptor: the monitor names it, and every message says which descriptor it came in on
/// (``ZMQSocket/Received/sourceDescriptor``). A descriptor is reused once closed; libzmq reports
/// the disconnect before it closes the descriptor, so the event is on the monitor before any
/// message of a later connection on the same number. The I/O thread reads the monitor before it
/// admits a read (``drainRequestMonitor()``), so it never takes a new connection for a gone one.
final class ConnectionWatch {
    private let requestMonitor: ZMQSocket
    private let eventMonitor: ZMQSocket
    /// The monitors' places in the I/O thread's poller (``register(with:)``).
    private(set) var indexes: [Int] = []
    /// Peers connected to either socket now.
    private(set) var connections = 0
    /// Request-socket descriptors whose connection closed and that no connection took since.
    private var closed: Set<Int32> = []
    /// Called with the descriptor of each request connection that closes.
    var onRequestConnectionClosed: (Int32) -> Void = { _ in }

    /// Watches before the sockets bind: a client already trying to connect is counted, whenever
    /// it gets in.
    init(context: ZMQContext, requests: ZMQSocket, events: ZMQSocket) throws(ZMQError) {
        requestMonitor = try Self.monitor(requests, context: context, endpoint: "inproc://sluice-monitor-requests")
        eventMonitor = try Self.monitor(events, context: context, endpoint: "inproc://sluice-monitor-events")
    }

    private static func monitor(_ socket: ZMQSocket, context: ZMQContext, endpoint: String) throws(ZMQError)
        -> ZMQSocket
    {
        try socket.monitor(endpoint: endpoint, events: [.accepted, .disconnected])
        let pair = try context.socket(.pair)
        try pair.setLinger(0)
        try pair.connect(endpoint)
        return pair
    }

    /// Adds the monitors to the I/O thread's `poller`.
    func register(with poller: inout ZMQPoller) {
        indexes = [poller.add(requestMonitor), poller.add(eventMonitor)]
    }

    /// Reads the events waiting on the monitor that is readable at poller index `index`.
    func drain(socket index: Int) {
        if index == indexes.first { drainRequestMonitor() }
        if index == indexes.last { drain(eventMonitor, requests: false) }
    }

    /// Reads the request socket's waiting events: before a read is admitted, so that its
    /// connection's state is current.
    func drainRequestMonitor() { drain(requestMonitor, requests: true) }

    /// True when the request connection on `descriptor` has closed (its messages may still be
    /// queued behind the disconnect): a read from it has nobody to answer.
    func isClosed(_ descriptor: Int32) -> Bool { descriptor >= 0 && closed.contains(descriptor) }

    private func drain(_ monitor: ZMQSocket, requests: Bool) {
        while let frames = try? monitor.receive(dontWait: true), let event = ZMQMonitorEvent(frames: frames) {
            let descriptor = Int32(bitPattern: event.value)
            if event.kind == .accepted {
                connections += 1
                if requests { closed.remove(descriptor) }
            }
            if event.kind == .disconnected {
                connections = max(0, connections - 1)
                if requests {
                    closed.insert(descriptor)
                    onRequestConnectionClosed(descriptor)
                }
            }
        }
    }

    func close() {
        requestMonitor.close()
        eventMonitor.close()
    }
}
