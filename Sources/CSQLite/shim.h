#ifndef SLUICE_CSQLITE_SHIM_H
#define SLUICE_CSQLITE_SHIM_H
// The SQLite C API, for what GRDB does not expose: the statement authorizer that confines a
// plugin's SQL to its own tables.
#include <sqlite3.h>
#endif
