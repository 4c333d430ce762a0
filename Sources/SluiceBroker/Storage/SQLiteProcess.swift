import CSQLite

/// Process-wide SQLite settings, made before the first connection opens.
public enum SQLiteProcess {
    /// Turns SQLite's memory statistics off: with them on, every SQLite allocation takes a global
    /// mutex (Debian's build has no lookaside, so every bound value and statement step that
    /// allocates pays it). The broker reads no memory statistics. Returns whether it took effect:
    /// SQLite accepts the setting only before it initializes, so a process that already opened a
    /// database (a test runner, an embedding host) keeps the default.
    @discardableResult
    public static func prepare() -> Bool {
        sluice_sqlite3_disable_memory_statistics() == SQLITE_OK
    }
}
