import Logging
import SluiceWire
import SluiceZMQ

/// `RELOAD`: the broker serves the plugins installed now without closing a connection. The I/O
/// thread stops reading requests (they wait in the sockets), lets every writer commit and answer
/// what it was given and every reader finish, then ``Broker/reload()`` opens what the plugins on
/// disk serve (new databases, new migrations) and starts new workers; the I/O thread connects to
/// them, reads requests again, answers `RELOADED` with what changed and records each change on
/// `audit.lifecycle`. When the plugins on disk cannot be served, the previous set is served again
/// and the answer is `ERROR reload_refused`.
extension BrokerIOLoop {
    struct Reload {
        var target: ReplyTarget
        /// What the operator says it did (`sluice plugins <action> <plugin>`), for the audit.
        var action: String?
        var plugin: String?
        /// `remove` with `"purge": true`: the plugin's data goes too.
        var purge = false
        /// The workers not yet stopped.
        var waiting: Set<String>
    }

    static let reloadActions: Set<String> = [
        "install", "upgrade", "retire", "disable", "enable", "remove", "rotate-token", "rotate-credentials",
    ]

    func beginReload(_ message: WireMessage, target: ReplyTarget) {
        if let denial = administrativeDenial(actor: target.actor, kind: .reload) {
            reject(target, denial, kind: .reload)
            return
        }
        let action = message.body["action"]
        let plugin = message.body["plugin"]
        let purge = message.body["purge"]
        guard message.body.objectValue != nil,
            action == nil || action?.stringValue.map(BrokerIOLoop.reloadActions.contains) == true,
            plugin == nil || plugin?.stringValue.map(TokenStore.isValidName) == true,
            purge == nil || (purge?.boolValue != nil && action == "remove" && plugin != nil)
        else {
            reject(
                target,
                WireError(
                    .invalidMessage,
                    "RELOAD body is {} or {\"action\": one of \(BrokerIOLoop.reloadActions.sorted().joined(separator: ", ")), \"plugin\": an id}, with \"purge\": a boolean only for remove"
                ), kind: .reload)
            return
        }
        guard reloading == nil, !draining, reloader != nil else {
            reject(
                target, WireError(.overloaded, "a reload or a shutdown is under way", retryAfterMs: 200), kind: .reload)
            return
        }
        logger.info("reloading plugins", metadata: ["action": "\(action?.stringValue ?? "-")", "plugin": "\(plugin?.stringValue ?? "-")"])
        // Commands admitted in this pass reach their writers before the stop.
        flushHandoffs()
        reloading = Reload(
            target: target, action: action?.stringValue, plugin: plugin?.stringValue,
            purge: purge?.boolValue == true, waiting: workersRunning.union(helpersRunning.subtracting(["rejection-auditor"])))
        // A worker that cannot be told (its thread gone) is not waited for.
        for lane in lanes.values where lane.inbox != nil && (try? lane.inbox?.sendObject(WriterMessage.drainAndStop)) == nil {
            reloading?.waiting.remove(lane.name)
        }
        for (index, socket) in queryReaders.enumerated() where (try? socket.sendObject(QueryReader.Message.stop)) == nil {
            reloading?.waiting.remove("query-reader-\(index)")
        }
        if (try? readerInbox.sendObject(StoreReader.Message.stop)) == nil { reloading?.waiting.remove("store-reader") }
        if reloading?.waiting.isEmpty == true { workerStoppedForReload("") }
    }

    /// One worker has answered everything and stopped; the last one completes the reload.
    func workerStoppedForReload(_ name: String) {
        workersRunning.remove(name)
        helpersRunning.remove(name)
        reloading?.waiting.remove(name)
        guard let reload = reloading, reload.waiting.isEmpty, let reloader else { return }
        let outcome = reloader(reload.purge ? reload.plugin : nil)
        disconnectWorkers()
        let previousFiles = databaseFiles
        adopt(outcome.served)
        fileWatch.watchDatabases(databaseFiles.filter { !previousFiles.contains($0) })
        do {
            try connectWorkers()
        } catch {
            logger.critical("could not reach the reloaded workers", metadata: ["error": "\(error)"])
        }
        // Contracts and tables may have changed: no cached answer survives a reload.
        for key in Array(queryCache.keys) { uncache(key) }
        reloading = nil
        if let error = outcome.error {
            reject(reload.target, WireError(.reloadRefused, "the installed plugins were not served: \(error)"), kind: .reload)
        } else {
            let changes = lifecycleChanges(from: outcome.previous, to: registry, reload: reload, purged: outcome.purged)
            auditLifecycle(changes, target: reload.target)
            reply(reload.target, .reloaded, body: reloadedBody(changes))
        }
        dispatchQueries()
    }

    /// What the reload changed, one record per plugin (and the operator's stated action when it
    /// changes no manifest, e.g. a token rotation).
    func lifecycleChanges(
        from old: ContractRegistry, to new: ContractRegistry, reload: Reload, purged: Bool
    ) -> [[String: JSONValue]] {
        var changes: [[String: JSONValue]] = []
        for id in Set(old.plugins.keys).union(new.plugins.keys).sorted() {
            let before = old.plugins[id]
            let after = new.plugins[id]
            var change: [String: JSONValue] = ["plugin": .string(id)]
            switch (before, after) {
            case (nil, let added?):
                change["action"] = new.disabledPlugins.contains(id) ? "installed_disabled" : "installed"
                change["version"] = .string(added.version)
            case (let removed?, nil):
                change["action"] = "removed"
                change["version"] = .string(removed.version)
                change["purged"] = .bool(id == reload.plugin && purged)
            case (let was?, let now?) where was.version != now.version:
                change["action"] = "upgraded"
                change["previous_version"] = .string(was.version)
                change["version"] = .string(now.version)
            case (_, let now?) where old.disabledPlugins.contains(id) != new.disabledPlugins.contains(id):
                change["action"] = new.disabledPlugins.contains(id) ? "disabled" : "enabled"
                change["version"] = .string(now.version)
            case (_, let now?) where id == reload.plugin && reload.action == "rotate-token":
                change["action"] = "token_rotated"
                change["version"] = .string(now.version)
            case (_, let now?) where id == reload.plugin && reload.action == "rotate-credentials":
                // The new workers set the new password on the plugin's PostgreSQL role and
                // connect with it.
                change["action"] = "credentials_rotated"
                change["version"] = .string(now.version)
            case (_, let now?) where !Self.contracts(of: id, in: old).subtracting(Self.contracts(of: id, in: new)).isEmpty:
                // Same version, fewer contracts: kept older versions retired (`sluice plugins retire`).
                change["action"] = "retired"
                change["version"] = .string(now.version)
                change["contracts"] = .array(
                    Self.contracts(of: id, in: old).subtracting(Self.contracts(of: id, in: new)).sorted().map(JSONValue.string))
            default:
                continue
            }
            if let manifest = after ?? before { change["db"] = .string(manifest.databaseName) }
            changes.append(change)
        }
        return changes
    }

    /// The contracts (`name@version`) plugin `id` has served in `registry`.
    static func contracts(of id: String, in registry: ContractRegistry) -> Set<String> {
        Set(registry.contracts.values.filter { $0.plugin == id }.map(\.id.description))
    }

    private func reloadedBody(_ changes: [[String: JSONValue]]) -> JSONValue {
        var plugins: [String: JSONValue] = [:]
        for (id, manifest) in registry.plugins {
            plugins[id] = [
                "version": .string(manifest.version), "db": .string(manifest.databaseName),
                "disabled": .bool(registry.disabledPlugins.contains(id)),
            ]
        }
        return [
            "changes": .array(changes.map { .object(JSONObject($0)) }), "plugins": .object(JSONObject(plugins)),
            "databases": .array(registry.databases.map(JSONValue.string)),
        ]
    }

    /// Each change, durably on `audit.lifecycle` (the auditor writes, then the I/O thread publishes).
    private func auditLifecycle(_ changes: [[String: JSONValue]], target: ReplyTarget) {
        guard !changes.isEmpty else { return }
        let now = Clock.timestamp()
        let records = changes.map { change -> [String: JSONValue] in
            var record = change
            record["actor"] = .string(target.actor)
            record["ts"] = .string(now)
            if let requestID = target.requestID { record["request_id"] = .string(requestID) }
            return record
        }
        do {
            try auditorInbox.sendObject(RejectionAuditor.Message.lifecycle(records))
        } catch {
            logger.error("could not hand lifecycle records to the auditor", metadata: ["error": "\(error)"])
        }
    }
}
