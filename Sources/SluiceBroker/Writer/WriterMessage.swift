import SluiceWire

/// Messages a writer thread receives.
enum WriterMessage: Sendable {
    /// Commands admitted together, in admission order; with them, outcomes of this writer's
    /// earlier batches that have been answered, coming home to be freed (``release(_:)``) without
    /// a wake-up of their own.
    case commands([AdmittedCommand], release: [CommandOutcome] = [])
    /// Commit what is queued, answer it, then stop.
    case drainAndStop
    /// Snapshot the database and drop log rows older than the newest `keep`.
    case compact(token: UInt64, keep: Int64)
    /// Bring these projections' tables (in this database) up to their sources' newest commit.
    case refreshProjections([String])
    /// Answered outcomes coming home to be freed on the thread that allocated them.
    case release([CommandOutcome])
}
