#!/usr/bin/env python3
"""A steady load through the director, to tell whether forwarding ever stopped and for how long.

Usage: steady-probe.py VIP PORT STATE_DIR [RATE=200]

Sends RATE UDP datagrams a second to VIP:PORT (a real server's udp-rs.py answers each), each flow
(a new socket, so a new source port) carrying ten of them, so both the director's connection hits and
its new-connection path are exercised. Creates STATE_DIR/ready once the first answer is in, and stops
when STATE_DIR/stop appears (or after 300 s). Prints one line:
"sent N answered M max_gap_ms G" — G is the longest time between two answers in a row, the
forwarding gap a user of the service would have seen.
"""
import os
import select
import socket
import sys
import time

VIP, PORT, STATE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RATE = int(sys.argv[4]) if len(sys.argv) > 4 else 200
PER_FLOW = 10
DEADLINE = time.monotonic() + 300

sent = answered = 0
last_answer = None
max_gap = 0.0
sock = None
next_send = time.monotonic()
while time.monotonic() < DEADLINE and not os.path.exists(os.path.join(STATE, "stop")):
    now = time.monotonic()
    if now >= next_send:
        if sent % PER_FLOW == 0:
            if sock:
                sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((VIP, PORT))
        try:
            sock.send(b"probe")
        except OSError:
            pass
        sent += 1
        next_send += 1.0 / RATE
    ready, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
    if ready:
        try:
            while sock.recv(2048):
                now = time.monotonic()
                answered += 1
                if last_answer is None:
                    open(os.path.join(STATE, "ready"), "w").close()
                else:
                    max_gap = max(max_gap, now - last_answer)
                last_answer = now
        except OSError:
            pass
print(f"sent {sent} answered {answered} max_gap_ms {max_gap * 1000:.0f}")
