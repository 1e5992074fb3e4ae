"""A local TCP server that answers with raw bytes, for HTTP faults werkzeug cannot produce:
a chunked body cut off mid-way, a body trickled a byte at a time.

Not a test module. ``RawServer(script)``: each connection's request head is read and logged,
then ``script(conn, n)`` writes the answer (``n`` counts connections from 1).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class RawServer:
    def __init__(self, script: Callable[[socket.socket, int], None]) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head)
            try:
                self.script(conn, len(self.requests))
            except OSError:
                pass  # the client went away: what a deadline does

    def close(self) -> None:
        self._closed = True
        self._sock.close()


def head(status: str = "200 OK", **headers: str) -> bytes:
    """A response head; ``Content_Type="x"`` becomes ``Content-Type: x``."""
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
