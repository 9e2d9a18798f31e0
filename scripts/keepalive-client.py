#!/usr/bin/env python3
"""A lab client for live-change tests: holds keep-alive HTTP connections and opens new ones.

Usage: keepalive-client.py VIP CONNECTIONS SECONDS

Opens CONNECTIONS HTTP/1.1 keep-alive connections to VIP:80 and, from one thread each, sends a GET
on its connection every 0.2 s for SECONDS; a connection whose request fails (1 s timeout) counts
one failure and is not used again. Meanwhile one more thread makes a request on a new connection
every 0.1 s. Prints one line per held connection, "kept NAME OK FAILED" (NAME = the real server
that answered first), then "new PHASE NAME COUNT" for the new connections, PHASE being 0 before
2.3 s, 1 and 2 in between, 3 from 7 s (the test's changes happen at 2.5, 4.5 and 6.5 s). Every
loop is bounded by SECONDS.
"""
import collections
import http.client
import sys
import threading
import time

VIP = sys.argv[1]
COUNT = int(sys.argv[2])
SECONDS = float(sys.argv[3])
START = time.monotonic()
END = START + SECONDS


def phase(elapsed):
    if elapsed < 2.3:
        return 0
    if elapsed < 4.5:
        return 1
    if elapsed < 7.0:
        return 2
    return 3


def get(conn):
    conn.request("GET", "/")
    response = conn.getresponse()
    return response.read().decode().strip()


held = []
for _ in range(COUNT):
    conn = http.client.HTTPConnection(VIP, 80, timeout=1)
    held.append({"conn": conn, "name": get(conn), "ok": 1, "failed": 0})


def hold(entry):
    while time.monotonic() < END:
        time.sleep(0.2)
        try:
            get(entry["conn"])
            entry["ok"] += 1
        except Exception:
            entry["failed"] += 1
            return


new = collections.Counter()


def open_new():
    while time.monotonic() < END:
        elapsed = time.monotonic() - START
        conn = http.client.HTTPConnection(VIP, 80, timeout=1)
        try:
            name = get(conn)
        except Exception:
            name = "FAILED"
        finally:
            conn.close()
        new[(phase(elapsed), name)] += 1
        time.sleep(0.1)


threads = [threading.Thread(target=hold, args=(entry,)) for entry in held]
threads.append(threading.Thread(target=open_new))
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(SECONDS + 5)
for entry in held:
    print("kept", entry["name"], entry["ok"], entry["failed"])
for (p, name), count in sorted(new.items()):
    print("new", p, name, count)
