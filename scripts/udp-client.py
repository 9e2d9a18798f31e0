#!/usr/bin/env python3
"""Sends COUNT datagrams to VIP:PORT, each from a new socket (a new source port, so a new flow), and
prints each answer, or FAILED when TRIES tries a second apart (one flow: the same socket) got none,
as a DNS client would retry. SIZE sets the datagram's payload length (default 4 bytes). Every socket
stays open until the last flow is done: a closed one's port could be the kernel's next ephemeral
pick, and two flows on one port are one connection to the director.

Usage: udp-client.py VIP PORT COUNT [TRIES=3] [SIZE=4]
"""
import socket
import sys

VIP, PORT, COUNT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
TRIES = int(sys.argv[4]) if len(sys.argv) > 4 else 3
SIZE = int(sys.argv[5]) if len(sys.argv) > 5 else 4
PAYLOAD = (b"who?" * (SIZE // 4 + 1))[:SIZE]
flows = []
for _ in range(COUNT):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flows.append(sock)
    sock.settimeout(1.0)
    sock.connect((VIP, PORT))
    answer = "FAILED"
    for _try in range(TRIES):
        sock.send(PAYLOAD)
        try:
            answer = sock.recv(2048).decode().strip()
            break
        except OSError:
            pass
    print(answer, flush=True)
for sock in flows:
    sock.close()
