public import Foundation
import SluiceZMQ

/// Who a client is: a name and its token, presented in the PLAIN handshake of every connection
/// (reconnects included). The broker decides the actor from these, never from a message.
///
/// On a `tcp://` endpoint the broker speaks CURVE instead: the client presents ``curve`` (its key
/// pair and the broker's public key), and the identity is whoever that public key is registered
/// for (`sluice keys add`); the name and token are not sent there.
public struct ClientCredentials: Sendable, Equatable {
    public var name: String
    public var token: String
    /// Keys for tcp endpoints (CURVE); nil for ipc-only clients.
    public var curve: CurveCredentials?

    public init(name: String, token: String, curve: CurveCredentials? = nil) {
        self.name = name
        self.token = token
        self.curve = curve
    }

    /// Credentials for tcp endpoints only: `name` is what errors call this client.
    public init(name: String, curve: CurveCredentials) {
        self.init(name: name, token: "", curve: curve)
    }

    /// Reads a token file (`<data-dir>/tokens/<name>.token`).
    public init(name: String, tokenFile: URL) throws {
        let text = try String(contentsOf: tokenFile, encoding: .utf8)
        self.init(name: name, token: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The operator's credentials for a broker's data directory: `local`, with
    /// `<data-dir>/tokens/local.token` (readable only by the directory's owner).
    /// On the broker's host that also gives the operator's CURVE keys for tcp endpoints, when the
    /// broker has made them (`<data-dir>/curve/local.key` and `broker.key`).
    public static func `operator`(dataDirectory: URL) throws -> ClientCredentials {
        var credentials = try ClientCredentials(
            name: "local", tokenFile: dataDirectory.appendingPathComponent("tokens/local.token"))
        let keys = dataDirectory.appendingPathComponent("curve")
        if FileManager.default.fileExists(atPath: keys.appendingPathComponent("local.key").path) {
            credentials.curve = try CurveCredentials(
                keyFile: keys.appendingPathComponent("local.key"),
                serverKey: try ZMQCurve.readKeyFile(keys.appendingPathComponent("broker.key")).publicKey)
        }
        return credentials
    }

    /// What a client without credentials presents: the broker refuses it at the handshake, and
    /// the client tells its caller why (``SluiceClientError/Code/credentialsRefused``).
    static let anonymous = ClientCredentials(name: "anonymous", token: "-")
}
