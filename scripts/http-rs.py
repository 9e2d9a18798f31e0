#!/usr/bin/env python3
"""A real server's HTTP service for the lab: answers every GET with its own name.

GET /blob/SIZE answers SIZE bytes of a fixed pattern with their SHA-256 in an X-Sha256 header (a
download to check end to end); POST /sha256 answers the SHA-256 of the body it received (an upload).
For the health-check tests: GET /status/NNN answers status NNN (body: the name), /peer the client's
address, /host the Host header, /sni the TLS server name the client sent ("none" without one).

Usage: http-rs.py NAME [PORT] [--tls CERT KEY] [--ipv6]. Binds 0.0.0.0 so it accepts connections to
the VIP held on lo. With --tls it serves HTTPS with that PEM certificate and key. With --ipv6 it binds
[::] instead, IPv6 only, beside an IPv4 instance on the same port.
"""
import hashlib
import http.server
import socket
import socketserver
import ssl
import sys

args = sys.argv[1:]
TLS = None
if "--tls" in args:
    at = args.index("--tls")
    TLS = (args[at + 1], args[at + 2])
    del args[at:at + 3]
IPV6 = "--ipv6" in args
if IPV6:
    args.remove("--ipv6")
NAME = args[0]
PORT = int(args[1]) if len(args) > 1 else 80


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        if TLS:
            # The handshake here, on the connection's own thread, not in accept().
            self.request.settimeout(5)
            self.request.do_handshake()
        super().setup()

    def do_GET(self):
        if self.path.startswith("/blob/"):
            return self.blob(int(self.path[len("/blob/"):]))
        status, text = 200, NAME
        if self.path.startswith("/status/"):
            status = int(self.path[len("/status/"):])
        elif self.path == "/peer":
            text = self.client_address[0]
        elif self.path == "/host":
            text = self.headers.get("Host", "none")
        elif self.path == "/sni":
            text = getattr(self.request, "ulvs_sni", None) or "none"
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def blob(self, size):
        chunk = bytes(range(256)) * 256  # 64 KiB
        digest = hashlib.sha256()
        left = size
        while left:
            digest.update(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Sha256", digest.hexdigest())
        self.end_headers()
        left = size
        while left:
            n = min(left, len(chunk))
            self.wfile.write(chunk[:n])
            left -= n

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        digest = hashlib.sha256()
        while length:
            data = self.rfile.read(min(length, 1 << 16))
            if not data:
                break
            digest.update(data)
            length -= len(data)
        body = (digest.hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


server = Server6(("::", PORT), Handler) if IPV6 else Server(("0.0.0.0", PORT), Handler)
if TLS:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*TLS)

    def remember_sni(sock, name, _context):
        sock.ulvs_sni = name

    context.sni_callback = remember_sni
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
server.serve_forever()
