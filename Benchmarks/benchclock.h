/*
 * Clocks for the C benchmark programs (loadgen, ceiling, commitcost, zmqping): header-only, so
 * each program still builds with one cc command.
 */
#ifndef SLUICE_BENCHCLOCK_H
#define SLUICE_BENCHCLOCK_H

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* Seconds on `clock` (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for times other processes compare). */
static inline double clock_seconds(clockid_t clock) {
    struct timespec spec;
    clock_gettime(clock, &spec);
    return (double)spec.tv_sec + (double)spec.tv_nsec / 1e9;
}

/* User + system CPU seconds of this process, every thread (libzmq's I/O thread too). */
static inline double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static inline int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif
