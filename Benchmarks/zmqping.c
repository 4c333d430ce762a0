/*
 * zmqping: a raw ZeroMQ round trip over ipc, the baseline of `sluice-bench latency`. A DEALER in
 * the main thread sends a message shaped like a Sluice COMMAND (empty delimiter, SLU1, kind, a
 * ~100-byte header, a ~70-byte body: five frames); a ROUTER on a second thread sends it straight
 * back. Each side has a ZeroMQ context (and so an I/O thread) of its own, as a client process and
 * a broker process do. One message in flight; prints {"p50_us": ..., "p99_us": ..., "round_trips": N}.
 *
 *   zmqping DIRECTORY [ROUND_TRIPS]      (default 5000; the socket file goes in DIRECTORY)
 *
 * Build: cc -O2 -pthread -o zmqping Benchmarks/zmqping.c $(pkg-config --cflags --libs libzmq)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "benchclock.h"

static void fail(const char *what) {
    fprintf(stderr, "zmqping: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

/* Receives one multipart message on `from` and sends its frames on `to` as they come. */
static int forward(void *from, void *to) {
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, from, 0) < 0) {
            zmq_msg_close(&part);
            return -1;
        }
        int more = zmq_msg_more(&part);
        if (zmq_msg_send(&part, to, more ? ZMQ_SNDMORE : 0) < 0) fail("echo send");
        if (!more) return 0;
    }
}

static void *echo(void *router) {
    while (forward(router, router) == 0) {}
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: zmqping DIRECTORY [ROUND_TRIPS]\n");
        return 2;
    }
    long count = argc > 2 ? atol(argv[2]) : 5000;
    char endpoint[4200];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/zmqping-%d.sock", argv[1], (int)getpid());
    void *server = zmq_ctx_new();
    void *context = zmq_ctx_new();
    void *router = zmq_socket(server, ZMQ_ROUTER);
    void *dealer = zmq_socket(context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(router, endpoint) != 0) fail("bind");
    if (zmq_connect(dealer, endpoint) != 0) fail("connect");
    pthread_t thread;
    pthread_create(&thread, NULL, echo, router);

    const char *header = "{\"contract\":\"bench.insert@v1\",\"idempotency_key\":\"bench-0-0\",\"request_id\":\"0\"}";
    const char *body = "{\"client\":0,\"n\":0,\"payload\":\"client 0 command 0 padding-padding-padding\"}";
    double *samples = calloc((size_t)count, sizeof(double));
    for (long n = -100; n < count; n++) {  /* 100 unmeasured: the connection and the caches warm up */
        double started = clock_seconds(CLOCK_MONOTONIC) * 1e6;
        if (zmq_send(dealer, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(dealer, "SLU1", 4, ZMQ_SNDMORE) < 0
            || zmq_send(dealer, "COMMAND", 7, ZMQ_SNDMORE) < 0
            || zmq_send(dealer, header, strlen(header), ZMQ_SNDMORE) < 0
            || zmq_send(dealer, body, strlen(body), 0) < 0)
            fail("send");
        for (;;) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, dealer, 0) < 0) fail("receive");
            int more = zmq_msg_more(&part);
            zmq_msg_close(&part);
            if (!more) break;
        }
        if (n >= 0) samples[n] = clock_seconds(CLOCK_MONOTONIC) * 1e6 - started;
    }
    qsort(samples, (size_t)count, sizeof(double), compare_doubles);
    printf("{\"p50_us\":%.1f,\"p99_us\":%.1f,\"round_trips\":%ld}\n", samples[count / 2],
        samples[(long)((double)count * 0.99)], count);
    fflush(stdout);
    zmq_close(dealer);
    zmq_ctx_term(context);
    zmq_ctx_shutdown(server);  /* the echo thread's receive returns ETERM */
    pthread_join(thread, NULL);
    zmq_close(router);
    zmq_ctx_term(server);
    return 0;
}
