/*
 * ceiling: the ceiling baseline of `sluice bench write`, in C. One process writes exactly the
 * rows the broker writes per command — the data row and the command-log row, which is the
 * command's idempotency entry too — into a database the broker created (same schema, same
 * indexes), 1,000
 * commands per transaction, WAL, synchronous=FULL. No sockets, no JSON parsing, no threads: what
 * SQLite alone costs for the same durable work.
 *
 *   ceiling DATABASE COMMANDS [KEYS]        prints {"seconds": s, "cpu_seconds": s}
 *
 * KEYS: `time-ordered` (default), `random` or `sequential`, the idempotency keys of the log rows, as
 * the load generators make them (Benchmarks/benchkey.h).
 *
 * Build: cc -O2 -o ceiling Benchmarks/ceiling.c $(pkg-config --cflags --libs sqlite3)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "benchclock.h"
#include "benchkey.h"

static sqlite3 *db;

static void check(int code, const char *what) {
    if (code != SQLITE_OK && code != SQLITE_DONE && code != SQLITE_ROW) {
        fprintf(stderr, "ceiling: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void text(sqlite3_stmt *statement, int index, const char *value) {
    check(sqlite3_bind_text(statement, index, value, -1, SQLITE_TRANSIENT), "bind");
}

int main(int argc, char **argv) {
    int keys = bench_key_mode(argc > 3 ? argv[3] : NULL);
    if (argc < 3 || argc > 4 || keys < 0) {
        fprintf(stderr, "usage: ceiling DATABASE COMMANDS [time-ordered|random|sequential]\n");
        return 2;
    }
    long commands = atol(argv[2]);
    check(sqlite3_open(argv[1], &db), "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL), "pragmas");
    sqlite3_stmt *data, *log;
    check(sqlite3_prepare_v2(db, "INSERT INTO bench(client, n, payload) VALUES (?, ?, ?)", -1, &data, NULL), "prepare");
    check(sqlite3_prepare_v2(db,
              "INSERT INTO sluice_log(seq, ts, actor, contract, idempotency_key, request_id, generated_id, payload, "
              "status, result, changes, latency_us, payload_hash, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              -1, &log, NULL),
        "prepare");
    const char *stamp = "2026-11-30T12:00:00.000Z";
    const char *result = "{\"changes\":1,\"rows\":[]}";
    char payload[128], key[64], json[192], request[32], changes[64];
    double cpu_started = cpu_seconds();
    double started = clock_seconds(CLOCK_MONOTONIC);
    long seq = 0;
    for (long batch = 0; batch < commands; batch += 1000) {
        check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
        for (long n = batch; n < batch + 1000 && n < commands; n++) {
            long client = n % 8;
            seq++;
            snprintf(payload, sizeof payload, "client %ld command %ld padding-padding-padding", client, n);
            bench_key(key, sizeof key, client, n, keys);
            snprintf(json, sizeof json, "{\"client\":%ld,\"n\":%ld,\"payload\":\"%s\"}", client, n, payload);
            snprintf(request, sizeof request, "%ld", n);
            snprintf(changes, sizeof changes, "{\"tables\":{\"bench\":[%ld]}}", seq);

            sqlite3_bind_int64(data, 1, client);
            sqlite3_bind_int64(data, 2, n);
            text(data, 3, payload);
            check(sqlite3_step(data), "insert data");
            sqlite3_reset(data);

            sqlite3_bind_int64(log, 1, seq);
            text(log, 2, stamp);
            text(log, 3, "local");
            text(log, 4, "bench.insert@v1");
            text(log, 5, key);
            text(log, 6, request);
            text(log, 7, "6f1c0000-0000-4000-8000-000000000000");
            text(log, 8, json);
            text(log, 9, "ok");
            text(log, 10, result);
            text(log, 11, changes);
            sqlite3_bind_int64(log, 12, 100);
            text(log, 13, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
            sqlite3_bind_int64(log, 14, 1800000000000LL);
            check(sqlite3_step(log), "insert log");
            sqlite3_reset(log);
        }
        check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    printf("{\"cpu_seconds\":%.6f,\"seconds\":%.6f}\n", cpu_seconds() - cpu_started,
        clock_seconds(CLOCK_MONOTONIC) - started);
    sqlite3_finalize(data);
    sqlite3_finalize(log);
    sqlite3_close(db);
    return 0;
}
