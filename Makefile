# Sluice: `make run` serves a broker on ./data; `make test` runs the whole test suite.
# Both install the system libraries they need (libzmq3-dev, libsqlite3-dev; fuse3 and libfuse3-dev
# for the power-cut test's filesystem; postgresql for the exclusive-postgres tests, which start
# their own throwaway clusters) when missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_PACKAGES := libzmq3-dev libsqlite3-dev pkg-config fuse3 libfuse3-dev postgresql

.PHONY: deps build run test bench soak fuzz clean

deps:
	@if ! pkg-config --exists libzmq sqlite3 fuse3 2>/dev/null || ! command -v fusermount3 >/dev/null \
		|| ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@# The Python example client (run by the tests) needs pyzmq.
	@python3 -c "import zmq" 2>/dev/null || python3 -m pip install -q pyzmq

build: deps
	$(SWIFT) build

run: build
	$(SWIFT) run sluice serve --data-dir data

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

# The long runs of the failure tests: 50 power cuts, 100 crash-loop rounds; a million fuzzed frames.
soak: deps
	$(SWIFT) build --build-tests
	SLUICE_POWER_CUTS=50 $(SWIFT) test --skip-build --filter PowerLossTests
	SLUICE_CRASH_ROUNDS=100 $(SWIFT) test --skip-build --filter ProcessTests

fuzz: deps
	$(SWIFT) build --build-tests
	SLUICE_FUZZ_MESSAGES=1000000 $(SWIFT) test --skip-build --filter FrameFuzzTests

# The quick benchmark (under two minutes): what a FULL commit costs; one client's latency against
# a ZeroMQ round trip plus a commit; direct writers vs. the broker driven by Swift (async and
# blocking) and by C clients, one and 64 commands in flight, ratios to the direct writers of the
# same run (time-ordered idempotency keys, as the clients make them; then C clients with random
# keys, as a plugin choosing its own might); replay and catch-up against plain SQLite and the C
# ceiling; the wire's JSON parser
# against Foundation's; then pgbench vs. the broker's exclusive-postgres path on a throwaway
# PostgreSQL cluster (500 commands per client: a PostgreSQL commit here is slow, and 2,000 took
# 50 of the two minutes).
bench: deps
	$(SWIFT) build -c release --product sluice
	$(SWIFT) build -c release --product sluice-bench
	cc -O2 -o .build/loadgen Benchmarks/loadgen.c $$(pkg-config --cflags --libs libzmq)
	cc -O2 -o .build/ceiling Benchmarks/ceiling.c $$(pkg-config --cflags --libs sqlite3)
	cc -O2 -o .build/commitcost Benchmarks/commitcost.c $$(pkg-config --cflags --libs sqlite3)
	cc -O2 -pthread -o .build/zmqping Benchmarks/zmqping.c $$(pkg-config --cflags --libs libzmq)
	.build/commitcost
	.build/release/sluice-bench latency --commands 1000
	.build/release/sluice-bench write --clients 8 --commands 2000 --window 1 64 --load-generator swift swift-blocking c
	.build/release/sluice-bench write --clients 8 --commands 2000 --window 64 --load-generator c --events none --keys random
	.build/release/sluice-bench replay --commands 20000
	.build/release/sluice-bench json --parses 30000
	.build/release/sluice-bench write --database postgres --clients 8 --commands 500 --window 1 64 --load-generator c

clean:
	rm -rf .build data
