"""Where every piece of state lives below `main.data_path`: the one map of the data directory.

`DataLayout(data_path)` names each directory and file the agent reads or writes,
so no module joins sub-paths of data_path by hand. It only computes paths (no
I/O), which keeps it usable from every layer above config. docs/architecture.md
("Data layout") draws the same tree; secumail/mail/layout.py says which parts of
it the mail container sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Below data_path: what the container mounts (secumail.mail.layout.MOUNTS names these)
CONFIG, MAIL, HOME, SSL, DKIM, SPOOL, RELAY = "config", "mail", "home", "ssl", "dkim", "spool", "relay"
CLAMAV, MTA_STS, AUTOCONFIG = "clamav", "mta-sts", "autoconfig"
DAV = "dav"  # calendars and contacts (Radicale's collections), written by the container
# host-only state: never mounted into the container
MESH, BACKUP, DNS = "mesh", "backup", "dns"
IMPORT, METRICS, ALERTS, SETUP = "import", "metrics", "alerts", "setup"
WEBMAIL = "webmail"  # Roundcube's own database: mounted into the webmail container only


@dataclass(frozen=True)
class DataLayout:
    """The named paths below one data directory (`root`, made absolute)."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.path.abspath(self.root))

    def _at(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    # -- what the mail services read: config/ (account maps + rendered generations) --------------
    @property
    def config(self) -> str:
        """The account files Postfix and Dovecot read, and the rendered configs (mounted read-only)."""
        return self._at(CONFIG)

    @property
    def accounts_lock(self) -> str:
        """One writer at a time for the account files."""
        return self._at(CONFIG, ".lock")

    @property
    def domains_file(self) -> str:
        return self._at(CONFIG, "domains")

    @property
    def users_file(self) -> str:
        return self._at(CONFIG, "users")

    @property
    def generated(self) -> str:
        """Rendered config generations, one directory each."""
        return self._at(CONFIG, "generated")

    def generation(self, generation_id: str) -> str:
        return os.path.join(self.generated, generation_id)

    @property
    def live(self) -> str:
        """Symlink to the generation the services run."""
        return self._at(CONFIG, "live")

    @property
    def deploy_lock(self) -> str:
        return self._at(CONFIG, ".deploy.lock")

    @property
    def lifecycle_lock(self) -> str:
        """Held while the container is installed, started, stopped or switched (mailctl or secumaild)."""
        return self._at(".lifecycle.lock")

    @property
    def update_state(self) -> str:
        """Which image and config generation ran before the last `mailctl update` (for --rollback)."""
        return self._at("update.json")

    # -- certificates and signing keys ---------------------------------------------------------------
    @property
    def ssl(self) -> str:
        """fullchain.pem and privkey.pem the services use; state.json of the renewal job."""
        return self._at(SSL)

    @property
    def fullchain(self) -> str:
        return self._at(SSL, "fullchain.pem")

    @property
    def privkey(self) -> str:
        return self._at(SSL, "privkey.pem")

    @property
    def acme(self) -> str:
        """ACME account keys (below ssl/ but masked from the container)."""
        return self._at(SSL, "acme")

    @property
    def dkim(self) -> str:
        return self._at(DKIM)

    def dkim_key(self, domain: str, selector: str) -> str:
        return self._at(DKIM, domain, f"{selector}.private")

    # -- smarthost credentials (mode 0700 dir, 0600 files; the container's root reads them) -------
    @property
    def relay(self) -> str:
        return self._at(RELAY)

    def relay_password(self, name: str) -> str:
        """The password of `config relay '<name>'` (never in UCI)."""
        return self._at(RELAY, f"{name}.password")

    @property
    def relay_map(self) -> str:
        """Postfix's SASL password map built from the relays (installed in the container 0600 root)."""
        return self._at(RELAY, "sasl_passwd")

    # -- what the mail services write --------------------------------------------------------------
    @property
    def mail(self) -> str:
        """Maildirs: mail/<domain>/<local>."""
        return self._at(MAIL)

    def maildir(self, domain: str, local: str) -> str:
        return self._at(MAIL, domain, local)

    @property
    def home(self) -> str:
        """Per-user homes (Sieve scripts): home/<domain>/<local>."""
        return self._at(HOME)

    def user_home(self, domain: str, local: str) -> str:
        return self._at(HOME, domain, local)

    @property
    def spool(self) -> str:
        """The Postfix queue (bind-mounted on the image's queue directory)."""
        return self._at(SPOOL)

    @property
    def dav(self) -> str:
        """Radicale's collections (features.dav): one folder per mailbox, like mail/."""
        return self._at(DAV)

    @property
    def clamav(self) -> str:
        """ClamAV's signatures (features.virus_scan): freshclam's downloads, or files seeded by hand;
        bind-mounted on the image's /var/lib/clamav."""
        return self._at(CLAMAV)

    @property
    def webmail(self) -> str:
        """The webmail container's own data (Roundcube's SQLite database and its secret key); the only
        part of data_path that container sees."""
        return self._at(WEBMAIL)

    @property
    def webmail_key(self) -> str:
        """Roundcube's des_key (encrypts the IMAP password kept in its session), 0600, host only."""
        return self._at(WEBMAIL + ".key")

    @property
    def webmail_password_key(self) -> str:
        """The key Roundcube's password plugin shows secumaild's password service (0600, host only; the
        webmail container has it in its config): the service's address check alone trusts the bridge."""
        return self._at(WEBMAIL + "-password.key")

    # -- DNS ---------------------------------------------------------------------------------------
    @property
    def dns_state(self) -> str:
        """The record values we published (ownership for the next plan)."""
        return self._at(DNS, "state.json")

    @property
    def port25_state(self) -> str:
        """The last outbound port-25 probe of dns-check (secumail.mail.outbound)."""
        return self._at(DNS, "port25.json")

    @property
    def relay_tests(self) -> str:
        """The last `mailctl relay test` result of each relay."""
        return self._at(DNS, "relay-tests.json")

    @property
    def mta_sts(self) -> str:
        """Our MTA-STS policies, one directory per domain (what lighttpd in the container serves)."""
        return self._at(MTA_STS)

    @property
    def metrics_state(self) -> str:
        """The metrics' log counters: totals and how far each mail log was read (docs/operating.md)."""
        return self._at(METRICS, "state.json")

    @property
    def metrics_hours(self) -> str:
        """The counters' growth per hour for 30 days and the queue's samples: LuCI's charts (docs/operating.md)."""
        return self._at(METRICS, "hours.bin")

    @property
    def setup_state(self) -> str:
        """How far the first-run setup got: each step done or failed (with its reason), so it resumes."""
        return self._at(SETUP, "state.json")

    @property
    def alerts_state(self) -> str:
        """The problems secumaild has mailed about and not seen resolved yet (docs/operating.md)."""
        return self._at(ALERTS, "state.json")

    def mta_sts_policy(self, domain: str) -> str:
        return self._at(MTA_STS, domain, ".well-known", "mta-sts.txt")

    @property
    def autoconfig_root(self) -> str:
        """The client autoconfiguration files, one directory per domain (lighttpd serves them)."""
        return self._at(AUTOCONFIG)

    def autoconfig(self, domain: str) -> str:
        """The document root of https://autoconfig.<domain>/ and https://autodiscover.<domain>/
        (secumail.mail.clientconfig: Thunderbird's config-v1.1.xml, Outlook's autodiscover.xml)."""
        return self._at(AUTOCONFIG, domain)

    # -- IMAP imports (docs/import.md): mode 0700, host only ------------------------------------------
    @property
    def imports(self) -> str:
        return self._at(IMPORT)

    def import_state(self, name: str) -> str:
        """What import `name` copied: per folder of the old server, UIDVALIDITY and the last UID."""
        return self._at(IMPORT, f"{name}.json")

    def import_password(self, name: str) -> str:
        """The old server's password of sync job `name` (0600; never in UCI)."""
        return self._at(IMPORT, f"{name}.password")

    def import_lock(self, name: str) -> str:
        """Held while import `name` runs: one run at a time."""
        return self._at(IMPORT, f"{name}.lock")

    # -- mesh: node identity, keys and rebuildable state (part of every backup, except state/) -----
    @property
    def mesh(self) -> str:
        return self._at(MESH)

    @property
    def node_key(self) -> str:
        return self._at(MESH, "node.key")

    @property
    def node_key_lock(self) -> str:
        return self._at(MESH, ".node.lock")

    @property
    def master_key(self) -> str:
        """The repository master key (its recovery copy is in the repository's key slots)."""
        return self._at(MESH, "master.key")

    @property
    def cache_db(self) -> str:
        """The backup's file cache (rebuildable, not backed up)."""
        return self._at(MESH, "cache.db")

    @property
    def mesh_state(self) -> str:
        """peers.json, discovered.json, heads.json: rebuilt by use, not backed up."""
        return self._at(MESH, "state")

    # -- backup: repositories, ours and the ones we hold for peers (never backed up) ---------------
    @property
    def backup(self) -> str:
        return self._at(BACKUP)

    @property
    def repository(self) -> str:
        """This node's own backup repository."""
        return self._at(BACKUP, "repo")

    @property
    def inbox(self) -> str:
        """What peers push to us: inbox/<node id>, checked then ingested into their store."""
        return self._at(BACKUP, "inbox")

    def peer_inbox(self, node_id: str) -> str:
        return self._at(BACKUP, "inbox", node_id)

    @property
    def peer_stores(self) -> str:
        """Our copies of peers' repositories: peers/<node id>."""
        return self._at(BACKUP, "peers")

    def peer_store(self, node_id: str) -> str:
        return self._at(BACKUP, "peers", node_id)

    # -- what a backup leaves out -----------------------------------------------------------------
    @property
    def not_backed_up(self) -> tuple[str, ...]:
        """Repositories (ours and peers') and what is rebuilt by use; everything else is backed up."""
        cache = self.cache_db
        return (self.backup, cache, f"{cache}-wal", f"{cache}-shm", self.node_key_lock, self.mesh_state)


__all__ = ["DataLayout"]
