#ifndef SLUICE_CSQLITE_SHIM_H
#define SLUICE_CSQLITE_SHIM_H
// The SQLite C API, for what GRDB does not expose: the statement authorizer that confines a
// plugin's SQL to its own tables, the writer's change hooks, and process-wide configuration.
//
// Debian's libsqlite3 is built with SQLITE_ENABLE_PREUPDATE_HOOK; the header declares the
// pre-update hook only when the macro is set.
#ifndef SQLITE_ENABLE_PREUPDATE_HOOK
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#endif
#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call. Turning memory statistics off spares
// every SQLite allocation a global mutex (this build has no lookaside: every allocation is a
// malloc). Works only before SQLite initializes (the first connection); returns SQLITE_MISUSE after.
static inline int sluice_sqlite3_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
