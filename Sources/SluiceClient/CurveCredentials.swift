public import Foundation
import SluiceZMQ

/// What a client presents on a tcp endpoint (CURVE, RFC 26): its own key pair and the broker's
/// public key, all in Z85. The broker knows the client by its public key (`sluice keys add <id>
/// <public-key>`); the secret key never leaves the client.
public struct CurveCredentials: Sendable, Equatable {
    /// The broker's public key (`sluice keys list` prints it; `<data-dir>/curve/broker.key`).
    public var serverPublicKey: String
    public var publicKey: String
    public var secretKey: String

    public init(serverPublicKey: String, publicKey: String, secretKey: String) {
        self.serverPublicKey = serverPublicKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Reads the client's key file (from `sluice keys generate`: `public-key = …` and
    /// `secret-key = …`) and takes the broker's public key (40 characters of Z85).
    public init(keyFile: URL, serverKey: String) throws {
        let (publicKey, secretKey) = try ZMQCurve.readKeyFile(keyFile)
        guard let secretKey else {
            throw ZMQCurve.KeyFileError(path: keyFile.path, reason: "has no secret-key line: a client needs its secret key")
        }
        guard ZMQCurve.decode(serverKey) != nil else {
            throw ZMQCurve.KeyFileError(path: keyFile.path, reason: "the server key '\(serverKey)' is not 40 characters of Z85")
        }
        self.init(serverPublicKey: serverKey, publicKey: publicKey, secretKey: secretKey)
    }
}
