import Synchronization
import SluiceWire

/// Whether anyone has asked for the writers' events (`audit.<db>`, `inval.<db>`): until a
/// subscription could match one, the writers skip encoding them and the I/O thread has nothing to
/// publish — what a PUB socket would do with them anyway, minus the work (≈11% of the broker's
/// CPU per command under load: docs/benchmarks.md).
///
/// Set by the I/O thread when it grants a subscription that can match such a topic, before it
/// admits any later command: a command admitted after a subscription is always published. Never
/// cleared (a subscriber that leaves and another that comes back must not race a writer's batch);
/// the stream position still advances with every command (``CommandOutcome/position``), so
/// heartbeats stay right for subscribers that come later.
final class EventDemand: Sendable {
    private let wanted = Atomic<Bool>(false)

    init(wanted: Bool = false) {
        if wanted { self.wanted.store(true, ordering: .releasing) }
    }

    var isWanted: Bool { wanted.load(ordering: .acquiring) }

    func markWanted() {
        if !isWanted { wanted.store(true, ordering: .releasing) }
    }

    /// Whether a subscription to `prefix` can receive a writer's event: it is a prefix of
    /// `audit.` or `inval.`, or starts with one of them.
    static func prefixMatchesWriterEvents(_ prefix: some Collection<UInt8>) -> Bool {
        for family in [Topic.audit(""), Topic.invalidation("")] {
            let family = Array(family.utf8)
            if family.starts(with: prefix) || prefix.starts(with: family) { return true }
        }
        return false
    }
}
