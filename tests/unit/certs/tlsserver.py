"""A small local TLS service standing in for Postfix/Dovecot: implicit TLS or SMTP/IMAP STARTTLS.

It reads fullchain.pem/privkey.pem on start and on reload(), like the real
services do, so the tests can check what a client is served.
"""

from __future__ import annotations

import socket
import ssl
import threading


class TlsService:
    def __init__(self, certfile: str, keyfile: str, starttls: str | None = None, host: str = "127.0.0.1") -> None:
        self.certfile, self.keyfile, self.starttls = certfile, keyfile, starttls
        self.reloads = 0
        self._load()
        self.sock = socket.create_server((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _load(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certfile, self.keyfile)
        self.context = context

    def reload(self) -> None:
        self._load()
        self.reloads += 1

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            if self.starttls == "smtp":
                conn.sendall(b"220 test ESMTP\r\n")
                reader = conn.makefile("rb")
                reader.readline()  # EHLO
                conn.sendall(b"250-test\r\n250 STARTTLS\r\n")
                reader.readline()  # STARTTLS
                conn.sendall(b"220 go ahead\r\n")
            elif self.starttls == "imap":
                conn.sendall(b"* OK test IMAP\r\n")
                conn.makefile("rb").readline()
                conn.sendall(b"a OK begin TLS\r\n")
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()
