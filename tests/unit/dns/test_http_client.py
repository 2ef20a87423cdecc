"""The provider HTTP client: https only (http to this machine), no redirects, bounded answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from secumail.dns.providers.base import get_provider
from secumail.dns.providers.http import MAX_RESPONSE, HttpClient
from secumail.errors import InputError, ProviderError
from tests.support.settings import make_settings


class Server:
    """A loopback HTTP server answering each path from a table; records every request it got."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.seen.append((self.path, self.headers.get("Authorization")))
                code, headers, body = outer.routes.get(self.path, (404, {}, b""))
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server({})
    yield s
    s.close()


def test_a_redirect_is_not_followed_and_the_secret_stays(server):
    server.routes["/zones"] = (302, {"Location": server.url + "/elsewhere"}, b"")
    server.routes["/elsewhere"] = (200, {}, b"[]")
    client = HttpClient("cloudflare", server.url, {"Authorization": "Bearer s3cret"}, timeout=5, backoff=0)
    with pytest.raises(ProviderError, match=r"answered with a redirect \(HTTP 302\); redirects are not followed"):
        client.request("GET", "/zones")
    assert [path for path, _auth in server.seen] == ["/zones"]


def test_an_oversized_answer_is_refused(server):
    server.routes["/zones"] = (200, {}, b"[" + b" " * MAX_RESPONSE + b"]")
    server.routes["/small"] = (200, {}, json.dumps([{"name": "example.com"}]).encode())
    client = HttpClient("cloudflare", server.url, {}, timeout=5, backoff=0)
    with pytest.raises(ProviderError, match=r"GET /zones answered more than 1 MiB; refused"):
        client.request("GET", "/zones")
    assert client.request("GET", "/small") == [{"name": "example.com"}]


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://api.example.net/v1", True), ("http://127.0.0.1:8081", True), ("http://[::1]:8081", True),
     ("http://localhost:8081", True), ("http://192.0.2.1:8081", False), ("http://api.example.net/v1", False),
     ("ftp://api.example.net", False)],
)
def test_api_url_in_credentials_must_be_https(tmp_path, url, ok):
    creds = tmp_path / "dns.secret"
    creds.write_text(f"api_token=t0ken\napi_url={url}\n")
    creds.chmod(0o600)
    s = make_settings(tmp_path, dns={"provider": "cloudflare", "credentials": str(creds)})
    if ok:
        assert get_provider(s.dns).http.base_url == url
        return
    with pytest.raises(InputError) as exc:
        get_provider(s.dns)
    assert str(exc.value) == (f"DNS provider cloudflare: api_url in {creds}: {url!r} is not an https:// URL "
                              "(http:// only to this machine: 127.0.0.1, ::1, localhost)")  # fmt: skip


def test_powerdns_server_url_must_be_https_unless_local(tmp_path):
    creds = tmp_path / "dns.secret"
    creds.write_text("api_key=k3y\n")
    creds.chmod(0o600)
    local = make_settings(tmp_path, dns={"provider": "powerdns", "credentials": str(creds),
                                         "server": "http://127.0.0.1:8081"})  # fmt: skip
    assert get_provider(local.dns).http.base_url.startswith("http://127.0.0.1:8081/api/v1/")
    remote = make_settings(tmp_path, dns={"provider": "powerdns", "credentials": str(creds),
                                          "server": "http://192.0.2.1:8081"})  # fmt: skip
    with pytest.raises(InputError, match=r"^DNS provider powerdns: mailserver.dns.server: 'http://192.0.2.1:8081' "
                                         r"is not an https:// URL"):  # fmt: skip
        get_provider(remote.dns)
