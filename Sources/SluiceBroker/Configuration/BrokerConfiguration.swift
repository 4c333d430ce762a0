public import Foundation
public import SluiceWire

/// Everything a broker needs to start, with defaults that make `sluice serve` work out of the box.
public struct BrokerConfiguration: Sendable {
    /// Where database files live. Default `./data`.
    public var dataDirectory: URL
    /// Directories holding contract sets (`contracts/*.json` and `migrations/<db>/*.sql`).
    /// Default: none; `sluice serve` adds the bundled `examples/tasks` when it exists.
    public var contractDirectories: [URL] = []
    /// ROUTER endpoint for requests. Default `ipc://<dataDirectory>/sluice.sock`.
    public var commandEndpoint: String
    /// PUB endpoint for events. Default `ipc://<dataDirectory>/events.sock`.
    public var eventEndpoint: String
    /// Frame and field size limits announced in `WELCOME`.
    public var limits = ProtocolLimits()
    /// Most commands a writer puts in one transaction. Default 256: large enough to amortize the
    /// fsync, and small enough that under a deep pipeline the I/O thread answers one batch while
    /// the writer runs the next (with 8 clients × 64 in flight, 256 carried ~1.5× the commands/s
    /// of 1000, whose single batch swallowed everything in flight; docs/benchmarks.md).
    public var maxBatchSize = BrokerConfiguration.defaultMaxBatchSize
    public static let defaultMaxBatchSize = 256
    /// Record every answered `QUERY` in the read audit (`audit.db`, `sluice audit reads`): who,
    /// which contract, a hash of the parameters, status, latency, cache. On by default; a query
    /// contract opts out with `"audit": {"reads": false}`. Off only to measure what it costs.
    public var auditReads = true
    /// Commands admitted but not yet answered, per database, beyond which new ones get
    /// `overloaded`. Default 50,000.
    public var maxQueuedCommandsPerDatabase = 50_000
    /// Bytes of admitted, unanswered commands (their request frames) per database, beyond which
    /// new ones get `overloaded`: what a flood of large commands may hold in memory. Default 64 MiB.
    public var maxQueuedBytesPerDatabase = 64 << 20
    /// Bytes of event bodies in one `SYNC` page: the page ends after the event that reaches it
    /// (one event at least), before its `limit`; the client asks on from `last_seq + 1`. Bounds
    /// what a page holds in the broker and in the client whatever its events' sizes. Default 4 MiB.
    public var maxSyncPageBytes = BrokerConfiguration.defaultMaxSyncPageBytes
    public static let defaultMaxSyncPageBytes = 4 << 20
    /// Refusals handed to the rejection auditor and not yet stored, past which further ones are
    /// counted per (identity, code) and recorded in aggregate when it catches up. Default 10,000
    /// records (each under ~1 KiB).
    public var maxRejectionBacklog = 10_000
    /// Records of refused requests kept in `audit.db` (and readable with `SYNC audit.rejected`);
    /// older ones are deleted as new ones arrive. Default 1,000,000 (a few hundred MB at most).
    public var rejectionRetention: Int64 = 1_000_000
    /// Bytes of query results kept in the query cache, all contracts together. Default 32 MiB.
    public var maxCachedResultBytes = 32 << 20
    /// `PRAGMA synchronous` for every database the broker writes (plugin and operator databases,
    /// `core.db`, `audit.db`): `.full` (default) means an acknowledged command survives a power
    /// cut; `.normal` survives a crash of the broker only (see ``SynchronousMode``).
    public var synchronous: SynchronousMode = .full
    /// Threads running queries (each with its own WAL read connection). Default 2.
    public var queryReaderThreads = 2
    /// Heartbeat period on the PUB channel, in milliseconds. Default 1000.
    public var heartbeatIntervalMs = 1000
    /// Queue limit per client connection on the request socket, in messages, each way: replies a
    /// client does not read past it are dropped (counted as `unroutable_replies`; the client asks
    /// `STATUS` or resends), and a client that sends faster than the broker reads is held back by
    /// ZeroMQ. Default 10,000 (a `SYNC` page is at most 5,001 messages).
    public var clientHighWaterMark: Int32 = 10_000
    /// Outgoing queue limit per subscriber on the event socket (messages). Past it, events to
    /// that subscriber are dropped and it must `SYNC`. It bounds what a subscriber that stops
    /// reading pins in the broker: at most this many events. Default 10,000.
    public var eventHighWaterMark: Int32 = 10_000
    /// Milliseconds a writer waits idle before checkpointing the WAL. Default 2000.
    public var idleCheckpointMs = 2000
    /// The size a database's WAL file is cut back to when it starts over after a checkpoint
    /// (`PRAGMA journal_size_limit`), in bytes. Up to it the file is kept and overwritten: a
    /// commit into existing WAL space costs about half of one that grows the file
    /// (docs/benchmarks.md). Default 8 MiB (twice SQLite's 1,000-page auto-checkpoint).
    public var walSizeLimitBytes: Int64 = DatabaseFile.defaultWALSizeLimitBytes
    /// How long an idempotency key answers for its command. Default 7 days. A retry within it
    /// returns the stored result; after it the key is forgotten and the same key runs the command
    /// again. A key's entry is its command's log row; once a compaction removes that row, an
    /// entry still in force moves to `sluice_ledger` until it expires, so longer costs space there
    /// (one row per command compacted within the retention); shorter shrinks the window in which
    /// retries are safe. Expiry is judged against admission times, so replays reproduce it.
    public var ledgerRetention: Duration = .seconds(7 * 24 * 3600)

    /// Embedded brokers: the Swift code of every contract whose document says `"handler":
    /// "swift"`, by `name@version` (``CommandHandler``). The broker refuses to start when a
    /// handler contract has none, or a handler names no such contract.
    public var commandHandlers: [String: CommandHandler] = [:]

    /// Embedded brokers: identities (plugin ids, or `local`) that threads of this process reach
    /// over `inproc://sluice/<id>` (``Broker/inprocEndpoint(for:)``), with the context
    /// ``Broker/context``. inproc has no handshake, so the endpoint is the identity: every
    /// request on it acts as `<id>`, with that identity's capabilities. (Code in the process could
    /// connect to any of them: in-process plugins share the host's trust.) Default: none.
    public var inprocIdentities: [String] = []

    /// Ephemeral mode: stop once no client has been connected and nothing has been pending (no
    /// command, query or read in flight) for this many milliseconds. Default nil: serve until
    /// asked to stop. `sluice` clients that start a broker set it (docs/operations.md).
    public var idleExitMs: Int?

    /// Serve `tcp://` endpoints without encryption: the NULL mechanism, where every connection is
    /// the identity `anonymous`, which holds no capability (it may `HELLO` and `PING`). Default
    /// false: a tcp endpoint is always CURVE (docs/security.md). PLAIN is never offered on tcp:
    /// it would send tokens in the clear.
    public var insecureTCP = false
    /// The PostgreSQL server of `exclusive-postgres` plugins; nil: such plugins are refused.
    public var postgres: PostgresServer?

    /// How a socket bound to an endpoint authenticates its peers.
    public enum SocketSecurity: Sendable, Equatable {
        /// Name and token (PLAIN), on ipc and inproc: the socket file's permissions already keep
        /// the bytes on the host.
        case plain
        /// CURVE: encrypted, the peer identified by its registered public key.
        case curve
        /// No mechanism (only with ``insecureTCP``): every peer is `anonymous`.
        case null
    }

    public func security(of endpoint: String) -> SocketSecurity {
        guard endpoint.hasPrefix("tcp://") else { return .plain }
        return insecureTCP ? .null : .curve
    }

    /// Whether either endpoint needs the broker's CURVE key pair.
    public var usesCurve: Bool { security(of: commandEndpoint) == .curve || security(of: eventEndpoint) == .curve }

    /// Sockets reachable by a group of other OS users (plugin processes), the data directory
    /// private; set with ``useSharedSockets(_:)``. Default nil: sockets inside the data directory.
    public private(set) var sharedSockets: SharedSocketLayout?

    /// Serves on `layout`'s sockets: both endpoints move into its directory.
    public mutating func useSharedSockets(_ layout: SharedSocketLayout) {
        sharedSockets = layout
        commandEndpoint = layout.commandEndpoint
        eventEndpoint = layout.eventEndpoint
    }

    public init(dataDirectory: URL) {
        self.dataDirectory = dataDirectory
        self.commandEndpoint = "ipc://" + dataDirectory.appendingPathComponent("sluice.sock").path
        self.eventEndpoint = "ipc://" + dataDirectory.appendingPathComponent("events.sock").path
    }
}

extension BrokerConfiguration {
    /// ``ledgerRetention`` in milliseconds.
    var ledgerRetentionMs: Int64 {
        ledgerRetention.wholeMilliseconds
    }
}
