"""DataLayout: every path below data_path has one name, and the container mounts are built on it."""

from __future__ import annotations

import os

from secumail.config import default_package
from secumail.config.layout import DataLayout
from secumail.config.settings import settings_from_package
from secumail.mail import layout as mail_layout


def test_named_paths_lie_where_the_documented_tree_puts_them():
    layout = DataLayout("/srv/mailserver")
    assert layout.config == "/srv/mailserver/config"
    assert layout.live == "/srv/mailserver/config/live"
    assert layout.generation("g1") == "/srv/mailserver/config/generated/g1"
    assert layout.fullchain == "/srv/mailserver/ssl/fullchain.pem"
    assert layout.dkim_key("example.com", "mail") == "/srv/mailserver/dkim/example.com/mail.private"
    assert layout.maildir("example.com", "bob") == "/srv/mailserver/mail/example.com/bob"
    assert layout.node_key == "/srv/mailserver/mesh/node.key"
    assert layout.mesh_state == "/srv/mailserver/mesh/state"
    assert layout.repository == "/srv/mailserver/backup/repo"
    assert layout.peer_inbox("AAAA") == "/srv/mailserver/backup/inbox/AAAA"
    assert layout.peer_store("AAAA") == "/srv/mailserver/backup/peers/AAAA"


def test_a_relative_data_path_is_made_absolute():
    assert DataLayout("data").root == os.path.abspath("data")


def test_settings_give_the_layout_of_their_data_path():
    package = default_package()
    package["main"]["data_path"] = "/var/mail-data"
    assert settings_from_package(package).layout == DataLayout("/var/mail-data")


def test_the_container_mounts_only_mail_state_and_never_the_mesh_or_the_backups():
    layout = DataLayout("/d")
    sources = {m.source(layout) for m in mail_layout.MOUNTS}
    assert {layout.config, layout.mail, layout.home, layout.ssl, layout.dkim, layout.spool, layout.relay,
            layout.clamav, layout.mta_sts, layout.autoconfig_root, layout.dav} == sources
    assert not any(s.startswith((layout.mesh, layout.backup)) for s in sources)
    assert [os.path.join(layout.root, m) for m in mail_layout.MASKED] == [layout.acme]


def test_backups_leave_out_repositories_and_rebuildable_state_but_keep_the_keys():
    layout = DataLayout("/d")
    left_out = layout.not_backed_up
    assert layout.backup in left_out and layout.mesh_state in left_out and layout.cache_db in left_out
    assert layout.node_key not in left_out and layout.master_key not in left_out  # a recovered node keeps its id
