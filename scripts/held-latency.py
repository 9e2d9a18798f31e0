#!/usr/bin/env python3
"""Held keep-alive connections through the director, each making a request every INTERVAL seconds,
with every request's latency recorded by phase: what an established user sees while something
happens to the director (a SYN flood, say).

Usage: held-latency.py VIP CONNECTIONS STATE_DIR [INTERVAL=0.1]

Opens CONNECTIONS HTTP/1.1 keep-alive connections to VIP:80, then creates STATE_DIR/ready. From then
on one thread per connection sends a GET every INTERVAL on it (a request that fails, 2 s timeout,
counts as failed and the connection is not reopened: it broke), labelled with the phase the caller
writes to STATE_DIR/phase. Stops when STATE_DIR/stop appears, or after 600 s. Prints
"kept OK FAILED" per connection, then per phase
"phase P requests N failed F p50_ms A p99_ms B max_ms C".
"""
import http.client
import os
import sys
import threading
import time

VIP = sys.argv[1]
COUNT = int(sys.argv[2])
STATE = sys.argv[3]
INTERVAL = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
DEADLINE = time.monotonic() + 600


def running():
    return time.monotonic() < DEADLINE and not os.path.exists(os.path.join(STATE, "stop"))


def phase():
    try:
        with open(os.path.join(STATE, "phase")) as f:
            return f.read().strip() or "0"
    except OSError:
        return "0"


def get(conn):
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()


lock = threading.Lock()
samples = {}  # phase -> [latencies in s]
failures = {}  # phase -> count
held = []
for _ in range(COUNT):
    conn = http.client.HTTPConnection(VIP, 80, timeout=2)
    get(conn)
    held.append({"conn": conn, "ok": 1, "failed": 0})


def hold(entry):
    next_at = time.monotonic()
    while running():
        next_at += INTERVAL
        time.sleep(max(0.0, next_at - time.monotonic()))
        label = phase()
        started = time.monotonic()
        try:
            get(entry["conn"])
        except Exception:
            entry["failed"] += 1
            with lock:
                failures[label] = failures.get(label, 0) + 1
            return
        took = time.monotonic() - started
        entry["ok"] += 1
        with lock:
            samples.setdefault(label, []).append(took)


threads = [threading.Thread(target=hold, args=(entry,)) for entry in held]
for thread in threads:
    thread.start()
open(os.path.join(STATE, "ready"), "w").close()
for thread in threads:
    thread.join(610)
for entry in held:
    print("kept", entry["ok"], entry["failed"])


def quantile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


for label in sorted(set(samples) | set(failures)):
    values = sorted(samples.get(label, []))
    print(
        f"phase {label} requests {len(values) + failures.get(label, 0)} failed {failures.get(label, 0)} "
        f"p50_ms {quantile(values, 0.50) * 1000:.2f} p99_ms {quantile(values, 0.99) * 1000:.2f} "
        f"max_ms {(values[-1] if values else 0) * 1000:.2f}"
    )
