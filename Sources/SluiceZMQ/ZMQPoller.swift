#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
internal import CZeroMQ

/// Waits until any of several sockets or file descriptors is readable.
///
/// `zmq_poll` asks every socket for its `ZMQ_EVENTS` before it blocks and again after it wakes,
/// and polls all descriptors twice (once without waiting): per wake-up, two `poll` calls plus,
/// for each socket, an event check that is itself a `poll` and a `getpid` when nothing is
/// pending: 30 `poll` and 30 `getpid` calls per command for the broker's I/O thread with one
/// client (strace, 2026-12-01). This poller blocks once on all the descriptors — each socket's
/// `ZMQ_FD`, which stays readable from the moment something may have changed for the socket until
/// a call on it takes that in — and asks a socket's `ZMQ_EVENTS` only where its answer may have
/// changed: before blocking, for a socket the caller called since the last answer (a send or a
/// receive may take in what its descriptor would have shown) or whose last answer was a message.
/// A socket whose last call was a receive that found nothing queued is not asked: that receive
/// was the same question. After the wake, a socket whose descriptor fired is reported as it is,
/// unasked: the caller's receive asks (benchmarks.md, "Fourteenth round").
///
/// Built on the owning thread from sockets that thread owns; not Sendable for the same reason.
public struct ZMQPoller {
    /// Per item: the socket (nil for a plain descriptor), kept alive while it is polled.
    private var sockets: [ZMQSocket?] = []
    /// Per item: what poll(2) watches — the socket's `ZMQ_FD`, or the plain descriptor; a paused
    /// item's descriptor is stored complemented, negative, so poll(2) skips it.
    private var descriptors: [pollfd] = []
    /// Per socket: its ``ZMQSocket/calls`` right after the poller last asked it, and whether the
    /// answer was a message.
    private var askedAt: [UInt64] = []
    private var hadMessage: [Bool] = []
    /// The array ``poll(timeoutMilliseconds:)`` returned last, refilled by the next call.
    private var lastReadable: [Bool] = []

    public init() {}

    /// Adds a socket; returns its index in ``poll(timeoutMilliseconds:)``'s answer.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket) -> Int {
        guard let fd = socket.signalDescriptor, fd >= 0 else { preconditionFailure("a closed socket added to a poller") }
        return append(socket, fd)
    }

    /// Adds a plain file descriptor (an eventfd, a pipe); returns its index. It is reported on any
    /// event poll(2) returns for it — readable, an error or a hang-up — so its owner reads it and
    /// learns which.
    @discardableResult
    public mutating func add(fileDescriptor: Int32) -> Int { append(nil, fileDescriptor) }

    private mutating func append(_ socket: ZMQSocket?, _ fd: Int32) -> Int {
        sockets.append(socket)
        descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        askedAt.append(UInt64.max)  // never asked
        hadMessage.append(false)
        return sockets.count - 1
    }

    /// Stops or resumes watching the item at `index` (a paused item is never reported readable).
    public mutating func watch(_ index: Int, _ watching: Bool) {
        if isWatched(index) != watching { descriptors[index].fd = ~descriptors[index].fd }
    }

    private func isWatched(_ index: Int) -> Bool { descriptors[index].fd >= 0 }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which items may be read: a
    /// plain descriptor that poll(2) reported, a socket known to have a message, or a socket whose
    /// descriptor fired — its receive without waiting may then find nothing (the descriptor says
    /// only that something changed), so callers read every reported socket with `dontWait` until
    /// it says nothing is queued.
    /// A signal interrupting the wait returns what was known before it rather than throwing; a
    /// socket whose context is terminating throws (`ETERM`), so its thread can close up.
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> [Bool] {
        let count = sockets.count
        // The last answer's array, refilled: the caller has let go of it by the next call, so
        // this allocates nothing (a new [Bool] per wake-up cost a runtime metadata lookup too).
        var readable = lastReadable
        lastReadable = []
        if readable.count == count {
            for index in readable.indices { readable[index] = false }
        } else {
            readable = Array(repeating: false, count: count)
        }
        defer { lastReadable = readable }
        var ready = false
        for index in 0..<count where isWatched(index) {
            guard let socket = sockets[index] else { continue }
            if socket.foundEmptyAt == socket.calls {
                // Its last call was a receive that found nothing queued: the answer asking would
                // give (libzmq takes in the socket's signals before it says EAGAIN, as it does
                // for ZMQ_EVENTS), without another call.
                askedAt[index] = socket.calls
                hadMessage[index] = false
                continue
            }
            guard hadMessage[index] || socket.calls != askedAt[index] else { continue }
            readable[index] = try ask(index, socket)
            ready = ready || readable[index]
        }
        // Once, without waiting when a socket already has a message (to learn the descriptors').
        let rc = descriptors.withUnsafeMutableBufferPointer { buffer in
            Glibc.poll(buffer.baseAddress, nfds_t(count), ready ? 0 : Int32(clamping: timeoutMilliseconds))
        }
        if rc < 0 {
            let error = ZMQError.last("poll")
            if error.isInterrupted { return readable }
            throw error
        }
        guard rc > 0 else { return readable }
        for index in 0..<count where isWatched(index) && descriptors[index].revents != 0 {
            descriptors[index].revents = 0
            // A socket whose descriptor fired is reported without asking: the caller's receive
            // without waiting asks the same question (and, finding nothing, spares the next poll
            // its ask). Not known until then: asked before the next wait unless that receive
            // answered.
            readable[index] = true
            if sockets[index] != nil { askedAt[index] = UInt64.max }
        }
        return readable
    }

    /// Asks `socket`'s `ZMQ_EVENTS` whether a message is waiting, and remembers when and what.
    private mutating func ask(_ index: Int, _ socket: ZMQSocket) throws(ZMQError) -> Bool {
        let answer = try socket.incoming()
        askedAt[index] = socket.calls
        hadMessage[index] = answer
        return answer
    }
}
