import SluiceWire

/// Who may read which stored stream and run which administrative request. The operator
/// (`local`) may do everything; a plugin reaches what its manifest grants.
extension BrokerIOLoop {
    /// Why `actor` may not `SYNC` `topic` (of `stream`), or nil.
    ///
    /// - `audit.<db>` needs `audit:<db>:read`; `inval.<db>` needs `inval:<db>:read` or
    ///   `audit:<db>:read` (an audit event carries more than an invalidation).
    /// - A plugin's own exclusive database needs no capability. The shared `plugins.db` holds every
    ///   shared plugin's commands, so its streams need the capability like any other database's.
    /// - `audit.rejected` holds every identity's refusals: a plugin reads only its own records
    ///   there (``syncFilter(actor:stream:)``), and only with `SYNC`, not live.
    func streamReadDenial(actor: String, topic: String, stream: String) -> WireError? {
        if actor == TokenStore.operatorName { return nil }
        let details: [String: JSONValue] = ["topic": .string(topic)]
        guard let plugin = registry.plugins[actor] else {
            return WireError(.capabilityDenied, "'\(actor)' is not an installed plugin", details: details)
        }
        if stream == RejectionAuditor.stream { return nil }
        if stream == RejectionAuditor.lifecycleStream {
            return WireError(.capabilityDenied, "\(topic) is the operator's", details: details)
        }
        if plugin.databaseMode != .shared, plugin.databaseName == stream { return nil }
        let accepted =
            topic == Topic.invalidation(stream) ? ["inval:\(stream):read", "audit:\(stream):read"] : ["audit:\(stream):read"]
        if accepted.contains(where: plugin.capabilities.contains) { return nil }
        var withCapability = details
        withCapability["capability"] = .string(accepted[0])
        return WireError(
            .capabilityDenied, "plugin \(actor) lacks capability \(accepted[0]) to read \(topic)",
            details: withCapability)
    }

    /// The identity whose records alone `actor` sees in `stream`: a plugin, in `audit.rejected`.
    func syncFilter(actor: String, stream: String) -> String? {
        stream == RejectionAuditor.stream && actor != TokenStore.operatorName ? actor : nil
    }

    /// Why `actor` may not send an administrative request (`COMPACT`), or nil.
    func administrativeDenial(actor: String, kind: MessageKind) -> WireError? {
        guard actor != TokenStore.operatorName else { return nil }
        return WireError(.capabilityDenied, "\(kind.rawValue) is the operator's: plugin \(actor) may not send it")
    }

    /// `STATS` as `actor` may see it: everything for the operator, a plugin's own counters otherwise.
    func statistics(for actor: String) -> JSONValue {
        guard actor != TokenStore.operatorName else { return statistics() }
        return ["actors": .object([actor: actorCounters[actor, default: ActorCounters()].json])]
    }
}
