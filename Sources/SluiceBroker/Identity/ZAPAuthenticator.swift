import SluiceWire
import SluiceZMQ

/// The ZeroMQ Authentication Protocol (RFC 27) handler for the broker's context: it judges the
/// credentials of every new connection to the request and event sockets and names the peer: PLAIN
/// name and token on ipc, the registered CURVE public key on tcp (``CurveKeyStore``).
///
/// Valid credentials make the connection's `User-Id` the identity's name. Anything else — an
/// unknown name, a wrong token, another mechanism — is refused at the handshake (status 400): the
/// connection never carries a message. Refusals are counted in ``HandshakeRefusals`` (bounded),
/// which the I/O thread audits once per heartbeat.
final class ZAPAuthenticator {
    static let endpoint = "inproc://zeromq.zap.01"
    static let domain = "sluice"

    let tokens: TokenStore
    let curveKeys: CurveKeyStore
    /// NULL-mechanism connections (tcp with `insecureTCP`) are let in as `anonymous`.
    let allowsAnonymous: Bool
    let refusals: HandshakeRefusals

    init(tokens: TokenStore, curveKeys: CurveKeyStore, allowsAnonymous: Bool, refusals: HandshakeRefusals) {
        self.tokens = tokens
        self.curveKeys = curveKeys
        self.allowsAnonymous = allowsAnonymous
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
            let identified = identify(request)
            let reply: [[UInt8]] =
                if let (userID, credential) = identified {
                    [
                        Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array(userID.utf8),
                        ZAPAuthenticator.metadata([(ZAPAuthenticator.credentialProperty, credential)]),
                    ]
                } else {
                    [Array("1.0".utf8), request[1], Array("400".utf8), Array("credentials refused".utf8), [], []]
                }
            do { try socket.send(reply) } catch { break }
        }
        socket.close()
    }

    /// The connection property naming what proved its identity (``CredentialCheck``): the
    /// token's fingerprint for PLAIN, the key for CURVE, empty for `anonymous`.
    static let credentialProperty = "X-Sluice-Credential"

    /// The fingerprint of a PLAIN token: enough to tell tokens apart, useless to present.
    static func tokenFingerprint(_ token: some Sequence<UInt8>) -> String {
        "token:" + String(SHA256.hexDigest(token).prefix(32))
    }

    /// ZAP's metadata frame: each property as a 1-byte name length, the name, a 4-byte
    /// big-endian value length and the value (ZMTP's property format).
    static func metadata(_ properties: [(String, String)]) -> [UInt8] {
        var frame: [UInt8] = []
        for (name, value) in properties {
            frame.append(UInt8(name.utf8.count))
            frame += name.utf8
            let length = UInt32(value.utf8.count)
            frame += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            frame += value.utf8
        }
        return frame
    }

    /// The identity a ZAP request's credentials prove and what proved it, or nil (the refusal
    /// is recorded).
    func identify(_ request: [[UInt8]]) -> (String, String)? {
        let mechanism = String(decoding: request[5], as: UTF8.self)
        switch (mechanism, request.count) {
        case ("PLAIN", 8):
            let name = String(decoding: request[6], as: UTF8.self)
            if tokens.verify(name: name, presented: request[7]) {
                return (name, ZAPAuthenticator.tokenFingerprint(request[7]))
            }
            refusals.record(presentedName: request[6])
        case ("CURVE", 7):
            // The client's long-term public key, which CURVE has proved it holds the secret of.
            if let id = curveKeys.identity(for: request[6]), let key = ZMQCurve.encode(request[6]) {
                return (id, "curve:" + key)
            }
            let revoked = curveKeys.revokedIdentity(for: request[6])
            refusals.record(label: revoked.map { "revoked key of \($0)" } ?? "unregistered CURVE key")
        case ("NULL", 6) where allowsAnonymous:
            return ("anonymous", "")
        default:
            refusals.record(presentedName: [])
        }
        return nil
    }
}
