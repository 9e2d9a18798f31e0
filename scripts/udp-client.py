#!/usr/bin/env python3
"""Sends COUNT datagrams to VIP:PORT, each from a new socket (a new source port, so a new flow), and
prints each answer, or FAILED after a one-second wait.

Usage: udp-client.py VIP PORT COUNT
"""
import socket
import sys

VIP, PORT, COUNT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(COUNT):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.connect((VIP, PORT))
        sock.send(b"who?")
        try:
            print(sock.recv(2048).decode().strip())
        except OSError:
            print("FAILED")
