import SluiceWire

/// Where a reply goes: the ROUTER envelope (routing id, any proxy hops, the empty delimiter) and
/// the request id to echo.
struct ReplyTarget {
    var envelope: [[UInt8]]
    var requestID: String?
    /// Who is on the other end, from the connection's authenticated `User-Id`; empty when its
    /// credentials were refused.
    var actor = ""
    /// The caller's `traceparent` and `tenant`, for the audit of a refusal.
    var context: CallerContext?
    /// The socket it came in on: 0 the request socket, n the n-th in-process identity's.
    var socket = 0
    /// The file descriptor of the request-socket connection it came in on (-1 in-process): when
    /// that connection closes, the request's reads are cancelled (``ConnectionWatch``).
    var connection: Int32 = -1

    /// Splits a ROUTER message into its envelope and the Sluice frames. The envelope ends at the
    /// first empty frame, which must be followed by the protocol tag; otherwise the message is
    /// malformed and the reply goes to the routing id with a fresh delimiter.
    static func split(_ frames: [[UInt8]]) -> (target: ReplyTarget, frames: ArraySlice<[UInt8]>, wellFormed: Bool) {
        // (A closure, not the key path `\.isEmpty`: a key path is applied through the runtime.)
        if let delimiter = frames.firstIndex(where: { $0.isEmpty }), delimiter >= 1,
            delimiter + 1 == frames.count || frames[delimiter + 1] == WireMessage.protocolTag
        {
            return (ReplyTarget(envelope: Array(frames[...delimiter])), frames[(delimiter + 1)...], true)
        }
        return (ReplyTarget(envelope: [frames.first ?? [], []]), frames.dropFirst(), false)
    }
}
