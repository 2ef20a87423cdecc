"""The mail container's one web server: lighttpd on port 443 (docs/clients.md, docs/mta-sts.md).

It answers only these URLs, each at its own name with the appliance's certificate; any other
name or path gets 403 (or 404 when the file is missing):

- https://mta-sts.<domain>/.well-known/mta-sts.txt while dns.mta_sts is testing or enforce
  (data_path/mta-sts/<domain>, written by dns-setup; secumail.mail.mtasts);
- https://autoconfig.<domain>/mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml,
  https://autodiscover.<domain>/autodiscover/autodiscover.xml and /Autodiscover/Autodiscover.xml
  while dns.autoconfig is on (data_path/autoconfig/<domain>, written by dns-setup;
  secumail.mail.clientconfig).

Outlook POSTs its autodiscover request. lighttpd's static-file handler (1.4.69, Debian bookworm)
answers a POST to a file like a GET, with the file, so no module is needed for it; other methods
get 501. HTTP/1.1 only (see the config's comment).

Pure like render.py: settings in, lighttpd.conf and the reload-script block out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from secumail.config.layout import AUTOCONFIG, MTA_STS
from secumail.mail import mtasts
from secumail.mail.clientconfig import AUTOCONFIG_PATHS, AUTODISCOVER_PATHS, PROFILE_PATH

if TYPE_CHECKING:
    from secumail.config.settings import Settings

HTTPS_PORT = 443  # RFC 8461 3.3 and Thunderbird/Outlook: the default HTTPS port, nothing else


@dataclass(frozen=True)
class Site:
    host: str  # the name clients ask for
    root: str  # its document root, below data_path (a mounted directory)
    paths: tuple[str, ...]  # the only URL paths it answers


def enabled(settings: Settings) -> bool:
    """Whether lighttpd runs and port 443 is forwarded to it: an MTA-STS policy to serve, or client
    autoconfiguration (dns.autoconfig) with the container on its own bridge. With network_mode host,
    443 is the router's own (uhttpd, LuCI): dns.autoconfig alone does not take it."""
    if mtasts.serving(settings):
        return True
    return settings.dns.autoconfig and settings.container.network_mode == "bridge"


def sites(settings: Settings, domain: str) -> list[Site]:
    """What the web server answers for `domain` (nothing while it does not run)."""
    if not enabled(settings):
        return []
    out = []
    if mtasts.serving(settings):
        out.append(Site(mtasts.policy_host(domain), f"{MTA_STS}/{domain}", (mtasts.WELL_KNOWN,)))
    if settings.dns.autoconfig:
        root = f"{AUTOCONFIG}/{domain}"
        out.append(Site(f"autoconfig.{domain}", root, tuple("/" + p for p in (*AUTOCONFIG_PATHS, PROFILE_PATH))))
        out.append(Site(f"autodiscover.{domain}", root, tuple("/" + p for p in AUTODISCOVER_PATHS)))
    return out


def host_names(settings: Settings, domains: list[str]) -> list[str]:
    """The names the certificate must cover for the web server (secumail.certs.paths.cert_names)."""
    return [site.host for domain in domains for site in sites(settings, domain)]


def _url_pattern(paths: tuple[str, ...]) -> str:
    escaped = "|".join(path.replace(".", r"\.") for path in paths)
    return f"^({escaped})$"


def _lighttpd_conf(settings: Settings, values: dict[str, Any], domains: list[str]) -> str:
    data = values["data"]
    blocks = "".join(
        f'$HTTP["host"] == "{site.host}" {{\n'
        f'    server.document-root = "{data}/{site.root}"\n'
        f'    $HTTP["url"] =~ "{_url_pattern(site.paths)}" {{\n'
        "        url.access-deny = ()\n"
        "    }\n"
        "}\n"
        for domain in domains
        for site in sites(settings, domain)
    )
    return f"""# lighttpd for secumail (secumail.mail.webserve): MTA-STS policies (dns.mta_sts {settings.dns.mta_sts}),
# client autoconfiguration (dns.autoconfig {int(settings.dns.autoconfig)}), nothing else.
server.modules = ("mod_access", "mod_openssl")
server.port = {HTTPS_PORT}
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "/run/lighttpd.pid"
server.errorlog = "/var/log/lighttpd/error.log"
server.max-connections = 32
server.tag = ""
# HTTP/1.1 only: over HTTP/2 lighttpd answers a POST to a file before reading its body and resets the
# stream, which curl (7.88) reports as a failure after the complete answer. Nothing here needs HTTP/2.
server.feature-flags = ("server.h2proto" => "disable")
server.document-root = "/var/empty"
ssl.engine = "enable"
ssl.pemfile = "{data}/ssl/fullchain.pem"
ssl.privkey = "{data}/ssl/privkey.pem"
mimetype.assign = (".txt" => "text/plain", ".xml" => "text/xml; charset=utf-8",
                   ".mobileconfig" => "application/x-apple-aspen-config")
# Everything is refused but the paths each name below allows (the query string is not part of the url).
url.access-deny = ("")
{blocks}"""


def files(settings: Settings, values: dict[str, Any], domains: list[str]) -> dict[str, tuple[str, int]]:
    """lighttpd's config while it runs."""
    if not enabled(settings):
        return {}
    return {"lighttpd/lighttpd.conf": (_lighttpd_conf(settings, values, domains), 0o644)}


def reload_block(settings: Settings, template: Any) -> str:
    """Start, restart or stop lighttpd as the settings say (render passes its template reader)."""
    return template("web-serve.sh" if enabled(settings) else "web-serve-off.sh").rstrip("\n")
