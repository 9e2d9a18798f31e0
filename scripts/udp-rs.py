#!/usr/bin/env python3
"""A real server's UDP service for the lab: answers every datagram with its own name.

Usage: udp-rs.py NAME VIP PORT. Binds the VIP itself (held on lo), so replies leave from the VIP, as
a direct-routing UDP service must answer.
"""
import socket
import sys

NAME, VIP, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((VIP, PORT))
while True:
    _, client = sock.recvfrom(65536)
    sock.sendto((NAME + "\n").encode(), client)
