#!/usr/bin/env python3
"""A steady load through the director, to tell whether forwarding ever stopped and for how long.

Usage: steady-probe.py VIP PORT STATE_DIR [RATE=200]

Sends RATE UDP datagrams a second to VIP:PORT (a real server's udp-rs.py answers each), each flow
(a new socket, so a new source port) carrying ten of them, so both the director's connection hits and
its new-connection path are exercised. A flow's socket lingers a second after its last datagram and
the end waits as long for answers on their way, so a slow answer counts (only a lost one does not). Creates STATE_DIR/ready once the first answer is in, and stops
when STATE_DIR/stop appears (or after 300 s). Prints one line:
"sent N answered M max_gap_ms G" — G is the longest time between two answers in a row, the
forwarding gap a user of the service would have seen.
"""
import collections
import os
import select
import socket
import sys
import time

VIP, PORT, STATE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RATE = int(sys.argv[4]) if len(sys.argv) > 4 else 200
PER_FLOW = 10
DEADLINE = time.monotonic() + 300
# A flow's socket stays open this long after its last datagram, so an answer that comes late (a
# loaded machine) is still counted instead of lost with a closed socket; at the end, answers still on
# their way are waited for as long.
LINGER = 1.0

sent = answered = 0
last_answer = None
max_gap = 0.0
flows = collections.deque()  # (socket, time of its last datagram), oldest first
next_send = time.monotonic()


def stopping():
    return time.monotonic() >= DEADLINE or os.path.exists(os.path.join(STATE, "stop"))


def receive(timeout):
    global answered, last_answer, max_gap
    ready, _, _ = select.select([s for s, _ in flows], [], [], timeout)
    for sock in ready:
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


while not stopping():
    now = time.monotonic()
    if now >= next_send:
        if sent % PER_FLOW == 0:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((VIP, PORT))
            flows.append((sock, now))
        sock, _ = flows[-1]
        try:
            sock.send(b"probe")
        except OSError:
            pass
        flows[-1] = (sock, now)
        sent += 1
        next_send += 1.0 / RATE
    while len(flows) > 1 and now - flows[0][1] > LINGER:
        flows.popleft()[0].close()
    receive(max(0.0, next_send - time.monotonic()))
# The answers to the last datagrams are still on their way.
end = time.monotonic() + LINGER
while answered < sent and time.monotonic() < end:
    receive(max(0.0, end - time.monotonic()))
print(f"sent {sent} answered {answered} max_gap_ms {max_gap * 1000:.0f}")
