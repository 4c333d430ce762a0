/*
 * ledgerlayout: what the idempotency ledger's layout costs SQLite per command, in C. One process
 * writes the broker's rows per command — the ledger lookup, the data row, the ledger row and the
 * command-log row — in transactions of PER_TX commands (FULL, WAL) into a new database, in one of
 * three layouts:
 *
 *   0  the ledger keyed by (actor, idempotency_key) itself, WITHOUT ROWID (the broker until 2026-12-01)
 *   1  the log row is the entry: it carries payload_hash and expires_ms, found through an index
 *      on the log's (actor, idempotency_key); a ledger table holds only compacted rows' entries
 *      (empty here), and the lookup asks the log, then that table (the broker since 2026-12-01,
 *      sixth session)
 *   2  the ledger as a rowid table with a unique index on (actor, idempotency_key) (the broker from
 *      the morning of 2026-12-01 until then)
 *
 *   ledgerlayout DATABASE LAYOUT PER_TX COMMANDS [KEYS]
 *
 * KEYS 1: random keys (as random UUIDs fall); 2: time-ordered (UUIDv7-shaped, as the clients'
 * default keys since 2026-12-01, Benchmarks/benchkey.h); 0 or absent: "bench-<c>-<n>".
 * Prints the CPU per command, commands per second and the p50 of a transaction.
 *
 * Build: cc -O2 -o ledgerlayout Benchmarks/ledgerlayout.c $(pkg-config --cflags --libs sqlite3)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchclock.h"
#include "benchkey.h"

enum { WITHOUT_ROWID = 0, IN_THE_LOG = 1, ROWID_AND_INDEX = 2 };

static sqlite3 *db;

static void run(const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "ledgerlayout: %s: %s\n", sql, error);
        exit(1);
    }
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        fprintf(stderr, "ledgerlayout: %s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    return statement;
}

static void text(sqlite3_stmt *statement, int index, const char *value) {
    sqlite3_bind_text(statement, index, value, -1, SQLITE_TRANSIENT);
}

static void step(sqlite3_stmt *statement) {
    int code = sqlite3_step(statement);
    if (code != SQLITE_DONE && code != SQLITE_ROW) {
        fprintf(stderr, "ledgerlayout: step: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_reset(statement);
}

static const char *ledger_columns =
    "actor TEXT NOT NULL, idempotency_key TEXT NOT NULL, payload_hash TEXT NOT NULL, seq INTEGER NOT NULL, "
    "status TEXT NOT NULL, result TEXT NOT NULL, committed_at TEXT NOT NULL, expires_ms INTEGER NOT NULL";

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ledgerlayout DATABASE LAYOUT PER_TX COMMANDS [KEYS]\n");
        return 2;
    }
    int layout = atoi(argv[2]);
    long per_transaction = atol(argv[3]);
    long commands = atol(argv[4]);
    int random_keys = argc > 5 ? atoi(argv[5]) : 0;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) return 1;
    run("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    run("CREATE TABLE bench(id INTEGER PRIMARY KEY, client INTEGER NOT NULL, n INTEGER NOT NULL, payload TEXT NOT NULL)");
    char sql[1024];
    const char *log_columns = "seq INTEGER PRIMARY KEY, ts TEXT, actor TEXT, contract TEXT, idempotency_key TEXT, "
                              "request_id TEXT, generated_id TEXT, payload TEXT, status TEXT, result TEXT, "
                              "changes TEXT, latency_us INTEGER, context TEXT";
    if (layout == IN_THE_LOG) {
        snprintf(sql, sizeof sql, "CREATE TABLE sluice_log(%s, payload_hash TEXT, expires_ms INTEGER)", log_columns);
        run(sql);
        run("CREATE INDEX sluice_log_key ON sluice_log(actor, idempotency_key)");
        snprintf(sql, sizeof sql, "CREATE TABLE sluice_ledger(%s)", ledger_columns);
        run(sql);
        run("CREATE UNIQUE INDEX sluice_ledger_key ON sluice_ledger(actor, idempotency_key)");
        run("CREATE INDEX sluice_ledger_expiry ON sluice_ledger(expires_ms)");
    } else {
        snprintf(sql, sizeof sql, "CREATE TABLE sluice_log(%s)", log_columns);
        run(sql);
        if (layout == WITHOUT_ROWID) {
            snprintf(sql, sizeof sql,
                "CREATE TABLE sluice_ledger(%s, PRIMARY KEY (actor, idempotency_key)) WITHOUT ROWID", ledger_columns);
            run(sql);
        } else {
            snprintf(sql, sizeof sql, "CREATE TABLE sluice_ledger(%s)", ledger_columns);
            run(sql);
            run("CREATE UNIQUE INDEX sluice_ledger_key ON sluice_ledger(actor, idempotency_key)");
        }
        run("CREATE INDEX sluice_ledger_expiry ON sluice_ledger(expires_ms)");
    }
    sqlite3_stmt *data = prepare("INSERT INTO bench(client, n, payload) VALUES (?, ?, ?)");
    sqlite3_stmt *ledger = NULL, *log, *lookup;
    if (layout == IN_THE_LOG) {
        log = prepare("INSERT INTO sluice_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)");
        lookup = prepare("SELECT payload_hash, seq, status, result FROM sluice_log WHERE actor = ?1 AND "
                         "idempotency_key = ?2 AND expires_ms > ?3 UNION ALL "
                         "SELECT payload_hash, seq, status, result FROM sluice_ledger WHERE actor = ?1 AND "
                         "idempotency_key = ?2 AND expires_ms > ?3 LIMIT 1");
    } else {
        ledger = prepare("INSERT OR REPLACE INTO sluice_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        log = prepare("INSERT INTO sluice_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)");
        lookup = prepare("SELECT payload_hash, seq, status, result FROM sluice_ledger WHERE actor = ? AND "
                         "idempotency_key = ? AND expires_ms > ?");
    }
    const char *hash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *stamp = "2026-12-01T07:00:00.000Z";
    char key[64], payload[128], json[192];
    long transactions = (commands + per_transaction - 1) / per_transaction;
    double *latencies = malloc(sizeof(double) * (size_t)transactions);
    long measured = 0, seq = 0;
    srand(7);
    double cpu_started = cpu_seconds(), started = clock_seconds(CLOCK_MONOTONIC);
    for (long first = 0; first < commands; first += per_transaction) {
        double transaction_started = clock_seconds(CLOCK_MONOTONIC);
        run("BEGIN IMMEDIATE");
        for (long n = first; n < first + per_transaction && n < commands; n++) {
            long client = n % 8;
            seq++;
            if (random_keys == 2) {
                bench_key(key, sizeof key, client, n, BENCH_KEYS_TIME_ORDERED);
            } else if (random_keys) {
                snprintf(key, sizeof key, "%08x-%04x-%04x", rand(), rand() & 0xffff, rand() & 0xffff);
            } else {
                snprintf(key, sizeof key, "bench-%ld-%ld", client, n);
            }
            snprintf(payload, sizeof payload, "client %ld command %ld padding-padding-padding", client, n);
            snprintf(json, sizeof json, "{\"client\":%ld,\"n\":%ld,\"payload\":\"%s\"}", client, n, payload);
            text(lookup, 1, "local");
            text(lookup, 2, key);
            sqlite3_bind_int64(lookup, 3, 1000);
            step(lookup);
            sqlite3_bind_int64(data, 1, client);
            sqlite3_bind_int64(data, 2, n);
            text(data, 3, payload);
            step(data);
            if (ledger) {
                text(ledger, 1, "local");
                text(ledger, 2, key);
                text(ledger, 3, hash);
                sqlite3_bind_int64(ledger, 4, seq);
                text(ledger, 5, "ok");
                text(ledger, 6, "{\"changes\":1}");
                text(ledger, 7, stamp);
                sqlite3_bind_int64(ledger, 8, 999999999);
                step(ledger);
            }
            sqlite3_bind_int64(log, 1, seq);
            text(log, 2, stamp);
            text(log, 3, "local");
            text(log, 4, "bench.insert@v1");
            text(log, 5, key);
            text(log, 6, "r1");
            text(log, 7, "0e5b6d2a-1111-2222-3333-444455556666");
            text(log, 8, json);
            text(log, 9, "ok");
            text(log, 10, "{\"changes\":1}");
            text(log, 11, "{\"tables\":{\"bench\":[1]}}");
            sqlite3_bind_int64(log, 12, 100);
            if (layout == IN_THE_LOG) {
                text(log, 13, hash);
                sqlite3_bind_int64(log, 14, 999999999);
            }
            step(log);
        }
        run("COMMIT");
        latencies[measured++] = (clock_seconds(CLOCK_MONOTONIC) - transaction_started) * 1e6;
    }
    double cpu = cpu_seconds() - cpu_started, seconds = clock_seconds(CLOCK_MONOTONIC) - started;
    qsort(latencies, (size_t)measured, sizeof(double), compare_doubles);
    printf("layout=%d perTx=%ld random=%d: %.2f µs CPU/cmd, %.0f cmd/s, tx p50 %.0f µs\n", layout, per_transaction,
        random_keys, cpu * 1e6 / (double)commands, (double)commands / seconds, latencies[measured / 2]);
    return 0;
}
