public import Foundation
public import GRDB

/// How hard SQLite syncs a commit (`PRAGMA synchronous`), for every database the broker writes.
///
/// - `full` (the default): each COMMIT fsyncs the WAL, so an acknowledged command survives a
///   power cut. Group commit pays that fsync once per batch.
/// - `normal`: the WAL is fsync'ed only at checkpoints. A crash of the broker loses nothing, but a
///   power cut or kernel panic loses the commits since the last checkpoint, acknowledged or not;
///   every database then gets a new epoch at the next start so subscribers never see a reused seq
///   under an old epoch.
public enum SynchronousMode: String, Sendable, CaseIterable {
    case full
    case normal

    /// The value `PRAGMA synchronous` reads back for this level.
    var pragmaValue: Int { self == .full ? 2 : 1 }

    /// Sets this level on `writer`'s connection and reads it back.
    ///
    /// It must run after the connection is open: GRDB's WAL set-up (in `DatabasePool` and in a WAL
    /// `DatabaseQueue`) runs `PRAGMA synchronous = NORMAL` after `prepareDatabase`, so a level set
    /// there is silently lost. A writer's connection is never reopened, so setting it once holds.
    func apply(to writer: some DatabaseWriter) throws {
        let level = try writer.writeWithoutTransaction { db -> Int in
            try db.execute(sql: "PRAGMA synchronous = \(rawValue.uppercased())")
            return try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
        guard level == pragmaValue else {
            throw DurabilityError(
                path: writer.path, message: "PRAGMA synchronous reads back \(level) after setting \(rawValue)")
        }
    }

    /// The level `writer`'s connection commits with now.
    static func current(of writer: some DatabaseWriter) throws -> SynchronousMode? {
        let level = try writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        return SynchronousMode.allCases.first { $0.pragmaValue == level }
    }
}

extension DatabaseQueue {
    /// Opens (creating if needed) the database at `url` with its start-up writes at FULL: a new
    /// file's name is made durable (its directory fsync'ed), and the connection commits with
    /// FULL until the caller applies the configured level after its set-up. Unless `configuration`
    /// says otherwise, it waits for locks as the broker's other connections do (another
    /// connection to the file may be closing, which checkpoints and briefly locks it).
    static func openForSetUp(at url: URL, configuration: Configuration = Configuration()) throws -> DatabaseQueue {
        var configuration = configuration
        if case .immediateError = configuration.busyMode {
            configuration.busyMode = .timeout(TimeInterval(DatabaseFile.busyTimeoutMs) / 1000)
        }
        let isNew = !FileManager.default.fileExists(atPath: url.path)
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        if isNew { try DurableFile.syncDirectory(of: url) }
        try SynchronousMode.full.apply(to: queue)
        return queue
    }
}

/// A database or file could not be made as durable as the configuration asks; the broker refuses
/// to start rather than acknowledge writes it could lose.
public struct DurabilityError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
