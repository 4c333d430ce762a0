import Foundation

/// Revocation reaches open connections: whether the credential a connection proved at its
/// handshake (``ZAPAuthenticator/credentialProperty``: a token's fingerprint, a CURVE key) still
/// holds for its identity — after `sluice plugins rotate-token`, `disable` or `remove`, or
/// `sluice keys revoke`, it does not, and the I/O thread refuses that connection's requests
/// (`unauthenticated`) instead of serving it until it happens to reconnect.
///
/// Verdicts are cached per credential (with the identity it was judged for) and forgotten whenever the token or key
/// directories change (``FileWatch`` tells the I/O thread, which calls ``forget()``).
final class CredentialCheck {
    let tokens: TokenStore
    let curveKeys: CurveKeyStore
    /// Without a watch telling when to forget, every request works its verdict out afresh.
    var cachesVerdicts: Bool
    /// Credential → the identity it was judged for and the verdict. Keyed by the credential
    /// alone (a token fingerprint or a key names one identity), so a request's check builds no
    /// string: it runs for every request.
    private var verdicts: [String: (actor: String, holds: Bool)] = [:]

    init(tokens: TokenStore, curveKeys: CurveKeyStore, cachesVerdicts: Bool) {
        self.tokens = tokens
        self.curveKeys = curveKeys
        self.cachesVerdicts = cachesVerdicts
    }

    /// The directories whose changes make verdicts stale.
    var watchedDirectories: [URL] {
        [tokens.directory, curveKeys.authorizedDirectory, curveKeys.revokedDirectory]
    }

    /// Something changed in the watched directories: every verdict is worked out again.
    func forget() { verdicts.removeAll(keepingCapacity: true) }

    /// Whether `credential` (as the handshake attached it) still proves `actor`. Connections
    /// without one (in-process, `anonymous`) have nothing to revoke.
    func stillHolds(actor: String, credential: String?) -> Bool {
        guard let credential, !credential.isEmpty else { return true }
        if let cached = verdicts[credential], cached.actor == actor { return cached.holds }
        let verdict: Bool
        if credential.hasPrefix("curve:") {
            verdict = curveKeys.registeredKey(of: actor) == String(credential.dropFirst(6))
        } else {
            verdict =
                !tokens.isDisabled(actor)
                && tokens.token(for: actor).map { ZAPAuthenticator.tokenFingerprint(Array($0.utf8)) } == credential
        }
        if cachesVerdicts { verdicts[credential] = (actor, verdict) }
        return verdict
    }
}
