"""A one-answer web service on loopback: every GET gets the body (status, Location) set last."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Answer = Callable[..., str]


@contextmanager
def answering_service(path: str = "/ip") -> Iterator[Answer]:
    """Yields `answer(body, status=200, location="")`, which sets what the service says and returns its URL."""
    state = {"body": b"", "status": 200, "location": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: ANN202, N802 - http.server's name
            self.send_response(state["status"])
            if state["location"]:
                self.send_header("Location", state["location"])
            self.send_header("Content-Length", str(len(state["body"])))
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def answer(body: bytes, status: int = 200, location: str = "") -> str:
        state.update(body=body, status=status, location=location)
        return f"http://127.0.0.1:{server.server_port}{path}"

    try:
        yield answer
    finally:
        server.shutdown()
        server.server_close()
