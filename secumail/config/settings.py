"""Typed, validated, immutable settings built from the UCI package `mailserver`.

Each section is a frozen dataclass; each field carries its UCI default and the
parser that turns the raw UCI value into a typed one (see validate.py). The
section and option names are those of the SecuBox mail server, plus the
sections later features need; docs/configuration.md documents every option.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from secumail.config import validate as v
from secumail.config.layout import DataLayout
from secumail.errors import ConfigError

PACKAGE = "mailserver"


def opt(default: Any, parser: v.Parser, doc: str = "") -> Any:
    """A UCI option: `default` is the UCI text form (as written in /etc/config)."""
    return field(default=None, metadata={"uci_default": default, "parse": parser, "doc": doc})


S = TypeVar("S", bound="Section")


@dataclass(frozen=True)
class Section:
    uci_type: ClassVar[str]
    uci_name: ClassVar[str]

    @classmethod
    def options(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls) if "parse" in f.metadata}

    @classmethod
    def from_uci(cls: type[S], raw: Mapping[str, Any], section_label: str, **extra: Any) -> S:
        values = dict(extra)
        for name, spec in cls.options().items():
            value = raw.get(name, spec.metadata["uci_default"])
            try:
                values[name] = spec.metadata["parse"](value)
            except ValueError as exc:
                shown = " ".join(value) if isinstance(value, (tuple, list)) else value
                raise ConfigError(f"{PACKAGE}.{section_label}.{name}", shown, str(exc)) from None
        return cls(**values)

    @classmethod
    def defaults_as_uci(cls) -> dict[str, Any]:
        return {name: spec.metadata["uci_default"] for name, spec in cls.options().items()}


@dataclass(frozen=True)
class Main(Section):
    uci_type = "mailserver"
    uci_name = "main"
    enabled: bool = opt("0", v.boolean, "Run the mail server (the agent keeps the container up).")
    hostname: str = opt("mail", v.host_name, "Host label of the mail server ('mail') or its FQDN.")
    domain: str = opt("example.com", v.domain_name, "Primary mail domain.")
    postmaster: str = opt("postmaster", v.local_part, "Mailbox that receives postmaster/abuse mail.")
    data_path: str = opt("/srv/mailserver", v.absolute_path, "All state: config/, mail/, ssl/, dkim/.")
    container: str = opt("mailserver", v.name_word, "Name of the LXC container.")
    message_size_limit: int = opt("50", v.integer(1, 2048), "Largest message accepted, in MiB.")
    quota_full: str = opt("bounce", v.choice("bounce", "defer"),
                          "Mail to a full mailbox: 'bounce' returns it to the sender at once (552), 'defer' keeps "
                          "it queued (452) and retries for up to 5 days.")
    log_size_limit: int = opt("1", v.integer(1, 64),
                              "Rotate the container's mail.log and dovecot.log at this size in MiB (one old file "
                              "is kept).")

    @property
    def fqdn(self) -> str:
        return self.hostname if "." in self.hostname else f"{self.hostname}.{self.domain}"

    @property
    def postmaster_address(self) -> str:
        return f"{self.postmaster}@{self.domain}"


@dataclass(frozen=True)
class Ports(Section):
    uci_type = "ports"
    uci_name = "ports"
    smtp: int = opt("25", v.port, "Server-to-server SMTP.")
    submission: int = opt("587", v.optional_port, "Submission with STARTTLS; 0 turns it off.")
    smtps: int = opt("465", v.optional_port, "Submission over implicit TLS; 0 turns it off.")
    imap: int = opt("143", v.optional_port, "IMAP with STARTTLS; 0 turns it off.")
    imaps: int = opt("993", v.optional_port, "IMAP over TLS; 0 turns it off.")
    pop3: int = opt("110", v.optional_port, "POP3 with STARTTLS; 0 turns it off.")
    pop3s: int = opt("995", v.optional_port, "POP3 over TLS; 0 turns it off.")
    sieve: int = opt("4190", v.optional_port, "ManageSieve; 0 turns it off.")
    dav: int = opt("5232", v.optional_port,
                   "CalDAV/CardDAV over TLS (Radicale); listens only with features.dav 1 (docs/dav.md).")

    def enabled(self) -> dict[str, int]:
        """Service name → port, for the services that are on (dav whatever features.dav says:
        Settings.open_ports is what listens)."""
        return {name: value for name, value in dataclasses.asdict(self).items() if value}


# Container memory limits (MiB) `container.memory auto` resolves to, and the least the spam filter
# starts in. Measured: tests/integration/protection/test_memory.py, docs/protection.md "Memory".
BASE_MEMORY_MB = 256
SPAM_FILTER_MEMORY_MB = 384
# What features.mta_sts_outbound adds: postfix-mta-sts-resolver (Python, aiohttp) with its policy cache,
# measured in the container (docs/mta-sts.md "Memory"); lighttpd serving our own policy is in the margin.
MTA_STS_RESOLVER_MEMORY_MB = 48


@dataclass(frozen=True)
class Features(Section):
    uci_type = "features"
    uci_name = "features"
    spam_filter: bool = opt(
        "1", v.boolean,
        "Rspamd checks mail from other servers (SPF, DKIM, DMARC, ARC, scores, Bayes); spam goes to Junk "
        "(protection.* tunes it, docs/protection.md). 0: the light path (SPF and DMARC p=reject refused, "
        "postscreen) in a few MiB.",
    )  # fmt: skip
    virus_scan: bool = opt(
        "0", v.boolean,
        "ClamAV (clamd + clamav-milter) refuses mail carrying a virus at SMTP time; needs about 1.3 GiB "
        "more memory (refused on a smaller host or container limit; docs/protection.md).",
    )  # fmt: skip
    dav: bool = opt(
        "0", v.boolean,
        "Calendars and contacts (CalDAV/CardDAV, Radicale) on ports.dav for every mailbox, with its password or "
        "an app password of scope dav; SRV records _caldavs/_carddavs (docs/dav.md).",
    )  # fmt: skip
    dkim: bool = opt("1", v.boolean, "Sign outgoing mail with DKIM.")
    mta_sts_outbound: bool = opt(
        "0", v.boolean,
        "Postfix honours other domains' MTA-STS policies (postfix-mta-sts-resolver, a Python daemon of "
        f"about {MTA_STS_RESOLVER_MEMORY_MB} MiB, added to container.memory auto; docs/mta-sts.md).",
    )  # fmt: skip
    dane: bool = opt(
        "0", v.boolean,
        "Postfix uses DANE (TLSA records) toward domains whose DNSSEC the container's resolver validates; "
        "turn on only when that resolver validates (docs/mta-sts.md).",
    )  # fmt: skip
    spf: bool = opt("1", v.boolean, "Publish SPF.")
    dmarc: bool = opt("1", v.boolean, "Publish DMARC.")
    fail2ban: bool = opt("1", v.boolean, "Ban addresses with repeated authentication failures.")
    fail2ban_maxretry: int = opt("10", v.integer(1, 1000), "Failed logins from one address that get it banned.")
    fail2ban_findtime: int = opt("600", v.integer(10, 86400), "Seconds within which those failures count.")
    fail2ban_bantime: int = opt("3600", v.integer(10, 30 * 86400), "Seconds an address stays banned.")
    fail2ban_ignoreip: tuple = opt("", v.list_of(v.text), "Addresses or networks never banned (CIDR).")
    fail2ban_logfile: tuple = opt(
        "", v.list_of(v.absolute_path), "Mail logs to follow; empty: the container's mail.log and dovecot.log."
    )


# What clamd adds with the official signatures (main, daily, bytecode): ClamAV's documentation gives
# "upwards of 1.2 GiB" to load them; reloads are not concurrent here (no second engine), so this is
# also the peak. Not measured here (no Internet to fetch them); the test database costs ~20 MiB.
VIRUS_SCAN_MEMORY_MB = 1280

DEFAULT_DNSBL = ("zen.spamhaus.org=127.0.0.[2..11]*3", "bl.spamcop.net*2", "list.dnswl.org=127.0.[0..255].[2..3]*-2")


@dataclass(frozen=True)
class Protection(Section):
    uci_type = "protection"
    uci_name = "protection"
    dnsbl: tuple = opt(
        DEFAULT_DNSBL, v.list_of(v.dnsbl_site),
        "DNS blocklists postscreen asks about each new client on port 25: zone[=reply filter][*weight]; a "
        "negative weight is an allow list; empty: no lookups. A list that does not answer adds nothing.",
    )  # fmt: skip
    dnsbl_threshold: int = opt("3", v.integer(1, 100), "Summed weight at which postscreen refuses a client.")
    greylisting: bool = opt("0", v.boolean, "Rspamd greylists doubtful mail (first attempt temp-failed).")
    junk_score: float = opt("6", v.decimal(0, 1000), "Rspamd score from which mail is filed into Junk.")
    reject_score: float = opt("15", v.decimal(0, 1000), "Rspamd score from which mail is refused at SMTP time.")
    bayes_memory: int = opt("32", v.integer(4, 4096), "MiB Redis may hold (Bayes tokens); least used go first.")
    learn: str = opt(
        "global", v.choice("global", "user"),
        "What moving mail into or out of Junk trains: one Bayes database for everyone, or one per user.",
    )  # fmt: skip
    smtp_connection_rate: int = opt(
        "60", v.integer(0, 100000),
        "Connections one client address may open to port 25 per minute; over it: 421 4.7.0. 0: no limit.",
    )  # fmt: skip
    smtp_message_rate: int = opt(
        "30", v.integer(0, 100000),
        "Messages one client address may send on port 25 per minute; over it: 4xx (the sender retries "
        "later). 0: no limit.",
    )  # fmt: skip
    user_recipients_per_hour: int = opt(
        "200", v.integer(0, 100000),
        "Recipients each logged-in user may send to per hour (submission, smtps); over it: 450 4.7.1 "
        "with the limit and when to retry. 0: no limit.",
    )  # fmt: skip
    auth_failure_delay: int = opt(
        "2", v.integer(0, 15),
        "Seconds Dovecot waits before answering a failed login (IMAP, POP3, SMTP AUTH); Dovecot adds its "
        "own penalty for addresses that keep failing.",
    )  # fmt: skip
    sender_checks: bool = opt(
        "1", v.boolean,
        "With features.spam_filter 0, port 25 checks SPF (fail: refused), the sender's domain (unknown: "
        "450) and DMARC (p=reject failures refused); 0: none of them (docs/protection.md).",
    )  # fmt: skip
    test_patterns: bool = opt(
        "0", v.boolean,
        "Honour Rspamd's GTUBE variants (YJS...: add header → Junk) to try the filter; off in normal use, "
        "since the AJS variant would let anyone skip it.",
    )  # fmt: skip


@dataclass(frozen=True)
class Ssl(Section):
    uci_type = "ssl"
    uci_name = "ssl"
    type: str = opt(
        "letsencrypt",
        v.choice("letsencrypt", "letsencrypt-staging", "zerossl", "acme", "openwrt-acme", "selfsigned"),
        "Where certificates come from; 'acme' uses acme.directory.",
    )


@dataclass(frozen=True)
class Acme(Section):
    uci_type = "acme"
    uci_name = "acme"
    email: str = opt("", v.optional(v.email_address), "Account contact address (optional).")
    directory: str = opt("", v.optional(v.https_url), "ACME directory URL (https://) when ssl.type is 'acme'.")
    ca_bundle: str = opt("", v.optional(v.absolute_path), "CA bundle to trust for the ACME server.")
    key_type: str = opt("ec256", v.choice("ec256", "rsa2048"), "Certificate key type.")
    eab_kid: str = opt("", v.text, "External account binding key id (ZeroSSL); HMAC in the secrets file.")
    extra_names: tuple = opt((), v.list_of(v.domain_name), "More names on the certificate.")
    eab_hmac_file: str = opt(
        "/etc/mailserver/acme-eab.secret", v.absolute_path, "File (mode 0600) holding the EAB HMAC key."
    )
    openwrt_dir: str = opt("/etc/ssl/acme", v.absolute_path, "Output dir of OpenWrt's acme package.")


@dataclass(frozen=True)
class Dkim(Section):
    uci_type = "dkim"
    uci_name = "dkim"
    selector: str = opt("mail", v.name_word, "DKIM selector: <selector>._domainkey.<domain>.")
    key_bits: int = opt("2048", v.integer(1024, 4096), "RSA key size.")
    ed25519: bool = opt("0", v.boolean, "Also sign with an Ed25519 key (second selector).")


@dataclass(frozen=True)
class Webmail(Section):
    uci_type = "webmail"
    uci_name = "webmail"
    enabled: bool = opt(
        "0", v.boolean,
        "Roundcube runs in its own container and webmail.port is forwarded to it; set by 'mailctl webmail "
        "install', cleared by 'mailctl webmail remove' (docs/webmail.md).",
    )  # fmt: skip
    container: str = opt("secubox-webmail", v.name_word, "Name of the Roundcube container.")
    port: int = opt("8026", v.port, "Port Roundcube listens on (plain HTTP; put it behind a TLS proxy or the LAN).")
    password_port: int = opt(
        "8027", v.optional_port,
        "Port of secumaild's password-change service on the bridge's host address, which only the webmail "
        "container may reach (Roundcube's Settings > Password); 0 turns password change in the webmail off.",
    )  # fmt: skip


@dataclass(frozen=True)
class Mesh(Section):
    uci_type = "mesh"
    uci_name = "mesh"
    enabled: bool = opt("0", v.boolean, "Back up to, and hold backups for, pinned mesh peers.")
    backup_peers: tuple = opt(
        "", v.list_of(v.node_id),
        "Node ids of pinned peers (as the SecuBox mail server lists them): the same as a `config peer` "
        "section without address (discovery finds it) at mesh.port.",
    )  # fmt: skip
    sync_interval: int = opt("3600", v.integer(60, 7 * 86400), "Seconds between automatic backup+sync.")
    port: int = opt("7022", v.port, "Port of this node's SFTP service for peers.")
    listen: tuple = opt(
        "", v.list_of(v.ip_address),
        "Addresses the SFTP service for peers listens on (e.g. the lan address); empty: every address. "
        "The firewall opens the port from wan only to pinned peers' addresses either way.",
    )  # fmt: skip
    discovery: bool = opt("1", v.boolean, "Browse and announce _secumail._tcp by zeroconf.")
    user: str = opt(
        "nobody", v.optional(v.name_word),
        "User each peer connection is served as: it gets backup/inbox and backup/peers, our repository "
        "becomes readable by its group; empty: stay root (also when the user or the path is not there).",
    )  # fmt: skip
    bwlimit: int = opt("0", v.integer(0, None), "Transfer limit in KiB/s; 0 is unlimited.")
    peer_quota: int = opt(
        "10240", v.integer(0, None),
        "MiB each peer may hold here (its inbox and our copy of its backups, pushed or pulled; each file "
        "counts at least 4 KiB); 0: no limit.",
    )  # fmt: skip


@dataclass(frozen=True)
class Backup(Section):
    uci_type = "backup"
    uci_name = "backup"
    keep_last: int = opt("7", v.integer(1, 1000), "Snapshots always kept.")
    keep_daily: int = opt("7", v.integer(0, 1000), "Daily snapshots kept.")
    keep_weekly: int = opt("4", v.integer(0, 1000), "Weekly snapshots kept.")
    keep_monthly: int = opt("6", v.integer(0, 1000), "Monthly snapshots kept.")


@dataclass(frozen=True)
class Alerts(Section):
    uci_type = "alerts"
    uci_name = "alerts"
    enabled: bool = opt("1", v.boolean, "secumaild mails the recipient when a problem appears and when it is "
                                        "resolved, once each (docs/operating.md, Alerts).")
    recipient: str = opt("", v.optional(v.email_address), "Who gets the alerts; empty: the postmaster "
                                                          "(main.postmaster@main.domain).")
    digest: str = opt("off", v.choice("off", "daily"), "'daily': also one mail a day listing the open "
                                                       "problems (none when there is none).")
    interval: int = opt("15m", v.duration(60, 86400), "Time between two runs of the checks: 15m, 1h.")


@dataclass(frozen=True)
class Container(Section):
    uci_type = "container"
    uci_name = "container"
    provisioner: str = opt("debian", v.choice("debian", "tarball", "alpine"), "How the image is made.")
    suite: str = opt("bookworm", v.name_word, "Debian suite (debian provisioner).")
    arch: str = opt(
        "", v.optional(v.name_word),
        "Image architecture, Debian's name (arm64, armhf, amd64); empty is the host's. Another CPU's image is "
        "built and run under qemu-user-static (docs/openwrt.md, 'The container image').",
    )  # fmt: skip
    mirror: str = opt(
        "", v.optional(v.url),
        "Package mirror (https://; http:// only for the debian provisioner, whose apt checks the archive's "
        "signatures); empty takes the host's apt sources.",
    )
    image: str = opt("", v.optional(v.absolute_path), "Image tarball (tarball provisioner).")
    lxc_path: str = opt("/srv/lxc", v.absolute_path, "LXC container directory (lxc -P).")
    memory: int = opt(
        "auto", v.memory_limit,
        "Memory limit of the container, MiB; 'auto' is what the enabled features need (docs/protection.md): "
        f"{SPAM_FILTER_MEMORY_MB} with features.spam_filter, {BASE_MEMORY_MB} without, "
        f"{VIRUS_SCAN_MEMORY_MB} more with features.virus_scan, {MTA_STS_RESOLVER_MEMORY_MB} more with "
        "features.mta_sts_outbound.",
    )  # fmt: skip
    cgroup: str = opt(
        "", v.optional(v.cgroup_path),
        "cgroup (path below the cgroup root) the container's own cgroup is made in, so that a limit set "
        "there covers the container together with whatever else runs in it (e.g. secumaild); empty: LXC's "
        "default, below the root.",
    )
    network_mode: str = opt("bridge", v.choice("bridge", "host"), "Own namespace on a bridge, or host.")
    bridge: str = opt("br-mail", v.interface_name, "Bridge the agent creates for the container.")
    host_address: ipaddress.IPv4Interface = opt("10.231.0.1/24", v.ipv4_interface, "Bridge address.")
    address: ipaddress.IPv4Interface = opt("10.231.0.2/24", v.ipv4_interface, "Container address.")
    gateway: str = opt(
        "auto", v.choice("auto", "none", "host"),
        "Default route of the container: 'host' via the bridge address, 'none', or 'auto' (host on OpenWrt, "
        "none elsewhere).",
    )
    nameservers: tuple = opt(
        (), v.list_of(v.ip_address),
        "Resolvers for the container (Postfix looks up MX records); empty: the bridge address on OpenWrt "
        "(dnsmasq), none elsewhere.",
    )


@dataclass(frozen=True)
class Dns(Section):
    uci_type = "dns"
    uci_name = "dns"
    provider: str = opt("manual", v.name_word, "DNS provider plugin (rfc2136, powerdns, exec, manual, ...).")
    credentials: str = opt(
        "/etc/mailserver/dns.secret", v.optional(v.absolute_path), "Provider secrets file (mode 0600)."
    )
    zone: str = opt("", v.optional(v.domain_name), "Zone to update; empty finds it from SOA.")
    server: str = opt(
        "", v.text,
        "Provider server (rfc2136 primary, API URL: https://, or http:// to this machine), if not discovered.",
    )
    ttl: int = opt("3600", v.integer(60, 86400), "TTL of published records.")
    public_ipv4: str = opt(
        "", v.ipv4_or_auto,
        "Address for the A record; empty: the address of dns.wan_interface; 'auto': ask dns.public_ip_url "
        "(the router is behind another NAT).",
    )
    public_ipv6: str = opt(
        "", v.ipv6_or_wan,
        "Address for the AAAA record; empty skips it; 'wan': the global IPv6 address of dns.wan_interface "
        "(OpenWrt: its '6' twin, e.g. wan6), followed like IPv4 with follow_wan.",
    )
    follow_wan: bool = opt(
        "0", v.boolean,
        "Watch the public address and update the A record (and AAAA with public_ipv6 'wan') when it "
        "changes (A/AAAA only, TTL wan_ttl).",
    )
    wan_check_interval: int = opt(
        "300", v.integer(30, 86400), "Seconds between two checks of the public address (follow_wan).",
    )
    wan_interface: str = opt(
        "wan", v.interface_name,
        "Where the address is read: the OpenWrt interface (ubus network.interface.<name>), else a kernel "
        "interface of that name, else the one holding the default route.",
    )
    wan_ttl: int = opt("300", v.integer(30, 86400), "TTL of the A/AAAA records while follow_wan is on.")
    public_ip_url: str = opt(
        "https://api.ipify.org", v.public_ip_url,
        "What-is-my-address service for public_ipv4 'auto' (https://; answers the address as plain text).",
    )
    spf_include: tuple = opt(
        "", v.list_of(v.spf_mechanism),
        "Domains whose SPF the published record includes (include:<domain>), e.g. the relay's "
        "(docs/relay.md); empty: none.",
    )
    spf_policy: str = opt("~all", v.choice("~all", "-all", "?all"), "SPF qualifier for everyone else.")
    dmarc_policy: str = opt("none", v.choice("none", "quarantine", "reject"), "DMARC p=.")
    dmarc_rua: str = opt("", v.optional(v.email_address), "DMARC aggregate reports; empty: postmaster.")
    mta_sts: str = opt(
        "none", v.choice("none", "testing", "enforce"),
        "MTA-STS policy mode of our domains: testing or enforce publishes _mta-sts and mta-sts.<domain>, "
        "puts that name on the certificate and serves the policy on port 443 (docs/mta-sts.md); none: "
        "no policy (443 then serves only what dns.autoconfig asks for).",
    )  # fmt: skip
    tls_rpt: bool = opt("1", v.boolean, "Publish _smtp._tls (TLS-RPT).")
    caa: bool = opt("1", v.boolean, "Publish CAA for the configured CA.")
    srv: bool = opt("1", v.boolean, "Publish RFC 6186/8314 SRV records.")
    autoconfig: bool = opt(
        "1", v.boolean,
        "Publish autoconfig.<domain> and autodiscover.<domain>, put them on the certificate and serve "
        "Thunderbird's and Outlook's settings there on port 443 (docs/clients.md; with network_mode host "
        "only while dns.mta_sts also serves, as 443 is then the router's).",
    )  # fmt: skip
    dnssec: bool = opt("0", v.boolean, "The zone is signed: publish TLSA (DANE).")
    caa_issuer: str = opt(
        "", v.optional(v.domain_name), "CAA issuer; empty derives it from ssl.type (none for a custom CA)."
    )
    script: str = opt("", v.optional(v.absolute_path), "Script the exec provider runs (docs/dns-providers.md).")
    resolver: tuple = opt(
        "", v.list_of(v.server_address), "Recursive resolvers dns-check asks (IP or IP:port); empty skips them."
    )
    smtp_probe: str = opt(
        "", v.optional(v.host),
        "Where dns-check probes outbound port 25 (one second, connect only): a domain you send to (its MX "
        "is probed) or a mail host; empty: no probe.",
    )
    timeout: int = opt(
        "10",
        v.integer(1, 300),
        "Seconds to wait for a provider API request or a DNS answer (dns-check: at most 5 s per query, "
        "twice this in all).",
    )


@dataclass(frozen=True)
class Peer(Section):
    """A pinned mesh peer: a named `config peer '<name>'` section (any number of them).

    Settings.pinned_peers also holds one for each id of mesh.backup_peers that no section pins,
    with name '' and no address (discovery finds it).
    """

    uci_type = "peer"
    uci_name = "<name>"  # repeated: each section has a name of its own
    node_id: str = opt("", v.node_id, "Node id of the peer, as 'mailctl mesh id' shows it there (required).")
    address: str = opt("", v.optional(v.host),
                       "IP address or host name of the peer; empty: the address discovery last saw.")
    port: int = opt("", v.optional_port, "Port of the peer's SFTP service; empty: mesh.port.")
    name: str = field(default="")  # the UCI section, '' for a peer pinned only in mesh.backup_peers


@dataclass(frozen=True)
class Relay(Section):
    """A smarthost: a named `config relay '<name>'` section (docs/relay.md).

    One without sender_domain is the default relayhost (all outbound mail); one with sender_domain
    carries only mail whose envelope sender is in those domains. The password is not in UCI: it is in
    data_path/relay/<name>.password (mode 0600), written by 'mailctl relay add'.
    """

    uci_type = "relay"
    uci_name = "<name>"  # repeated
    host: str = opt("", v.host, "Host name or IP address of the relay (required).")
    port: int = opt("587", v.port, "Port: 587 (submission, STARTTLS) or 465 (tls).")
    tls: str = opt("starttls", v.choice("starttls", "tls"),
                   "'starttls' (required STARTTLS, port 587) or 'tls' (TLS from the first byte, port 465); "
                   "never plain text.")
    verify: bool = opt("1", v.boolean, "Check the relay's certificate and name (Postfix level 'secure'); "
                       "0 only encrypts ('encrypt').")
    user: str = opt("", v.sasl_user, "SASL login at the relay (required).")
    sender_domain: tuple = opt("", v.list_of(v.domain_name),
                               "Envelope sender domains this relay carries; empty: the default relayhost.")
    name: str = field(default="")  # the UCI section

    @property
    def nexthop(self) -> str:
        """Postfix's next-hop form: [host]:port (no MX lookup)."""
        return f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Import(Section):
    """An IMAP sync job: a named `config import '<name>'` section (docs/import.md).

    secumaild copies what is new at `source` into `user`'s mailbox every `interval`. The password
    is not in UCI: it is in data_path/import/<name>.password (mode 0600), written by
    'mailctl import --every'.
    """

    uci_type = "import"
    uci_name = "<name>"  # repeated
    enabled: bool = opt("1", v.boolean, "Run this sync job on its interval.")
    user: str = opt("", v.email_address, "Mailbox on this server the messages are copied into (required).")
    source: str = opt("", v.imap_url,
                      "The old server: imaps://LOGIN@HOST[:PORT], or imap:// with STARTTLS required; no password "
                      "(required).")
    interval: int = opt("15m", v.duration(60, 7 * 86400), "Time between the end of a sync and the next: 30m, 1h, 1d.")
    folders: tuple = opt("", v.folder_patterns,
                         "Only these folders of the old server (names or glob patterns, one per list item); empty: "
                         "all but the views \\All, \\Flagged and \\Important.")
    exclude: tuple = opt("", v.folder_patterns, "Folders of the old server never copied (names or glob patterns).")
    ca_file: str = opt("", v.optional(v.absolute_path),
                       "PEM file of the CA (or the self-signed certificate) to trust for the old server; empty: "
                       "the system's CAs.")
    verify: bool = opt("1", v.boolean, "Check the old server's certificate and name; 0 only encrypts.")
    name: str = field(default="")  # the UCI section


SECTIONS: tuple[type[Section], ...] = (
    Main, Ports, Features, Protection, Ssl, Acme, Dkim, Webmail, Mesh, Backup, Container, Dns, Alerts,
)  # fmt: skip
# sections of which there may be any number, each named by the user (none by default)
REPEATED: tuple[type[Section], ...] = (Peer, Relay, Import)


@dataclass(frozen=True)
class Settings:
    main: Main
    ports: Ports
    features: Features
    protection: Protection
    ssl: Ssl
    acme: Acme
    dkim: Dkim
    webmail: Webmail
    mesh: Mesh
    backup: Backup
    container: Container
    dns: Dns
    alerts: Alerts
    pinned_peers: tuple[Peer, ...] = ()  # every `config peer` section, then mesh.backup_peers not in one
    relays: tuple[Relay, ...] = ()  # every `config relay` section, in file order
    imports: tuple[Import, ...] = ()  # every `config import` section (sync jobs), in file order

    @property
    def default_relay(self) -> Relay | None:
        """The relay without sender_domain (all mail no other relay carries), if any."""
        return next((relay for relay in self.relays if not relay.sender_domain), None)

    def open_ports(self) -> dict[str, int]:
        """Service name → port of what listens: the ports that are on, ports.dav only with features.dav."""
        return {name: port for name, port in self.ports.enabled().items() if name != "dav" or self.features.dav}

    @property
    def layout(self) -> DataLayout:
        """The named paths below main.data_path."""
        return DataLayout(self.main.data_path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (addresses as strings)."""

        def plain(value: Any) -> Any:
            if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
                return str(value)
            if isinstance(value, tuple):
                return [plain(item) for item in value]
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        return plain(dataclasses.asdict(self))


def find_section(package: Mapping[str, Mapping[str, Any]], spec: type[Section]) -> tuple[str, Mapping]:
    """The section named like the spec, else the first of its type (by position)."""
    named = package.get(spec.uci_name)
    if named is not None and named.get(".type") == spec.uci_type:
        return spec.uci_name, named
    candidates = [(name, sect) for name, sect in package.items() if sect.get(".type") == spec.uci_type]
    if candidates:
        name, sect = min(candidates, key=lambda item: item[1].get(".index", 0))
        label = f"@{spec.uci_type}[0]" if sect.get(".anonymous") else name
        return label, sect
    return spec.uci_name, {}


def settings_from_package(package: Mapping[str, Mapping[str, Any]]) -> Settings:
    """Build Settings from a `get_all('mailserver')` result; raise ConfigError on the first bad value."""
    built = {}
    for spec in SECTIONS:
        label, raw = find_section(package, spec)
        built[spec.uci_name] = spec.from_uci(raw, label)
    settings = Settings(pinned_peers=_pinned_peers(package, built["mesh"]), relays=_relays(package),
                        imports=_imports(package), **built)  # fmt: skip
    _check_ports_unique(settings)
    _check_scores(settings.protection)
    _check_clear_text(settings)
    return _resolve_memory(settings)


def _pinned_peers(package: Mapping[str, Mapping[str, Any]], mesh: Mesh) -> tuple[Peer, ...]:
    """The `config peer` sections in file order, then each id of mesh.backup_peers no section pins.

    Ids are normalised by the parser, so one peer written two ways is still one peer; a port left
    empty is mesh.port.
    """
    peers: list[Peer] = []
    by_id: dict[str, str] = {}
    ordered = sorted(package.items(), key=lambda item: item[1].get(".index", 0))
    sections = [(name, sect) for name, sect in ordered if sect.get(".type") == Peer.uci_type]
    for position, (name, sect) in enumerate(sections):
        label = f"@{Peer.uci_type}[{position}]" if sect.get(".anonymous") else name
        peer = Peer.from_uci(sect, label, name=name)
        if peer.node_id in by_id:
            raise ConfigError(f"{PACKAGE}.{label}.node_id", peer.node_id,
                              f"is already pinned by {PACKAGE}.{by_id[peer.node_id]}")  # fmt: skip
        by_id[peer.node_id] = label
        peers.append(dataclasses.replace(peer, port=peer.port or mesh.port))
    for node_id in mesh.backup_peers:
        if node_id not in by_id:
            by_id[node_id] = "mesh.backup_peers"
            peers.append(Peer(node_id=node_id, address="", port=mesh.port, name=""))
    return tuple(peers)


def _named_sections(package: Mapping[str, Mapping[str, Any]], spec: type[Section], kind: str,
                    example: str) -> list[tuple[str, str, Mapping[str, Any]]]:  # fmt: skip
    """(label, name, section) of each `config <type> '<name>'` of `spec`, in file order. Each needs a name
    of letters, digits and '_': it names files below data_path (a password, a state)."""
    found = []
    ordered = sorted(package.items(), key=lambda item: item[1].get(".index", 0))
    sections = [(name, sect) for name, sect in ordered if sect.get(".type") == spec.uci_type]
    for position, (name, sect) in enumerate(sections):
        label = f"@{spec.uci_type}[{position}]" if sect.get(".anonymous") else name
        if sect.get(".anonymous"):
            raise ConfigError(f"{PACKAGE}.{label}", "",
                              f"{kind} section needs a name (config {spec.uci_type} '{example}')")  # fmt: skip
        if not v.RELAY_NAME.fullmatch(name):
            raise ConfigError(f"{PACKAGE}.{label}", name, f"is not {kind} name (letters, digits, '_', at most 32)")
        found.append((label, name, sect))
    return found


def _relays(package: Mapping[str, Mapping[str, Any]]) -> tuple[Relay, ...]:
    """The `config relay` sections in file order: at most one default, each sender domain in one relay."""
    relays: list[Relay] = []
    default: str | None = None
    by_domain: dict[str, str] = {}
    for label, name, sect in _named_sections(package, Relay, "a relay", "isp"):
        relay = Relay.from_uci(sect, label, name=name)
        if relay.tls == "starttls" and relay.port == 465:
            raise ConfigError(f"{PACKAGE}.{label}.port", "465",
                              "is the TLS-wrapper port: set tls 'tls' (or port 587 for STARTTLS)")
        if not relay.sender_domain:
            if default is not None:
                raise ConfigError(f"{PACKAGE}.{label}.sender_domain", "",
                                  f"is empty, and {PACKAGE}.{default} is already the default relay "
                                  "(give one of them a sender_domain)")
            default = label
        for domain in relay.sender_domain:
            if domain in by_domain:
                raise ConfigError(f"{PACKAGE}.{label}.sender_domain", domain,
                                  f"is already relayed by {PACKAGE}.{by_domain[domain]}")
            by_domain[domain] = label
        relays.append(relay)
    return tuple(relays)


def _imports(package: Mapping[str, Mapping[str, Any]]) -> tuple[Import, ...]:
    """The `config import` sections in file order; each needs a name (it names its password and state)."""
    imports = []
    for label, name, sect in _named_sections(package, Import, "an import", "alice_old"):
        for required in ("user", "source"):
            if not str(sect.get(required, "")).strip():
                raise ConfigError(f"{PACKAGE}.{label}.{required}", "", "is required")
        imports.append(Import.from_uci(sect, label, name=name))
    return tuple(imports)


def _check_clear_text(settings: Settings) -> None:
    """No secret and nothing unsigned that we run travels over plain http (acme.directory is https by type)."""
    mirror = settings.container.mirror
    if mirror.lower().startswith("http://") and settings.container.provisioner != "debian":
        raise ConfigError(f"{PACKAGE}.container.mirror", mirror,
                          "is not an https:// URL (http:// is allowed only for the debian provisioner, whose "
                          "apt verifies the archive signatures)")  # fmt: skip
    server = settings.dns.server
    if "://" in server and not v.loopback_http_ok(server):
        raise ConfigError(f"{PACKAGE}.dns.server", server,
                          "is not an https:// URL (http:// only to this machine: 127.0.0.1, ::1, localhost)")


def memory_need(features: Features) -> int:
    """MiB the container needs for the enabled features (what `container.memory auto` resolves to)."""
    need = SPAM_FILTER_MEMORY_MB if features.spam_filter else BASE_MEMORY_MB
    need += MTA_STS_RESOLVER_MEMORY_MB if features.mta_sts_outbound else 0
    return need + (VIRUS_SCAN_MEMORY_MB if features.virus_scan else 0)


def virus_scan_refusal(settings: Settings, host_mb: int | None = None) -> str | None:
    """Why virus scanning cannot run on this host (its memory is below the container's need), or None.

    `host_mb` is the host's memory (MiB); None reads it. The container's own limit is checked when the
    settings are built (_resolve_memory)."""
    if not settings.features.virus_scan:
        return None
    if host_mb is None:
        from secumail.system.memory import host_memory_mb

        host_mb = host_memory_mb()
    need = memory_need(settings.features)
    if host_mb is None or host_mb >= need:
        return None
    return (f"{PACKAGE}.features.virus_scan: '1' needs {need} MiB of memory (ClamAV with the official "
            f"signatures and the other services), this host has {host_mb} MiB")


def _resolve_memory(settings: Settings) -> Settings:
    """container.memory 'auto' (parsed as 0) becomes what the enabled features need; a set limit the
    enabled features cannot start in is refused (Rspamd was OOM-killed at 256 MiB while loading its
    rules; clamd loads ClamAV's signatures into memory)."""
    container, features = settings.container, settings.features
    need = memory_need(features)
    if container.memory == 0:
        return dataclasses.replace(settings, container=dataclasses.replace(container, memory=need))
    if features.virus_scan and container.memory < need:
        raise ConfigError(f"{PACKAGE}.container.memory", str(container.memory),
                          f"MiB is too small for features.virus_scan 1: ClamAV and the other services need "
                          f"{need} MiB, the limit is {container.memory} MiB: set it to 'auto' or {need}, or "
                          f"set features.virus_scan 0")  # fmt: skip
    if features.spam_filter and container.memory < SPAM_FILTER_MEMORY_MB:
        raise ConfigError(f"{PACKAGE}.container.memory", str(container.memory),
                          f"MiB is too small for features.spam_filter 1 (Rspamd and Redis need at least "
                          f"{SPAM_FILTER_MEMORY_MB}): set it to 'auto' or {SPAM_FILTER_MEMORY_MB}, or set "
                          f"features.spam_filter 0")  # fmt: skip
    return settings


def _check_scores(protection: Protection) -> None:
    if protection.reject_score <= protection.junk_score:
        raise ConfigError(f"{PACKAGE}.protection.reject_score", f"{protection.reject_score:g}",
                          f"must be above protection.junk_score ({protection.junk_score:g})")


def _check_ports_unique(settings: Settings) -> None:
    seen: dict[int, str] = {}
    for name, number in settings.open_ports().items():
        if number in seen:
            raise ConfigError(
                f"{PACKAGE}.ports.{name}", str(number), f"is already used by {PACKAGE}.ports.{seen[number]}"
            )
        seen[number] = name


def default_package() -> dict[str, dict[str, Any]]:
    """The default UCI content, in the get_all() shape (what files/etc/config/mailserver holds)."""
    package: dict[str, dict[str, Any]] = {}
    for index, spec in enumerate(SECTIONS):
        options = {name: value for name, value in spec.defaults_as_uci().items()}
        package[spec.uci_name] = {".type": spec.uci_type, ".name": spec.uci_name, ".anonymous": False,
                                  ".index": index, **options}  # fmt: skip
    return package
