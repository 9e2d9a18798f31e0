#!/usr/bin/env python3
"""A lab client for live-change tests: holds keep-alive HTTP connections and opens new ones.

Usage: keepalive-client.py VIP CONNECTIONS STATE_DIR [TIMEOUT]

Opens CONNECTIONS HTTP/1.1 keep-alive connections to VIP:80, then creates STATE_DIR/ready. From then
on, one thread per held connection sends a GET on it every 0.2 s (a request that fails, TIMEOUT
seconds, default 1, counts one failure and ends that connection), and one more thread makes a request
on a new connection every 0.1 s, labelled with the phase number the test writes to STATE_DIR/phase before it starts. It
stops when the test writes STATE_DIR/stop, or after 60 s in any case. Prints "kept NAME OK FAILED"
per held connection (NAME = the real server that answered first) and "new PHASE NAME COUNT" per
phase and answer.
"""
import collections
import http.client
import os
import sys
import threading
import time

VIP = sys.argv[1]
COUNT = int(sys.argv[2])
STATE = sys.argv[3]
TIMEOUT = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
DEADLINE = time.monotonic() + 60


def running():
    return time.monotonic() < DEADLINE and not os.path.exists(os.path.join(STATE, "stop"))


def phase():
    try:
        with open(os.path.join(STATE, "phase")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def get(conn):
    conn.request("GET", "/")
    response = conn.getresponse()
    return response.read().decode().strip()


held = []
for _ in range(COUNT):
    conn = http.client.HTTPConnection(VIP, 80, timeout=TIMEOUT)
    held.append({"conn": conn, "name": get(conn), "ok": 1, "failed": 0})


def hold(entry):
    while running():
        time.sleep(0.2)
        try:
            get(entry["conn"])
            entry["ok"] += 1
        except Exception:
            entry["failed"] += 1
            return


new = collections.Counter()


def open_new():
    while running():
        label = phase()
        conn = http.client.HTTPConnection(VIP, 80, timeout=TIMEOUT)
        try:
            name = get(conn)
        except Exception:
            name = "FAILED"
        finally:
            conn.close()
        new[(label, name)] += 1
        time.sleep(0.1)


threads = [threading.Thread(target=hold, args=(entry,)) for entry in held]
threads.append(threading.Thread(target=open_new))
for thread in threads:
    thread.start()
open(os.path.join(STATE, "ready"), "w").close()
for thread in threads:
    thread.join(65)
for entry in held:
    print("kept", entry["name"], entry["ok"], entry["failed"])
for (p, name), count in sorted(new.items()):
    print("new", p, name, count)
