import Synchronization

/// Handshakes the ZAP handler refused since the I/O thread last took them, counted per presented
/// name. At most ``maxNames`` names are kept (the rest are counted under ``otherNames``), so a
/// flood of bad credentials costs a fixed amount of memory, and one audit record per name per
/// heartbeat.
final class HandshakeRefusals: Sendable {
    static let maxNames = 64
    static let otherNames = "(other names)"
    static let invalidName = "(not a valid identity name)"

    private let counts = Mutex<[String: Int64]>([:])

    /// Counts one refused handshake that presented `name` (the PLAIN username, untrusted bytes).
    func record(presentedName name: [UInt8]) {
        let text = String(decoding: name, as: UTF8.self)
        record(label: TokenStore.isValidName(text) ? text : HandshakeRefusals.invalidName)
    }

    /// Counts one refused handshake under a label the broker wrote (for a CURVE key: whose
    /// revoked key it was, or that it is unregistered).
    func record(label: String) {
        counts.withLock { counts in
            if counts[label] != nil || counts.count < HandshakeRefusals.maxNames - 1 {
                counts[label, default: 0] += 1
            } else {
                counts[HandshakeRefusals.otherNames, default: 0] += 1
            }
        }
    }

    /// The counts since the last call, and a fresh start.
    func take() -> [String: Int64] {
        counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
    }
}
