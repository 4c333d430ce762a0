import Logging
import SluiceWire
import SluiceZMQ

/// Who receives which live events. The event socket is an XPUB in manual mode behind the same
/// PLAIN/ZAP handshake as the request socket: every subscription message carries the subscriber's
/// identity (`User-Id`), and the broker grants only the topics that identity may read.
extension BrokerIOLoop {
    /// The live topics a plugin may receive: `hb`, and the `audit.<db>` / `inval.<db>` it may
    /// `SYNC` (``streamReadDenial(actor:topic:stream:)`` decides both, so they never disagree).
    /// `audit.rejected` is the operator's live; a plugin reads its own refusals with `SYNC`.
    func liveTopics(for actor: String) -> [String] {
        var topics = [Topic.heartbeat]
        for database in registry.databases {
            // (audit.rejected is not among them: its live events are every identity's refusals.)
            for topic in [Topic.audit(database), Topic.invalidation(database)]
            where streamReadDenial(actor: actor, topic: topic, stream: database) == nil {
                topics.append(topic)
            }
        }
        return topics
    }

    /// Applies one subscription message (`0x01` + prefix subscribes, `0x00` + prefix unsubscribes)
    /// from the peer that sent it.
    ///
    /// The operator gets exactly the prefix it asked for, and its unsubscriptions apply. A
    /// plugin's prefix becomes the topics it may read that start with it (`audit.` from plugin
    /// `notes` becomes `audit.notes`); a prefix that grants nothing is counted and ignored. A
    /// plugin's unsubscriptions are not applied at the broker: two of its prefixes may have been
    /// granted the same topic, and libzmq keeps one subscription per topic and peer. Its own SUB
    /// socket still filters what it unsubscribed; the broker stops sending when it disconnects.
    func handleSubscription(_ message: [UInt8], actor: String, on publisher: ZMQSocket) {
        guard let flag = message.first, flag <= 1 else { return }
        let prefix = Array(message.dropFirst())
        let subscribing = flag == 1
        if subscribing { counters.subscriptions += 1 }
        do {
            if actor == TokenStore.operatorName {
                if subscribing {
                    // Before the subscription takes effect, and before any later command is admitted.
                    if EventDemand.prefixMatchesWriterEvents(prefix) { eventDemand.markWanted() }
                    try publisher.subscribe(bytes: prefix)
                } else {
                    try publisher.unsubscribe(bytes: prefix)
                }
                return
            }
            guard subscribing, !actor.isEmpty else { return }
            let granted = liveTopics(for: actor).filter { $0.utf8.starts(with: prefix) }
            if granted.isEmpty { counters.subscriptionsRefused += 1 }
            if granted.contains(where: { $0 != Topic.heartbeat }) { eventDemand.markWanted() }
            for topic in granted { try publisher.subscribe(topic) }
        } catch {
            logger.warning("could not apply a subscription", metadata: ["actor": "\(actor)", "error": "\(error)"])
        }
    }
}
