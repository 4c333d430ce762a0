import SluiceWire

/// A command that passed admission, with everything the I/O thread fixed for it: the values a
/// replay must reproduce (`timestamp`, `generatedID`) and the bookkeeping to answer it.
///
/// A class, immutable once made: the command travels from the I/O thread through the writer's
/// queue, its batch and its outcome, and each of those holds it with one reference count instead
/// of copying a contract and a request field by field.
///
/// Its canonical payload and payload hash are computed when it is made — by the I/O thread at
/// admission, by the reading thread in a replay — so the writer, the thread every command of a
/// database waits for, only binds them.
final class AdmittedCommand: Sendable {
    /// The I/O thread's handle for the waiting client(s).
    let token: UInt64
    let actor: String
    let request: CommandRequest
    let contract: Contract
    let timestamp: String
    /// `timestamp` in milliseconds since 1970; idempotency expiry is judged against it.
    let admittedMs: Int64
    let generatedID: String
    let receivedAt: UInt64
    /// Monotonic nanoseconds after which the command must not start.
    let deadline: UInt64?
    /// The payload's canonical encoding: what the log stores and the hash covers.
    let canonicalPayload: [UInt8]
    /// What the idempotency ledger compares: SHA-256 of the contract id, a newline and the
    /// canonical payload. The contract is part of what a key names: the same key and input sent
    /// to another contract is a different command, hence a mismatch rather than a duplicate.
    let payloadHash: String

    init(
        token: UInt64, actor: String, request: CommandRequest, contract: Contract, timestamp: String,
        admittedMs: Int64, generatedID: String, receivedAt: UInt64, deadline: UInt64?
    ) {
        self.token = token
        self.actor = actor
        self.request = request
        self.contract = contract
        self.timestamp = timestamp
        self.admittedMs = admittedMs
        self.generatedID = generatedID
        self.receivedAt = receivedAt
        self.deadline = deadline
        canonicalPayload = request.canonicalPayloadBytes()
        var hasher = SHA256()
        hasher.update(utf8: contract.id.description)
        hasher.update(utf8: "\n")
        hasher.update(canonicalPayload)
        payloadHash = hasher.finalizeHex()
    }
}

extension AdmittedCommand {
    /// The answer of a command whose deadline passed before its writer reached it; nil while
    /// there is time. (The clock is read only for a command that has a deadline.)
    func deadlineError() -> WireError? {
        guard let deadline, Clock.monotonicNanoseconds() > deadline else { return nil }
        return WireError(.deadlineExceeded, "the command waited past its deadline_ms and was not run")
    }
}
