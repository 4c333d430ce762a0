import SluiceWire

/// A command's fate inside a writer's open transaction, before COMMIT decides whether it
/// stands: what both writers (``CommandWriter``, ``PostgresWriter``) build per command.
struct BatchEntry {
    var command: AdmittedCommand
    var result: CommandOutcome.Result
    /// Set when the command took a seq: it is in the log and gets events.
    var logged: Logged?

    struct Logged {
        var seq: Int64
        var status: String
        var changes: ChangeSummary
        var latencyMicros: Int64
        /// What the ledger stored: the result, or the error.
        var stored: JSONValue
        /// Its canonical bytes, as the ledger and the log hold them.
        var storedBytes: [UInt8]
    }

    /// The command's audit and invalidation events, each contract's (and its plugin's) audit
    /// policy applied; none when it took no seq.
    func events(database: String, epoch: String, framing: EventFraming, registry: ContractRegistry, auditKey: [UInt8])
        -> [EncodedEvent]
    {
        guard let logged else { return [] }
        var errorCode: String?
        if case .failed(let error) = result { errorCode = error.code.rawValue }
        return CommandEvents(
            database: database, epoch: epoch, seq: logged.seq, command: command, status: logged.status,
            errorCode: errorCode, changes: logged.changes, changesBytes: logged.changes.canonicalBytes,
            latencyMicros: logged.latencyMicros, result: logged.stored,
            policy: registry.auditPolicy(for: command.contract, actor: command.actor), key: auditKey
        ).encoded(framing)
    }
}
