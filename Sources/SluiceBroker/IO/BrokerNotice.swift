import SluiceWire

/// Messages the I/O thread receives from the threads that work for it.
enum BrokerNotice: Sendable {
    /// A writer's answers to one batch of `database`, with the batch's commands: the I/O thread
    /// made the commands, so it frees them; it hands the outcomes back to the writer, which made
    /// them, to free (with its next commands, ``WriterMessage/commands(_:release:)``, or
    /// ``WriterMessage/release(_:)``). Memory freed by another thread than the one
    /// that allocated it goes back under that thread's allocator lock: a profile showed the two
    /// threads waiting on each other's malloc arena for it.
    case outcomes([CommandOutcome], database: String, commands: [AdmittedCommand])
    case status(token: UInt64, Result<CommandStatus, WireError>)
    /// The rejection auditor stored `handled` records (and publishes their events; fewer when a
    /// write failed).
    case rejectionsStored(handled: Int, events: [EncodedEvent])
    /// The answer to a `COMPACT`: the `COMPACTED` body, or why it failed.
    case compacted(token: UInt64, Result<JSONValue, WireError>)
    /// A query reader finished a query (and is idle again).
    case queryAnswer(QueryReader.Answer)
    /// The reply messages of one `SYNC` page, in order.
    case replay(token: UInt64, messages: [[[UInt8]]])
    /// A writer refreshed projections whose tables live in `database` (or could not).
    case projected(database: String, [Result<ProjectionTable.State, ProjectionFailure>])
    /// A PostgreSQL database's writer reached its server: the stream's last seq and epoch (not
    /// known to the I/O thread before, since the server may be down when the broker starts).
    case position(database: String, seq: Int64, epoch: String)
    case stopped(String)
}
