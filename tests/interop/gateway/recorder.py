"""A recording reverse proxy, for the gateway test only.

    python recorder.py 127.0.0.1:PORT http://127.0.0.1:7002

Forwards every request to the upstream (the real customer service) and answers with its
response, after noting the method, path and the identity headers it arrived with.
GET /__recorder__ (not forwarded) returns what it noted, as JSON: {"requests": [...]}.
Standard library only.
"""

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTED = ("x-auth-subject", "x-auth-role", "x-auth-username", "authorization", "x-forwarded-for")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}

log_lock = threading.Lock()
requests_seen = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive

    def log_message(self, fmt, *args):
        sys.stderr.write("recorder: " + (fmt % args) + "\n")

    def _reply(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        if self.path == "/__recorder__":
            with log_lock:
                body = json.dumps({"requests": requests_seen}).encode()
            self._reply(200, [("Content-Type", "application/json")], body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        entry = {"method": self.command, "path": self.path}
        for name in NOTED:
            # None when absent, a list when sent more than once (which must never happen).
            values = self.headers.get_all(name) or []
            entry[name] = None if not values else values[0] if len(values) == 1 else values
        # Every identity-looking header, under any spelling: WSGI servers (Django's among
        # them) read X_Auth_Role as X-Auth-Role.
        entry["x-auth-*"] = sorted(
            [name, value]
            for name, value in self.headers.items()
            if name.lower().replace("_", "-").startswith("x-auth-")
        )
        with log_lock:
            requests_seen.append(entry)

        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("host", "content-length")
        }
        if body:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = [
                (name, value)
                for name, value in resp.getheaders()
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
            ]
            self._reply(resp.status, out, data)
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.serve_forever()
