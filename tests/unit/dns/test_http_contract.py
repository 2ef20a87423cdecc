"""Contract tests: each HTTP provider against a local http.server speaking that API's documented shapes.

Not the real services (no internet here): the fakes hold records in memory with each API's
request/response JSON, so the tests pin what we send and how we read answers.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from secumail.dns.providers import http as http_mod
from secumail.dns.setup import setup
from secumail.errors import ProviderError
from tests.support.files import write_secret
from tests.support.settings import make_settings

ZONE = "example.test"
TOKEN = "good-token"


class Fake:
    """In-memory records {id: dict} plus the per-API routing."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.records: dict[str, dict] = {}
        self.next_id = 1
        self.fail_next = 0
        self.calls: list[str] = []

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def auth_ok(self, headers) -> bool:
        return {
            "cloudflare": headers.get("Authorization") == f"Bearer {TOKEN}",
            "hetzner": headers.get("Auth-API-Token") == TOKEN,
            "digitalocean": headers.get("Authorization") == f"Bearer {TOKEN}",
            "desec": headers.get("Authorization") == f"Token {TOKEN}",
            "gandi": headers.get("Authorization") == f"Bearer {TOKEN}",
        }[self.api]

    def handle(self, method: str, path: str, query: dict, body) -> tuple[int, object]:
        return getattr(self, self.api)(method, path.rstrip("/").split("/")[1:], query, body)

    def cloudflare(self, method, parts, query, body):
        if parts == ["zones"]:
            return 200, {"success": True, "result": [{"id": "z1", "name": ZONE}], "result_info": {"total_pages": 1}}
        if parts[:3] == ["zones", "z1", "dns_records"]:
            if method == "GET":
                return 200, {
                    "success": True,
                    "result": list(self.records.values()),
                    "result_info": {"page": 1, "total_pages": 1},
                }
            if method == "POST":
                rid = self.new_id()
                self.records[rid] = {"id": rid, **body}
                return 200, {"success": True, "result": self.records[rid]}
            if method == "DELETE":
                self.records.pop(parts[3], None)
                return 200, {"success": True, "result": {"id": parts[3]}}
        return 404, {"success": False}

    def hetzner(self, method, parts, query, body):
        if parts == ["zones"]:
            return 200, {"zones": [{"id": "z1", "name": ZONE}]}
        if parts == ["records"] and method == "GET":
            assert query["zone_id"] == ["z1"]
            return 200, {"records": list(self.records.values())}
        if parts == ["records"] and method == "POST":
            rid = self.new_id()
            self.records[rid] = {"id": rid, **body}
            return 200, {"record": self.records[rid]}
        if parts[0] == "records" and method == "DELETE":
            self.records.pop(parts[1], None)
            return 200, {}
        return 404, {}

    def digitalocean(self, method, parts, query, body):
        if parts == ["domains"]:
            return 200, {"domains": [{"name": ZONE}], "links": {}}
        if parts[:3] == ["domains", ZONE, "records"]:
            if method == "GET":
                return 200, {"domain_records": list(self.records.values()), "links": {}}
            if method == "POST":
                rid = self.new_id()
                self.records[rid] = {"id": int(rid), **body}
                return 201, {"domain_record": self.records[rid]}
            if method == "DELETE":
                self.records.pop(parts[3], None)
                return 204, None
        return 404, {}

    def desec(self, method, parts, query, body):
        if parts == ["domains"]:
            return 200, [{"name": ZONE}]
        if parts == ["domains", ZONE, "rrsets"]:
            if method == "GET":
                sub = query.get("subname", [None])[0]
                return 200, [r for r in self.records.values() if sub is None or r["subname"] == sub]
            if method == "PATCH":
                for r in body:
                    key = f"{r['subname']}/{r['type']}"
                    if r["records"]:
                        self.records[key] = r
                    else:
                        self.records.pop(key, None)
                return 200, body
        return 404, {}

    def gandi(self, method, parts, query, body):
        if parts == ["domains"]:
            return 200, [{"fqdn": ZONE}]
        if parts[:3] == ["domains", ZONE, "records"]:
            if len(parts) == 3:
                return 200, list(self.records.values())
            name = urllib.parse.unquote(parts[3])
            if len(parts) == 4:
                return 200, [r for r in self.records.values() if r["rrset_name"] == name]
            key = f"{name}/{parts[4]}"
            if method == "PUT":
                self.records[key] = {
                    "rrset_name": name,
                    "rrset_type": parts[4],
                    "rrset_ttl": body["rrset_ttl"],
                    "rrset_values": body["rrset_values"],
                }
                return 201, {"message": "DNS Record Created"}
            if method == "DELETE":
                self.records.pop(key, None)
                return 204, None
        return 404, {}


def serve(fake: Fake) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _do(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.calls.append(f"{self.command} {url.path}")
            if not fake.auth_ok(self.headers):
                code, data = 401, {"message": "Invalid token"}
            elif fake.fail_next:
                fake.fail_next -= 1
                code, data = 500, {"message": "internal"}
            else:
                code, data = fake.handle(self.command, url.path, urllib.parse.parse_qs(url.query), body)
            raw = b"" if data is None else json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


PROVIDERS = {
    "cloudflare": "api_token",
    "hetzner": "api_token",
    "digitalocean": "token",
    "desec": "token",
    "gandi": "token",
}


@pytest.fixture(params=sorted(PROVIDERS))
def api(request, tmp_path, monkeypatch):
    monkeypatch.setattr(http_mod, "BACKOFF", 0.01)
    fake = Fake(request.param)
    server = serve(fake)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def settings(token=TOKEN):
        creds = write_secret(
            tmp_path / f"{request.param}-{token}.secret", f"{PROVIDERS[request.param]}={token}\napi_url={url}\n"
        )
        return make_settings(
            main={"domain": ZONE, "data_path": str(tmp_path / "data")},
            dns={
                "provider": request.param,
                "credentials": creds,
                "public_ipv4": "192.0.2.10",
                "timeout": 5,
                "dnssec": False,
            },
        )

    yield fake, settings
    server.shutdown()


def test_contract_setup_creates_records_and_second_run_is_empty(api):
    fake, settings = api
    first = setup(settings())
    assert first["conflicts"] == [] and len(first["changes"]) >= 14
    assert setup(settings())["changes"] == []
    assert fake.records


def test_contract_500_then_200_is_retried(api):
    fake, settings = api
    fake.fail_next = 1
    assert setup(settings())["conflicts"] == []
    assert setup(settings())["changes"] == []


def test_contract_401_is_one_clear_error(api):
    fake, settings = api
    with pytest.raises(ProviderError, match=r"refused the credentials \(HTTP 401: Invalid token\)"):
        setup(settings(token="bad"))
    assert fake.records == {}


def test_contract_credentials_check_only_reads(api):
    from secumail.dns.providers.base import get_provider

    fake, settings = api
    result = get_provider(settings().dns).check_credentials(f"mail.{ZONE}")
    assert result["zone"] == ZONE and result["provider"] in PROVIDERS
    assert fake.calls and all(call.startswith("GET ") for call in fake.calls)
    assert fake.records == {}


def test_contract_credentials_check_refuses_a_bad_token(api):
    from secumail.dns.providers.base import get_provider

    fake, settings = api
    with pytest.raises(ProviderError, match=r"refused the credentials \(HTTP 401"):
        get_provider(settings(token="bad").dns).check_credentials(ZONE)
    assert all(call.startswith("GET ") for call in fake.calls)
