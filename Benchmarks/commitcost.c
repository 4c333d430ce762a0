/*
 * commitcost: what one durable SQLite commit costs on this machine, in wall time and in CPU
 * (user + system, so the kernel's work for the fsync counts), against the same commits without
 * the sync. A broker batch pays one such commit however many commands it holds: with a few
 * commands per batch (clients that await each ACK), this CPU per batch is a floor under the
 * broker's CPU per command.
 *
 *   commitcost [DIRECTORY] [COMMITS]      (defaults: /tmp, 2000)
 *
 * Build: cc -O2 -o commitcost Benchmarks/commitcost.c $(pkg-config --cflags --libs sqlite3)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double wall_seconds(void) {
    struct timespec spec;
    clock_gettime(CLOCK_MONOTONIC, &spec);
    return (double)spec.tv_sec + (double)spec.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void check(int code, sqlite3 *db, const char *what) {
    if (code != SQLITE_OK && code != SQLITE_DONE) {
        fprintf(stderr, "commitcost: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

/* COMMITS single-row transactions at `level`; prints wall and CPU µs per commit. */
static void measure(sqlite3 *db, sqlite3_stmt *insert, const char *level, int commits) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", level);
    check(sqlite3_exec(db, pragma, 0, 0, 0), db, "pragma");
    double wall = wall_seconds(), cpu = cpu_seconds();
    for (int n = 0; n < commits; n++) {
        check(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    wall = wall_seconds() - wall;
    cpu = cpu_seconds() - cpu;
    printf("| %s | %d | %.1f | %.1f |\n", level, commits, wall / commits * 1e6, cpu / commits * 1e6);
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
    printf("| synchronous | commits | wall µs per commit | CPU µs per commit |\n| --- | ---: | ---: | ---: |\n");
    measure(db, insert, "FULL", commits);
    measure(db, insert, "OFF", commits);
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
