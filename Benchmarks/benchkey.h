/*
 * The idempotency keys of the benchmark's commands, for the C programs (loadgen, ceiling); the
 * Swift workers make the same ones (`BenchKeys` in Benchmarks/Sources/BenchWorker.swift).
 *
 * "time-ordered" (the default): UUIDv7-shaped keys, as the clients make them by default since
 * 2026-12-01 (fifth session): the first 48 bits count up with the command number, as a UUIDv7's
 * count up with the clock, and the rest is derived from the client and the command number by a
 * fixed mix (SplitMix64's finalizer), so every program of a run makes the same ones. "random":
 * UUID-shaped keys made wholly of that mix, falling all over the key space as random (version 4)
 * UUIDs do — a plugin that chooses its own random keys. Where each key lands in the ledger's index
 * decides what a commit writes. "sequential": "bench-<client>-<n>", the keys of the benchmark
 * rounds before 2026-12-01 (eight insertion points in the ledger).
 */
#ifndef SLUICE_BENCHKEY_H
#define SLUICE_BENCHKEY_H

#include <stdio.h>
#include <string.h>

static inline unsigned long long bench_mix(unsigned long long x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

enum { BENCH_KEYS_TIME_ORDERED = 0, BENCH_KEYS_RANDOM = 1, BENCH_KEYS_SEQUENTIAL = 2 };

/* The BENCH_KEYS_ mode an argument names ("time-ordered" when absent); -1 for anything else. */
static inline int bench_key_mode(const char *argument) {
    if (argument == NULL || strcmp(argument, "time-ordered") == 0) return BENCH_KEYS_TIME_ORDERED;
    if (strcmp(argument, "random") == 0) return BENCH_KEYS_RANDOM;
    return strcmp(argument, "sequential") == 0 ? BENCH_KEYS_SEQUENTIAL : -1;
}

/* The milliseconds of the first time-ordered key (2023-11-14T22:13:20Z): the clock's place in a UUIDv7. */
#define BENCH_KEY_EPOCH_MS 1700000000000ULL

static inline void bench_key(char *out, size_t size, long client, long n, int mode) {
    if (mode == BENCH_KEYS_SEQUENTIAL) {
        snprintf(out, size, "bench-%ld-%ld", client, n);
        return;
    }
    unsigned long long high = bench_mix(((unsigned long long)client << 40) ^ (unsigned long long)n);
    unsigned long long low = bench_mix(high);
    if (mode == BENCH_KEYS_TIME_ORDERED) {
        /* 48 bits of "milliseconds", version 7, 12 mixed bits; variant 10, 62 mixed bits. */
        unsigned long long ms = BENCH_KEY_EPOCH_MS + (unsigned long long)n;
        high = (ms << 16) | 0x7000ULL | (high & 0x0fffULL);
        low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    }
    snprintf(out, size, "%08llx-%04llx-%04llx-%04llx-%012llx", high >> 32, (high >> 16) & 0xffff, high & 0xffff,
        low >> 48, low & 0xffffffffffffULL);
}

#endif
