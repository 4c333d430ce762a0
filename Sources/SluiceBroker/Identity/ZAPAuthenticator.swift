import SluiceZMQ

/// The ZeroMQ Authentication Protocol (RFC 27) handler for the broker's context: it judges the
/// PLAIN credentials of every new connection to the request and event sockets and names the peer.
///
/// Valid credentials make the connection's `User-Id` the identity's name. Anything else — an
/// unknown name, a wrong token, another mechanism — is refused at the handshake (status 400): the
/// connection never carries a message. Refusals are counted in ``HandshakeRefusals`` (bounded),
/// which the I/O thread audits once per heartbeat.
final class ZAPAuthenticator {
    static let endpoint = "inproc://zeromq.zap.01"
    static let domain = "sluice"

    let tokens: TokenStore
    let refusals: HandshakeRefusals

    init(tokens: TokenStore, refusals: HandshakeRefusals) {
        self.tokens = tokens
        self.refusals = refusals
    }

    /// Serves ZAP requests on `socket` (a REP bound to ``endpoint``) until the context ends.
    func run(socket: ZMQSocket) {
        while true {
            let request: [[UInt8]]
            do {
                guard let frames = try socket.receive() else { continue }
                request = frames
            } catch {
                break  // context terminated
            }
            // version, request id, domain, address, routing id, mechanism, credentials...
            guard request.count >= 6 else { continue }
            var userID: String?
            if request[5] == Array("PLAIN".utf8), request.count == 8 {
                let name = String(decoding: request[6], as: UTF8.self)
                if tokens.verify(name: name, presented: request[7]) { userID = name }
                if userID == nil { refusals.record(presentedName: request[6]) }
            } else {
                refusals.record(presentedName: [])
            }
            let reply: [[UInt8]] =
                if let userID {
                    [Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array(userID.utf8), []]
                } else {
                    [Array("1.0".utf8), request[1], Array("400".utf8), Array("credentials refused".utf8), [], []]
                }
            do { try socket.send(reply) } catch { break }
        }
        socket.close()
    }
}
