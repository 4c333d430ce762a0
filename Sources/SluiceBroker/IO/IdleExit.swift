/// Ephemeral mode's exit condition, on the I/O thread: since when the broker has had no peer
/// (``ConnectionWatch/connections``) and nothing pending. No timer polls it: the loop wakes for a
/// monitor event, a request, a notice, or at `exitAt`.
struct IdleExit {
    let afterNanoseconds: UInt64
    private(set) var idleSince: UInt64?

    init(afterMs: Int) { afterNanoseconds = UInt64(max(0, afterMs)) * 1_000_000 }

    /// Records whether the broker is quiet now (no peer, nothing pending); true once it has been
    /// quiet for the whole idle time.
    mutating func note(quiet: Bool, connections: Int, now: UInt64) -> Bool {
        guard quiet, connections == 0 else {
            idleSince = nil
            return false
        }
        if idleSince == nil { idleSince = now }
        return now >= idleSince! + afterNanoseconds
    }

    /// When the broker stops if nothing happens before (nil while it is not idle).
    var exitAt: UInt64? { idleSince.map { $0 + afterNanoseconds } }
}
