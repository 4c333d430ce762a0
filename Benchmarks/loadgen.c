/*
 * loadgen: one client process of `sluice bench write --load-generator c`, in C, so that the
 * measurement of the broker is not bounded by the Swift client's own CPU cost.
 *
 * It speaks the protocol of docs/protocol.md directly: a DEALER with PLAIN credentials, COMMAND
 * frames for the benchmark contract `bench.insert@v1` (the same rows the Swift workers send),
 * WINDOW commands in flight, each reply matched to its command by request id. It prints what the
 * Swift worker prints: {"cpu_seconds": s, "started": s, "finished": s, "latencies_us": [...]}
 * (the CPU this process used from start to finish, all its threads; seconds since 1970;
 * microseconds from send to ACK).
 *
 *   loadgen ENDPOINT TOKEN CLIENT_ID COMMANDS WINDOW [PAUSE_MS [KEYS]]
 *
 * PAUSE_MS (default 0): with one command in flight, how long to wait after each ACK before the
 * next command — a plugin that writes now and then. KEYS: `time-ordered` (default), `random` or
 * `sequential`, the commands' idempotency keys (Benchmarks/benchkey.h).
 *
 * Build: cc -O2 -o loadgen Benchmarks/loadgen.c $(pkg-config --cflags --libs libzmq)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#include "benchclock.h"
#include "benchkey.h"

static int key_mode = BENCH_KEYS_TIME_ORDERED;

static void fail(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

/* Sends COMMAND n: [empty, SLU1, COMMAND, header, body]. */
static void send_command(void *socket, long client, long n) {
    char header[192];
    char body[160];
    char key[64];
    bench_key(key, sizeof key, client, n, key_mode);
    int header_length = snprintf(header, sizeof header,
        "{\"request_id\":\"%ld\",\"contract\":\"bench.insert@v1\",\"idempotency_key\":\"%s\"}", n, key);
    int body_length = snprintf(body, sizeof body,
        "{\"client\":%ld,\"n\":%ld,\"payload\":\"client %ld command %ld padding-padding-padding\"}", client, n, client, n);
    if (zmq_send(socket, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(socket, "SLU1", 4, ZMQ_SNDMORE) < 0
        || zmq_send(socket, "COMMAND", 7, ZMQ_SNDMORE) < 0 || zmq_send(socket, header, header_length, ZMQ_SNDMORE) < 0
        || zmq_send(socket, body, body_length, 0) < 0) {
        fail("send");
    }
}

/* Receives one reply; returns the request id it answers (-1 for anything but an ACK). */
static long receive_reply(void *socket) {
    char frames[5][512];
    int sizes[5];
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t message;
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, socket, 0) < 0) fail("receive");
        if (count < 5) {
            size_t size = zmq_msg_size(&message);
            if (size > sizeof frames[0] - 1) size = sizeof frames[0] - 1;
            memcpy(frames[count], zmq_msg_data(&message), size);
            frames[count][size] = 0;
            sizes[count] = (int)size;
        }
        count++;
        more = zmq_msg_more(&message);
        zmq_msg_close(&message);
    }
    if (count != 5 || sizes[2] != 3 || memcmp(frames[2], "ACK", 3) != 0) {
        fprintf(stderr, "loadgen: not an ACK: %s %s\n", count > 2 ? frames[2] : "?", count > 4 ? frames[4] : "");
        return -1;
    }
    const char *id = strstr(frames[3], "\"request_id\":\"");
    return id ? strtol(id + 14, NULL, 10) : -1;
}

int main(int argc, char **argv) {
    key_mode = bench_key_mode(argc > 7 ? argv[7] : NULL);
    if (argc < 6 || argc > 8 || key_mode < 0) {
        fprintf(stderr, "usage: loadgen ENDPOINT TOKEN CLIENT_ID COMMANDS WINDOW [PAUSE_MS [time-ordered|random|sequential]]\n");
        return 2;
    }
    const char *endpoint = argv[1];
    const char *token = argv[2];
    long client = atol(argv[3]);
    long commands = atol(argv[4]);
    long window = atol(argv[5]) < 1 ? 1 : atol(argv[5]);
    long pause_ms = argc > 6 ? atol(argv[6]) : 0;

    void *context = zmq_ctx_new();
    void *socket = zmq_socket(context, ZMQ_DEALER);
    int linger = 0;
    int hwm = 0;  /* the window bounds what is queued */
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(socket, ZMQ_PLAIN_USERNAME, "local", 5);
    zmq_setsockopt(socket, ZMQ_PLAIN_PASSWORD, token, strlen(token));
    if (zmq_connect(socket, endpoint) != 0) fail("connect");

    double *sent_at = calloc((size_t)commands, sizeof(double));
    double *latency = calloc((size_t)commands, sizeof(double));
    double started = clock_seconds(CLOCK_REALTIME);
    double cpu_started = cpu_seconds();
    long next = 0;
    long answered = 0;
    for (; next < commands && next < window; next++) {
        sent_at[next] = clock_seconds(CLOCK_MONOTONIC);
        send_command(socket, client, next);
    }
    while (answered < commands) {
        long id = receive_reply(socket);
        if (id < 0 || id >= commands) return 1;
        latency[id] = (clock_seconds(CLOCK_MONOTONIC) - sent_at[id]) * 1e6;
        answered++;
        if (next < commands) {
            if (pause_ms > 0) {
                struct timespec pause = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
                nanosleep(&pause, NULL);
            }
            sent_at[next] = clock_seconds(CLOCK_MONOTONIC);
            send_command(socket, client, next);
            next++;
        }
    }
    double finished = clock_seconds(CLOCK_REALTIME);
    double cpu_used = cpu_seconds() - cpu_started;

    printf("{\"cpu_seconds\":%.6f,\"finished\":%.6f,\"latencies_us\":[", cpu_used, finished);
    for (long n = 0; n < commands; n++) printf(n ? ",%.1f" : "%.1f", latency[n]);
    printf("],\"started\":%.6f}\n", started);
    zmq_close(socket);
    zmq_ctx_term(context);
    return 0;
}
