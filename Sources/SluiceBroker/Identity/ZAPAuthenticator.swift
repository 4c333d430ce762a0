import Logging
import SluiceZMQ

/// The ZeroMQ Authentication Protocol (RFC 27) handler for the broker's context: it judges the
/// PLAIN credentials of every new connection to the request socket and names the peer.
///
/// Valid credentials make the connection's `User-Id` the identity's name. Unknown names and wrong
/// tokens are still let in with an empty `User-Id`, so the client gets a clear `unauthenticated`
/// ERROR for its requests instead of a silent disconnect.
final class ZAPAuthenticator {
    static let endpoint = "inproc://zeromq.zap.01"
    static let domain = "sluice"

    let tokens: TokenStore
    let logger: Logger

    init(tokens: TokenStore, logger: Logger) {
        self.tokens = tokens
        self.logger = logger
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
            let mechanism = String(decoding: request[5], as: UTF8.self)
            var userID = ""
            if mechanism == "PLAIN", request.count == 8 {
                let name = String(decoding: request[6], as: UTF8.self)
                if tokens.verify(name: name, presented: request[7]) {
                    userID = name
                } else {
                    logger.notice("credentials refused", metadata: ["user": "\(name.prefix(64))"])
                }
            }
            let reply: [[UInt8]] = [
                Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array(userID.utf8), [],
            ]
            do { try socket.send(reply) } catch { break }
        }
        socket.close()
    }
}
