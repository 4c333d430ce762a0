/*
 * The idempotency keys of the benchmark's commands, for the C programs (loadgen, ceiling); the
 * Swift workers make the same ones (`BenchKeys` in Benchmarks/Sources/BenchWorker.swift).
 *
 * "random" (the default): a UUID-shaped key derived from the client and the command number by a
 * fixed mix (SplitMix64's finalizer), so keys fall all over the key space as the clients' own
 * default keys (random UUIDs) do — where each lands in the ledger's index decides what a commit
 * writes — yet every program of a run makes the same ones. "sequential": "bench-<client>-<n>",
 * the keys of the benchmark rounds before 2026-12-01 (eight insertion points in the ledger).
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

/* 1 for "sequential", 0 for "random" or no argument; -1 for anything else. */
static inline int bench_sequential_keys(const char *argument) {
    if (argument == NULL || strcmp(argument, "random") == 0) return 0;
    return strcmp(argument, "sequential") == 0 ? 1 : -1;
}

static inline void bench_key(char *out, size_t size, long client, long n, int sequential) {
    if (sequential) {
        snprintf(out, size, "bench-%ld-%ld", client, n);
        return;
    }
    unsigned long long high = bench_mix(((unsigned long long)client << 40) ^ (unsigned long long)n);
    unsigned long long low = bench_mix(high);
    snprintf(out, size, "%08llx-%04llx-%04llx-%04llx-%012llx", high >> 32, (high >> 16) & 0xffff, high & 0xffff,
        low >> 48, low & 0xffffffffffffULL);
}

#endif
