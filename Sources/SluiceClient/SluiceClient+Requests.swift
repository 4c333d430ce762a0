import Foundation
public import SluiceWire
import Synchronization

extension SluiceClient {
    /// Runs a command contract and returns its acknowledgement, which arrives only after the
    /// broker durably committed it. On timeout the same request (same idempotency key) is sent
    /// again, so a retry can never apply the command twice.
    ///
    /// - Parameters:
    ///   - contract: `name@version`, e.g. `task.create@v1`.
    ///   - idempotencyKey: the key that makes the command happen once; by default a fresh
    ///     time-ordered UUID (version 7: cheaper for the broker's ledger index than a random one).
    ///     Pass your own to make retries across process restarts safe.
    ///   - deadlineMs: the broker answers `deadline_exceeded` instead of running it later than this.
    ///   - context: a W3C `traceparent` and a `tenant`, into the command log and the audit events.
    /// - Throws: `WireError` for a broker refusal, `SluiceClientError` for timeouts and closing.
    @discardableResult
    public func send(
        _ contract: String, _ payload: JSONValue, idempotencyKey: String? = nil, deadlineMs: Int? = nil,
        context: CallerContext? = nil
    )
        async throws
        -> Acknowledgement
    {
        guard let id = ContractID(contract) else {
            throw WireError(.invalidMessage, "'\(contract)' is not of the form name@version")
        }
        let request = CommandRequest(
            requestID: makeRequestID(), contract: id, idempotencyKey: idempotencyKey ?? makeIdempotencyKey(),
            deadlineMs: deadlineMs, context: context, payload: payload
        )
        let reply = try await exchange(
            id: request.requestID, frames: request.frames(delimited: true), multipleReplies: false,
            retryOnOverload: true
        ).last!.decoded()
        guard let ack = Acknowledgement(json: reply.body), reply.kind == .ack else {
            throw SluiceClientError(code: .protocolViolation, message: "expected ACK, got \(reply.kind)")
        }
        acknowledgedSeqs.withLock { seqs in seqs[ack.db] = max(seqs[ack.db] ?? 0, ack.seq) }
        return ack
    }

    /// Asks whether the command sent with `idempotencyKey` committed.
    public func status(idempotencyKey: String, db: String? = nil) async throws -> CommandStatus {
        var body: [String: JSONValue] = ["idempotency_key": .string(idempotencyKey)]
        if let db { body["db"] = .string(db) }
        let reply = try await request(WireMessage(kind: .status, body: .object(body)))
        guard reply.kind == .statusReply, let status = CommandStatus(json: reply.body) else {
            throw SluiceClientError(code: .protocolViolation, message: "expected STATUS_REPLY, got \(reply.kind)")
        }
        return status
    }

    /// The broker's `WELCOME`: protocol version, broker epoch, actor, limits, databases, contracts.
    public func hello() async throws -> JSONValue {
        try await request(WireMessage(kind: .hello, body: ["client": "sluice-swift"])).body
    }

    /// Round-trips a `PING`.
    public func ping() async throws {
        _ = try await request(WireMessage(kind: .ping))
    }

    /// The broker's counters (`STATS_REPLY`).
    public func stats() async throws -> JSONValue {
        try await request(WireMessage(kind: .stats)).body
    }
}

extension SluiceClient {
    /// Asks the broker to compact `db`'s command log (`COMPACT`): snapshot the database, then keep
    /// only the newest `keep` log rows. Returns the `COMPACTED` body (`snapshot`, `snapshot_seq`,
    /// `first_seq`, `deleted`).
    public func compact(db: String, keep: Int64 = 10_000) async throws -> JSONValue {
        let reply = try await request(WireMessage(kind: .compact, body: ["db": .string(db), "keep": .int(keep)]))
        guard reply.kind == .compacted else {
            throw SluiceClientError(code: .protocolViolation, message: "expected COMPACTED, got \(reply.kind)")
        }
        return reply.body
    }
}

extension SluiceClient {
    /// `RELOAD` (the operator's): the broker serves the plugins installed in its data directory
    /// now, without dropping a connection, and answers with what changed (`RELOADED` body:
    /// `changes`, `plugins`, `databases`). `action` and `plugin` say what the operator did
    /// (`install`, `upgrade`, `disable`, `enable`, `remove`, `rotate-token`), for the audit;
    /// `purge` (with `remove`) deletes the removed plugin's data too.
    ///
    /// - Throws: `WireError` `reload_refused` when the installed plugins cannot be served (the
    ///   broker goes on serving the previous ones), `capability_denied` from a plugin.
    public func reload(action: String? = nil, plugin: String? = nil, purge: Bool = false) async throws -> JSONValue {
        var body: [String: JSONValue] = [:]
        if let action { body["action"] = .string(action) }
        if let plugin { body["plugin"] = .string(plugin) }
        if purge { body["purge"] = true }
        let reply = try await request(WireMessage(kind: .reload, body: .object(JSONObject(body))))
        guard reply.kind == .reloaded else {
            throw SluiceClientError(code: .protocolViolation, message: "expected RELOADED, got \(reply.kind)")
        }
        return reply.body
    }
}
