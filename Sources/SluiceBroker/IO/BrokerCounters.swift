import SluiceWire

/// Running totals kept by the I/O thread, answered to `STATS`.
struct BrokerCounters {
    var received: Int64 = 0
    var malformed: Int64 = 0
    var rejected: Int64 = 0
    var admitted: Int64 = 0
    var committed: Int64 = 0
    var failed: Int64 = 0
    var duplicates: Int64 = 0
    var coalesced: Int64 = 0
    var unroutableReplies: Int64 = 0
    var eventsPublished: Int64 = 0
    var syncRequests: Int64 = 0
    /// Connections refused at the handshake (unknown name, wrong token, no credentials).
    var refusedHandshakes: Int64 = 0
    /// Subscriptions the event socket received, and those that granted nothing.
    var subscriptions: Int64 = 0
    var subscriptionsRefused: Int64 = 0

    var json: JSONValue {
        [
            "received": .int(received), "malformed": .int(malformed), "rejected": .int(rejected),
            "admitted": .int(admitted), "committed": .int(committed), "failed": .int(failed),
            "duplicates": .int(duplicates), "coalesced": .int(coalesced),
            "unroutable_replies": .int(unroutableReplies), "events_published": .int(eventsPublished),
            "sync_requests": .int(syncRequests), "refused_handshakes": .int(refusedHandshakes),
            "subscriptions": .int(subscriptions), "subscriptions_refused": .int(subscriptionsRefused),
        ]
    }
}

/// Per identity: what it asked and how it went (labels are identities, a bounded set).
struct ActorCounters {
    var commands: Int64 = 0
    var queries: Int64 = 0
    var rejected: Int64 = 0
    var failed: Int64 = 0
    /// Admission to answer, for commands that reached a writer.
    var latencyMsSum: Double = 0
    var latencyCount: Int64 = 0
    /// Admitted, unanswered commands (for `max_in_flight`); not part of the statistics.
    var commandsInFlight = 0

    var json: JSONValue {
        [
            "commands": .int(commands), "queries": .int(queries), "rejected": .int(rejected), "failed": .int(failed),
            "latency_ms_sum": .double(latencyMsSum), "latency_count": .int(latencyCount),
        ]
    }
}
