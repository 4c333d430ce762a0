import SluiceZMQ

/// Ephemeral mode's exit condition, on the I/O thread: how many peers are connected to the
/// request and event sockets (their `zmq_socket_monitor` events: accepted, disconnected), and
/// since when the broker has had none and nothing pending. No timer polls it: the loop wakes for
/// a monitor event, a request, a notice, or at `exitAt`.
final class IdleExit {
    let monitors: [ZMQSocket]
    /// The monitors' places in the I/O thread's poller (``register(with:)``).
    private(set) var indexes: [Int] = []
    let afterNanoseconds: UInt64
    private(set) var connections = 0
    private(set) var idleSince: UInt64?

    init(context: ZMQContext, sockets: [ZMQSocket], afterMs: Int) throws(ZMQError) {
        var monitors: [ZMQSocket] = []
        for (index, socket) in sockets.enumerated() {
            let endpoint = "inproc://sluice-idle-monitor-\(index)"
            try socket.monitor(endpoint: endpoint, events: [.accepted, .disconnected])
            let pair = try context.socket(.pair)
            try pair.setLinger(0)
            try pair.connect(endpoint)
            monitors.append(pair)
        }
        self.monitors = monitors
        afterNanoseconds = UInt64(max(0, afterMs)) * 1_000_000
    }

    /// Adds the monitors to the I/O thread's `poller`.
    func register(with poller: inout ZMQPoller) { indexes = monitors.map { poller.add($0) } }

    /// Counts the connect and disconnect events waiting on the monitor at poller index `index`.
    func countConnections(socket index: Int) {
        guard let position = indexes.firstIndex(of: index) else { return }
        while let frames = try? monitors[position].receive(dontWait: true), let event = ZMQMonitorEvent(frames: frames) {
            if event.kind == .accepted { connections += 1 }
            if event.kind == .disconnected { connections = max(0, connections - 1) }
        }
    }

    /// Records whether the broker is quiet now (no peer, nothing pending); true once it has been
    /// quiet for the whole idle time.
    func note(quiet: Bool, now: UInt64) -> Bool {
        guard quiet, connections == 0 else {
            idleSince = nil
            return false
        }
        if idleSince == nil { idleSince = now }
        return now >= idleSince! + afterNanoseconds
    }

    /// When the broker stops if nothing happens before (nil while it is not idle).
    var exitAt: UInt64? { idleSince.map { $0 + afterNanoseconds } }

    func close() { for monitor in monitors { monitor.close() } }
}
