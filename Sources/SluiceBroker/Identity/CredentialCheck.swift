import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Revocation reaches open connections: whether the credential a connection proved at its
/// handshake (``ZAPAuthenticator/credentialProperty``: a token's fingerprint, a CURVE key) still
/// holds for its identity — after `sluice plugins rotate-token`, `disable` or `remove`, or
/// `sluice keys revoke`, it does not, and the I/O thread refuses that connection's requests
/// (`unauthenticated`) instead of serving it until it happens to reconnect.
///
/// Verdicts are cached per (identity, credential) and forgotten whenever the token or key
/// directories change: an inotify watch (no polling) whose descriptor the I/O thread polls.
final class CredentialCheck {
    let tokens: TokenStore
    let curveKeys: CurveKeyStore
    /// The inotify descriptor the I/O thread polls; -1 when inotify is unavailable (verdicts are
    /// then never cached).
    let fileDescriptor: Int32
    private var verdicts: [String: Bool] = [:]

    init(tokens: TokenStore, curveKeys: CurveKeyStore) {
        self.tokens = tokens
        self.curveKeys = curveKeys
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        fileDescriptor = descriptor
        guard descriptor >= 0 else { return }
        let changes = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)
        for directory in [tokens.directory, curveKeys.authorizedDirectory, curveKeys.revokedDirectory] {
            // Made now if missing, so that a first key or token written later is seen too.
            try? DurableFile.createDirectory(directory)
            _ = inotify_add_watch(descriptor, directory.path, changes)
        }
    }

    deinit { if fileDescriptor >= 0 { close(fileDescriptor) } }

    /// Something changed in the watched directories: every verdict is worked out again.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(fileDescriptor, &buffer, buffer.count) > 0 {}
        verdicts.removeAll(keepingCapacity: true)
    }

    /// Whether `credential` (as the handshake attached it) still proves `actor`. Connections
    /// without one (in-process, `anonymous`) have nothing to revoke.
    func stillHolds(actor: String, credential: String?) -> Bool {
        guard let credential, !credential.isEmpty else { return true }
        let key = actor + "\n" + credential
        if let verdict = verdicts[key] { return verdict }
        let verdict: Bool
        if credential.hasPrefix("curve:") {
            verdict = curveKeys.registeredKey(of: actor) == String(credential.dropFirst(6))
        } else {
            verdict =
                !tokens.isDisabled(actor)
                && tokens.token(for: actor).map { ZAPAuthenticator.tokenFingerprint(Array($0.utf8)) } == credential
        }
        if fileDescriptor >= 0 { verdicts[key] = verdict }
        return verdict
    }
}
