#!/usr/bin/env python3
"""For the ICMPv6 errors test: what a router on the way back sends to a VIP, from the client.

Opens COUNT keep-alive HTTP connections to [VIP]:80, learns from each answer which real server
holds it, then for each connection sends one ICMPv6 error to the VIP quoting the packet the real
server sent (VIP:80 -> client:port, TCP): type TYPE, code CODE (2/0 Packet Too Big with MTU 1280,
1/4 port unreachable, 3/0 time exceeded), and one more quoting a port no connection has. Prints
one line per connection: "PORT OWNER", then "unowned PORT". The connections stay open until the
script exits, after WAIT seconds (so their entries live while the errors are forwarded).

Usage: icmpv6-errors.py VIP6 CLIENT6 COUNT TYPE CODE [WAIT]
"""
import socket
import struct
import sys
import time

vip, client, count, msg_type, code = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wait = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0


def owner(conn):
    conn.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        body += conn.recv(4096)
    return body.decode().strip()


def error_about(port):
    """The ICMPv6 error quoting VIP:80 -> client:port; the kernel fills in the checksum."""
    quoted_tcp = struct.pack("!HHI", 80, port, 0)
    quoted_ip = struct.pack("!IHBB", 6 << 28, len(quoted_tcp), socket.IPPROTO_TCP, 64)
    quoted_ip += socket.inet_pton(socket.AF_INET6, vip) + socket.inet_pton(socket.AF_INET6, client)
    word = 1280 if msg_type == 2 else 0  # the MTU of a Packet Too Big, unused otherwise
    return struct.pack("!BBHI", msg_type, code, 0, word) + quoted_ip + quoted_tcp


conns = []
for _ in range(count):
    conn = socket.create_connection((vip, 80), timeout=3)
    conns.append((conn, conn.getsockname()[1], owner(conn)))
raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
for _, port, name in conns:
    raw.sendto(error_about(port), (vip, 0))
    print(port, name, flush=True)
unowned = 1 + max(port for _, port, _ in conns) % 60000
while unowned in {port for _, port, _ in conns}:
    unowned += 1
raw.sendto(error_about(unowned), (vip, 0))
print("unowned", unowned, flush=True)
time.sleep(wait)
