#!/usr/bin/env python3
"""A real server's HTTP service for the lab: answers every GET with its own name.

GET /blob/SIZE answers SIZE bytes of a fixed pattern with their SHA-256 in an X-Sha256 header (a
download to check end to end); POST /sha256 answers the SHA-256 of the body it received (an upload).

Usage: http-rs.py NAME [PORT]. Binds 0.0.0.0 so it accepts connections to the VIP held on lo.
"""
import hashlib
import http.server
import socketserver
import sys

NAME = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 80


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/blob/"):
            return self.blob(int(self.path[len("/blob/"):]))
        body = (NAME + "\n").encode()
        self.send_response(200)
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


Server(("0.0.0.0", PORT), Handler).serve_forever()
