/*
 * commitcost: what one durable SQLite commit costs on this machine, in wall time and in CPU
 * (user + system, so the kernel's work for the fsync counts), against the same commits without
 * the sync. A broker batch pays one such commit however many commands it holds: with a few
 * commands per batch (clients that await each ACK), this CPU per batch is a floor under the
 * broker's CPU per command.
 *
 *   commitcost [DIRECTORY] [COMMITS] [json]      (defaults: /tmp, 2000)
 *
 * With `json`, it measures FULL only and prints {"p50_us": ..., "cpu_us": ..., "commits": N}
 * (`sluice-bench latency` reads it).
 *
 * Build: cc -O2 -o commitcost Benchmarks/commitcost.c $(pkg-config --cflags --libs sqlite3)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

static void check(int code, sqlite3 *db, const char *what) {
    if (code != SQLITE_OK && code != SQLITE_DONE) {
        fprintf(stderr, "commitcost: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

/* COMMITS single-row transactions at `level`; prints wall (mean and p50) and CPU µs per commit,
 * as a table row or (`json`) as JSON. */
static void measure(sqlite3 *db, sqlite3_stmt *insert, const char *level, int commits, int json) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", level);
    check(sqlite3_exec(db, pragma, 0, 0, 0), db, "pragma");
    double *each = calloc((size_t)commits, sizeof(double));
    double wall = clock_seconds(CLOCK_MONOTONIC), cpu = cpu_seconds();
    for (int n = 0; n < commits; n++) {
        double started = clock_seconds(CLOCK_MONOTONIC);
        check(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
        each[n] = (clock_seconds(CLOCK_MONOTONIC) - started) * 1e6;
    }
    wall = clock_seconds(CLOCK_MONOTONIC) - wall;
    cpu = cpu_seconds() - cpu;
    qsort(each, (size_t)commits, sizeof(double), compare_doubles);
    if (json)
        printf("{\"commits\":%d,\"cpu_us\":%.1f,\"p50_us\":%.1f}\n", commits, cpu / commits * 1e6, each[commits / 2]);
    else
        printf("| %s | %d | %.1f | %.1f | %.1f |\n", level, commits, wall / commits * 1e6, each[commits / 2],
            cpu / commits * 1e6);
    free(each);
}

int main(int argc, char **argv) {
    const char *directory = argc > 1 ? argv[1] : "/tmp";
    int commits = argc > 2 ? atoi(argv[2]) : 2000;
    char path[4096];
    snprintf(path, sizeof path, "%s/commitcost-%d.db", directory, (int)getpid());
    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db,
              "PRAGMA journal_mode = WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT NOT NULL)", 0, 0, 0),
        db, "create");
    sqlite3_stmt *insert;
    check(sqlite3_prepare_v2(db, "INSERT INTO t(payload) VALUES ('client 0 command 0 padding-padding-padding')", -1,
              &insert, 0),
        db, "prepare");
    int json = argc > 3 && strcmp(argv[3], "json") == 0;
    if (json) {
        measure(db, insert, "FULL", commits, 1);
    } else {
        printf("| synchronous | commits | wall µs per commit | p50 µs | CPU µs per commit |\n"
               "| --- | ---: | ---: | ---: | ---: |\n");
        measure(db, insert, "FULL", commits, 0);
        measure(db, insert, "OFF", commits, 0);
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
    char wal[4200], shm[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    return 0;
}
