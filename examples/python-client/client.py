#!/usr/bin/env python3
"""A Sluice client in Python, written from docs/protocol.md alone.

Usage: python3 client.py [DATA_DIR] [REQUEST_ENDPOINT EVENT_ENDPOINT]
       (default: ./data and its ipc sockets; needs `pip install pyzmq`)

With tcp:// endpoints it speaks CURVE (protocol.md section 6.1) with the operator's keys from
DATA_DIR/curve: local.key (its pair) and broker.key (the broker's public key).

It connects as the operator, sends a command, retries it with the same idempotency key,
asks STATUS, watches the invalidation event of a commit, catches up with SYNC and runs a
query. Every step asserts what the protocol promises; the exit status is 0 only if all hold.
"""
import json
import os
import sys
import time
import uuid

import zmq

TAG = b"SLU1"


def time_ordered_key():
    """A version 7 UUID (RFC 9562): milliseconds since the Unix epoch, then random bits. Keys that
    sort in the order they are made are the cheapest for the broker's ledger (protocol.md,
    "Choosing keys"); Python's uuid module makes version 7 only from 3.14 on."""
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10
    return str(uuid.UUID(int=value))


def read_key_file(path):
    """A key file: 'public-key = <z85>' and 'secret-key = <z85>' lines (protocol.md section 6.1)."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                keys[name.strip()] = value.strip().encode()
    return keys


class Broker:
    def __init__(self, data_dir, request_endpoint=None, event_endpoint=None):
        request_endpoint = request_endpoint or "ipc://" + os.path.join(data_dir, "sluice.sock")
        event_endpoint = event_endpoint or "ipc://" + os.path.join(data_dir, "events.sock")
        self.context = zmq.Context()
        self.requests = self.context.socket(zmq.DEALER)
        self.events = self.context.socket(zmq.SUB)       # the event socket authenticates too
        for socket, endpoint in ((self.requests, request_endpoint), (self.events, event_endpoint)):
            if endpoint.startswith("tcp://"):
                # CURVE (section 6.1): our key pair, and the broker's public key.
                mine = read_key_file(os.path.join(data_dir, "curve", "local.key"))
                broker = read_key_file(os.path.join(data_dir, "curve", "broker.key"))
                socket.curve_serverkey = broker["public-key"]
                socket.curve_publickey = mine["public-key"]
                socket.curve_secretkey = mine["secret-key"]
            else:
                # PLAIN (section 6): our name and token.
                with open(os.path.join(data_dir, "tokens", "local.token")) as f:
                    token = f.read().strip()
                socket.plain_username = b"local"
                socket.plain_password = token.encode()
            socket.linger = 0
            socket.rcvtimeo = 10000
            socket.connect(endpoint)

    def send(self, kind, header, body):
        header = dict(header, request_id=header.get("request_id") or str(uuid.uuid4()))
        self.requests.send_multipart([b"", TAG, kind.encode(), json.dumps(header).encode(), json.dumps(body).encode()])
        return header["request_id"]

    def receive(self):
        empty, tag, kind, header, body = self.requests.recv_multipart()
        assert empty == b"" and tag == TAG, "a reply is [empty, SLU1, kind, header, body]"
        return kind.decode(), json.loads(header), json.loads(body)

    def request(self, kind, header, body):
        request_id = self.send(kind, header, body)
        reply_kind, reply_header, reply_body = self.receive()
        assert reply_header.get("request_id") == request_id, "replies echo the request id"
        return reply_kind, reply_body

    def command(self, contract, payload, key):
        return self.request("COMMAND", {"contract": contract, "idempotency_key": key}, payload)

    def next_event(self, topic):
        while True:
            frames = self.events.recv_multipart()
            assert len(frames) == 3, "an event is [topic, header, body]"
            if frames[0] == topic.encode():
                return json.loads(frames[1]), json.loads(frames[2])


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "data"
    endpoints = sys.argv[2:4] if len(sys.argv) > 3 else [None, None]
    broker = Broker(data_dir, *endpoints)
    checks = 0

    kind, welcome = broker.request("HELLO", {}, {"client": "python-example"})
    assert kind == "WELCOME" and welcome["protocol"] == 1 and welcome["actor"] == "local", welcome
    checks += 1

    key = time_ordered_key()
    kind, ack = broker.command("task.create@v1", {"title": "from python", "priority": 2}, key)
    assert kind == "ACK" and ack["duplicate"] is False, (kind, ack)
    checks += 1

    # The same key again, keys in another order: the stored result, nothing runs twice.
    kind, again = broker.command("task.create@v1", {"priority": 2, "title": "from python"}, key)
    assert kind == "ACK" and again["duplicate"] is True and again["seq"] == ack["seq"], again
    assert again["result"] == ack["result"]
    checks += 1

    kind, mismatch = broker.command("task.create@v1", {"title": "something else"}, key)
    assert kind == "ERROR" and mismatch["code"] == "idempotency_mismatch" and mismatch["retryable"] is False
    checks += 1

    kind, status = broker.request("STATUS", {}, {"idempotency_key": key})
    assert kind == "STATUS_REPLY" and status["state"] == "committed" and status["seq"] == ack["seq"], status
    checks += 1

    kind, invalid = broker.command("task.create@v1", {"title": 42}, time_ordered_key())
    assert kind == "ERROR" and invalid["code"] == "validation_failed"
    assert invalid["details"]["violations"][0]["pointer"] == "/title"
    checks += 1

    # Events: subscribe, wait for a heartbeat (the subscription is live), then commit.
    broker.events.setsockopt(zmq.SUBSCRIBE, b"inval.tasks")
    broker.events.setsockopt(zmq.SUBSCRIBE, b"hb")
    broker.next_event("hb")
    kind, second = broker.command("task.create@v1", {"title": "watched"}, time_ordered_key())
    header, event = broker.next_event("inval.tasks")
    assert header["seq"] == second["seq"] and header["stream"] == "tasks", (header, second)
    assert event["tables"]["tasks"], event
    checks += 1

    # Catch up with SYNC: REPLAYs then SYNC_END, every seq in order.
    request_id = broker.send("SYNC", {}, {"topic": "inval.tasks", "from_seq": 1, "limit": 5000})
    seqs = []
    while True:
        kind, reply_header, body = broker.receive()
        assert reply_header["request_id"] == request_id
        if kind == "SYNC_END":
            assert body["complete"] and body["last_seq"] == body["head_seq"] >= second["seq"], body
            break
        assert kind == "REPLAY", kind
        seqs.append(body["seq"])
    assert seqs == list(range(1, len(seqs) + 1)) and second["seq"] in seqs
    checks += 1

    # A query that must reflect our own write.
    kind, result = broker.request("QUERY", {"contract": "task.list@v1", "after": {"tasks": second["seq"]}}, {})
    assert kind == "RESULT" and result["seq"] >= second["seq"], result
    titles = [row[result["columns"].index("title")] for row in result["rows"]]
    assert "watched" in titles and "from python" in titles, titles
    checks += 1

    print(f"{checks} passed, 0 failed")


if __name__ == "__main__":
    main()
