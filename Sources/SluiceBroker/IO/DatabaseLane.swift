import SluiceZMQ

/// What the I/O thread keeps for one served database, found once per admitted command (by the
/// contract's database) instead of once per field in dictionaries keyed by its name.
final class DatabaseLane {
    let name: String
    /// The hand-over socket to the database's writer; nil while its writer is not running (after
    /// a stop, or a reload that no longer serves the database).
    var inbox: ZMQSocket?
    /// Admitted commands not yet answered, and the bytes of their request frames.
    var queued = 0
    var queuedBytes = 0
    /// The writer's transactions answered so far (group commits, one per batch) and the commands
    /// they carried: their ratio is the mean batch, what each commit's fsync was shared by.
    var batches: Int64 = 0
    var batchedCommands: Int64 = 0
    /// Commands admitted in the current pass over the request socket, not yet handed to the
    /// writer (``BrokerIOLoop/flushHandoffs()``).
    var handoffs: [AdmittedCommand] = []
    /// Outcomes answered and not yet back at the writer that made them (which frees them): they
    /// go with its next commands, at the latest at the next heartbeat. Saves the writer a wake-up
    /// per batch when it is otherwise idle.
    var answeredOutcomes: [CommandOutcome] = []

    init(name: String) { self.name = name }
}
