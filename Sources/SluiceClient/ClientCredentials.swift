public import Foundation

/// Who a client is: a name and its token, presented in the PLAIN handshake of every connection
/// (reconnects included). The broker decides the actor from these, never from a message.
public struct ClientCredentials: Sendable, Equatable {
    public var name: String
    public var token: String

    public init(name: String, token: String) {
        self.name = name
        self.token = token
    }

    /// Reads a token file (`<data-dir>/tokens/<name>.token`).
    public init(name: String, tokenFile: URL) throws {
        let text = try String(contentsOf: tokenFile, encoding: .utf8)
        self.init(name: name, token: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The operator's credentials for a broker's data directory: `local`, with
    /// `<data-dir>/tokens/local.token` (readable only by the directory's owner).
    public static func `operator`(dataDirectory: URL) throws -> ClientCredentials {
        try ClientCredentials(name: "local", tokenFile: dataDirectory.appendingPathComponent("tokens/local.token"))
    }

    /// What a client without credentials presents: the broker refuses it at the handshake, and
    /// the client tells its caller why (``SluiceClientError/Code/credentialsRefused``).
    static let anonymous = ClientCredentials(name: "anonymous", token: "-")
}
