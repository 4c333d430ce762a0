public import SluiceZMQ
import Foundation

/// A broker played by hand, for client tests: a ROUTER on `endpoint` behind a PLAIN handshake
/// that lets every client in. The test reads what the client sends and answers what it wants.
/// Use the ROUTER from one thread at a time; `close()` unbinds the endpoint (a real broker can
/// bind it after).
public final class HandPlayedBroker: @unchecked Sendable {
    // @unchecked: the ROUTER is used by one thread at a time (the test's), the handshake socket
    // only by its own thread.
    let context = ZMQContext()
    public let router: ZMQSocket

    public init(endpoint: String, receiveTimeoutMs: Int32 = 10_000) throws {
        // Every handshake is accepted; the thread ends when the context is terminated.
        let bound = DispatchSemaphore(value: 0)
        let handshakes = Thread { [context] in
            guard let zap = try? context.socket(.rep), (try? zap.setLinger(0)) != nil,
                (try? zap.bind("inproc://zeromq.zap.01")) != nil
            else {
                bound.signal()
                return
            }
            bound.signal()
            while let request = try? zap.receive(), request.count >= 2 {
                try? zap.send([Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array("t".utf8), []])
            }
            zap.close()
        }
        handshakes.start()
        bound.wait()
        router = try context.socket(.router)
        try router.setLinger(0)
        try router.setPlainServer(domain: "sluice")
        try router.setReceiveTimeout(receiveTimeoutMs)
        try router.bind(endpoint)
    }

    /// The next request, `[routing id, empty, SLU1, kind, header, body]`; nil after the timeout.
    public func receive() throws -> [[UInt8]]? { try router.receive() }

    /// Sends `frames` (after the delimiter) to the client with `routingID`.
    public func reply(to routingID: [UInt8], _ frames: [[UInt8]]) throws { try router.send([routingID, []] + frames) }

    public func close() {
        router.close()
        context.terminate()
    }
}
