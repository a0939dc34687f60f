"""A real HTTP(S) server on a loopback port that records every request and answers each with
`answer()`: the base of the tests' webhook receivers (Roost's deliveries, Meta's webhooks, the
relay to a platform's handler, Meta's handshake on an HTTPS callback)."""

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.time() when it arrived


class LoopbackReceiver:
    """Serves `path` on 127.0.0.1 (https:// when given a TLS context); `stop()` closes the port
    (connection refused) and `start()` opens the same port again. Subclasses override `answer`."""

    def __init__(self, path: str = "/hook", tls: ssl.SSLContext | None = None) -> None:
        self.path, self.tls, self.port = path, tls, 0
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{self.path}"

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for a request; runs on the server's thread, unlocked."""
        return 200, {}, b"ok"

    def start(self) -> "LoopbackReceiver":
        if self.server is not None:  # already listening
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                    time.time(),
                )
                with receiver.lock:
                    receiver.requests.append(request)
                status, headers, body = receiver.answer(request)
                self.send_response(status)
                for name, value in {"Content-Type": "text/plain", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = handle_one

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True  # start() again on the port stop() closed
            daemon_threads = True
            # The default listen backlog of 5 overflows when several senders connect at once,
            # and the kernel then resets connections: failures of the receiver, not of Roost.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    close = stop
