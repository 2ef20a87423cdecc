"""A small JSON-over-HTTPS client for the provider APIs: urllib, timeouts, retries, one-line errors.

429 and 5xx are retried with exponential backoff (Retry-After honoured, capped);
401/403 become one clear "credentials refused" error. Request headers (where
the secrets are) are never logged or put in an error message.

The API URL is https:// (http:// only to this machine, e.g. a local PowerDNS);
redirects are never followed (a redirect could carry the API key elsewhere,
or to plain http) and an answer larger than MAX_RESPONSE is refused.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from secumail.dns.providers.base import DnsProvider
from secumail.errors import InputError, ProviderError
from secumail.system.nofollow import OPENER

logger = logging.getLogger(__name__)

RETRIES = 4
BACKOFF = 0.5  # seconds, doubled per retry
MAX_WAIT = 10.0
MAX_RESPONSE = 1 << 20  # bytes; a zone's records fit many times over


def check_api_url(url: str, option: str) -> None:
    """Refuse an API URL that would send the credentials in clear text; `option` names where it was set."""
    from secumail.config.validate import loopback_http_ok

    if not loopback_http_ok(url):
        raise InputError(f"{option}: {url!r} is not an https:// URL (http:// only to this machine: 127.0.0.1, "
                         "::1, localhost)")  # fmt: skip


class HttpClient:
    def __init__(
        self, provider: str, base_url: str, headers: Mapping[str, str], timeout: float, backoff: float | None = None
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "secumail", **headers}
        self.timeout = timeout
        self.backoff = BACKOFF if backoff is None else backoff
        self.writes = 0

    def request(
        self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None, ok_missing: bool = False
    ) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            self.writes += 1
        for attempt in range(RETRIES + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
            try:
                with OPENER.open(req, timeout=self.timeout) as resp:
                    raw = resp.read(MAX_RESPONSE + 1)
                if len(raw) > MAX_RESPONSE:
                    raise ProviderError(f"DNS provider {self.provider}: {method} {path} answered more than "
                                        f"{MAX_RESPONSE >> 20} MiB; refused")  # fmt: skip
                return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as exc:
                status = exc.code
                detail = _detail(exc)
                if 300 <= status < 400:
                    raise ProviderError(
                        f"DNS provider {self.provider}: {method} {path} answered with a redirect (HTTP {status}); "
                        "redirects are not followed: set the API URL itself"
                    ) from None
                if status in (401, 403):
                    raise ProviderError(
                        f"DNS provider {self.provider}: the API refused the credentials (HTTP {status}"
                        f"{': ' + detail if detail else ''}); check the credentials file"
                    ) from None
                if status == 404 and ok_missing:
                    return None
                if (status == 429 or status >= 500) and attempt < RETRIES:
                    wait = _retry_after(exc) or self.backoff * (2**attempt)
                    logger.info("%s: HTTP %d on %s %s, retrying in %.1f s", self.provider, status, method, path, wait)
                    time.sleep(min(wait, MAX_WAIT))
                    continue
                raise ProviderError(
                    f"DNS provider {self.provider}: {method} {path} failed with HTTP {status}"
                    f"{': ' + detail if detail else ''}"
                ) from None
            except (TimeoutError, urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                    raise ProviderError(
                        f"DNS provider {self.provider}: {self.base_url} did not answer within {self.timeout:.0f} s"
                    ) from None
                raise ProviderError(f"DNS provider {self.provider}: cannot reach {self.base_url}: {reason}") from None
            except ValueError:
                raise ProviderError(f"DNS provider {self.provider}: {method} {path} returned invalid JSON") from None
        raise AssertionError("unreachable")


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()[:2000].decode("utf-8", "replace")
        data = json.loads(body)
    except (ValueError, OSError):
        return ""
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "errors"):
            value = data.get(key)
            if value:
                text = json.dumps(value) if not isinstance(value, str) else value
                return text.splitlines()[0][:200]
    return ""


def _retry_after(exc: urllib.error.HTTPError) -> float:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


class HttpProvider(DnsProvider):
    """A provider behind an HTTPS API: `self.http` talks to `api` (or the credentials' api_url:
    self-hosted endpoints, contract tests) with the headers of auth_headers()."""

    api: ClassVar[str] = ""

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        url = self.credentials.get("api_url") or self.api
        check_api_url(url, f"DNS provider {self.name}: api_url in {dns.credentials}")
        self.http = HttpClient(self.name, url, self.auth_headers(), self.timeout)

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError
