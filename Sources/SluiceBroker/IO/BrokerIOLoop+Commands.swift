import Foundation
import Logging
import SluiceWire
import SluiceZMQ

/// Admission of `COMMAND`s and their hand-over to the writers.
extension BrokerIOLoop {
    func admitCommand(_ request: consuming CommandRequest, target: ReplyTarget, size: Int) {
        let receivedAt = Clock.monotonicNanoseconds()
        guard let contract = registry[request.contract] else {
            reject(target, unknownContract(request.contract), kind: .command, request: request)
            return
        }
        guard contract.kind == .command else {
            reject(
                target, WireError(.invalidMessage, "\(contract.id) is a query contract; send it as QUERY"),
                kind: .command, request: request, database: contract.database
            )
            return
        }
        if let limit = contract.maxPayloadBytes {
            // Encoded once: kept for the payload hash and the log.
            request.canonicalPayload = request.canonicalPayloadBytes()
            let size = request.canonicalPayload?.count ?? 0
            if size > limit {
                reject(
                    target,
                    WireError(
                        .payloadTooLarge, "input is \(size) bytes; \(contract.id) accepts at most \(limit)",
                        details: ["part": "body", "size": .int(Int64(size)), "limit": .int(Int64(limit))]
                    ),
                    kind: .command, request: request, database: contract.database
                )
                return
            }
        }
        // The sender's plugin, looked up once for its capabilities, limits and timeout.
        let plugin = registry.plugins[target.actor]
        if let denial = capabilityDenial(actor: target.actor, plugin: plugin, contract: contract) {
            reject(target, denial, kind: .command, request: request, database: contract.database)
            return
        }
        guard contract.input.accepts(request.payload) else {
            reject(
                target, validationFailed(contract, request.payload, what: "input does"), kind: .command,
                request: request,
                database: contract.database
            )
            return
        }
        if let violation = ContractRunner.outOfRange(request.payload) {
            reject(target, outOfRange(violation), kind: .command, request: request, database: contract.database)
            return
        }
        let actor = actor(for: target)
        let key = InFlightKey(actor: actor, database: contract.database, key: request.idempotencyKey)
        if let token = inFlight[key], let pending = pendingCommands[token] {
            // Same key still queued: share the first command's outcome instead of running twice.
            guard pending.payload == request.payload, pending.contract == request.contract else {
                reject(
                    target,
                    WireError(
                        .idempotencyMismatch, "idempotency key is in flight with a different contract or payload"),
                    kind: .command, request: request, database: contract.database
                )
                return
            }
            counters.coalesced += 1
            pendingCommands[token]?.waiters.append(target)
            return
        }
        let lane = lane(contract.database)
        let queued = lane.queued
        let queuedBytes = lane.queuedBytes
        guard queued < configuration.maxQueuedCommandsPerDatabase,
            queued == 0 || queuedBytes + size <= configuration.maxQueuedBytesPerDatabase,
            lane.inbox != nil
        else {
            reject(
                target,
                WireError(
                    .overloaded, "\(queued) commands (\(queuedBytes) bytes) are queued for \(contract.database)",
                    retryAfterMs: 100, details: ["queued": .int(Int64(queued)), "queued_bytes": .int(Int64(queuedBytes))]),
                kind: .command, request: request, database: contract.database
            )
            return
        }
        let token = nextToken
        nextToken += 1
        if let limited = admitUnderLimits(actor: actor, limits: plugin?.limits, now: receivedAt) {
            reject(target, limited, kind: .command, request: request, database: contract.database)
            return
        }
        // Commands without a deadline of their own get the contract's timeout, else the plugin's.
        let deadlineMs = request.deadlineMs ?? contract.timeoutMs ?? plugin?.limits.timeoutMs
        let deadline = deadlineMs.map { receivedAt + UInt64($0) * 1_000_000 }
        let now = Clock.now(reusing: &lastAdmission)
        let generatedID = contract.usesGeneratedID ? RandomIdentifier.uuid(using: &randomSource) : ""
        let command = AdmittedCommand(
            token: token, actor: actor, request: request, contract: contract, timestamp: now.text,
            admittedMs: now.milliseconds, generatedID: generatedID, receivedAt: receivedAt, deadline: deadline
        )
        // Handed to the writer with the others admitted in this pass (`flushHandoffs`).
        if lane.handoffs.isEmpty {
            lanesWithHandoffs.append(lane)
            lane.handoffs.reserveCapacity(32)  // grown once or twice per pass, not from one
        }
        lane.handoffs.append(command)
        counters.admitted += 1
        BrokerIOLoop.admitted(&actorCounters[actor, default: ActorCounters()])
        inFlight[key] = token
        pendingCommands[token] = PendingCommand(primary: target, command: command, bytes: size)
        lane.queued = queued + 1
        lane.queuedBytes = queuedBytes + size
    }

    /// Sends each writer the outcomes it made that have been answered and have not gone home with
    /// commands (``flushHandoffs()``): at a heartbeat, or once a writer's pile reaches
    /// ``maximumHeldOutcomes``.
    func releaseAnsweredOutcomes(of lane: DatabaseLane) {
        guard !lane.answeredOutcomes.isEmpty else { return }
        let outcomes = lane.answeredOutcomes
        lane.answeredOutcomes = []
        // (Without a writer, they are freed here.)
        try? lane.inbox?.sendObject(WriterMessage.release(outcomes))
    }

    /// The lane of `database`, made the first time it is asked for.
    func lane(_ database: String) -> DatabaseLane {
        if let lane = lanes[database] { return lane }
        let lane = DatabaseLane(name: database)
        lanes[database] = lane
        return lane
    }

    private static func admitted(_ counters: inout ActorCounters) {
        counters.commands += 1
        counters.commandsInFlight += 1
    }

    /// Answered outcomes held for their writer beyond this many go home on their own.
    static let maximumHeldOutcomes = 4096

    /// Hands every command admitted since the last call to its writer, one message per database:
    /// one wake-up and one hand-over per batch instead of per command. A writer that cannot take
    /// them (it stopped) fails them like an uncommitted batch.
    func flushHandoffs() {
        guard !lanesWithHandoffs.isEmpty else { return }
        for lane in lanesWithHandoffs {
            let commands = lane.handoffs
            let release = lane.answeredOutcomes
            lane.handoffs = []
            lane.answeredOutcomes = []
            do {
                // (Admission checked that the database has a writer.)
                try lane.inbox?.sendObject(WriterMessage.commands(commands, release: release))
            } catch {
                let database = lane.name
                logger.error("could not hand commands to their writer", metadata: ["db": "\(database)", "error": "\(error)"])
                let failure = WireError(.internal, "the writer for \(database) is unavailable")
                answer(
                    commands.map {
                        CommandOutcome(token: $0.token, requestID: $0.request.requestID, result: .failed(failure), events: [])
                    })
            }
        }
        lanesWithHandoffs.removeAll(keepingCapacity: true)
    }
}
