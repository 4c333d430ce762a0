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

    var json: JSONValue {
        [
            "received": .int(received), "malformed": .int(malformed), "rejected": .int(rejected),
            "admitted": .int(admitted), "committed": .int(committed), "failed": .int(failed),
            "duplicates": .int(duplicates), "coalesced": .int(coalesced),
            "unroutable_replies": .int(unroutableReplies), "events_published": .int(eventsPublished),
            "sync_requests": .int(syncRequests),
        ]
    }
}
