"""The Postfix queue lives in data_path/spool, bind-mounted on the image's /var/spool/postfix."""

from __future__ import annotations

import dataclasses
import os

from secumail.appliance import datadir
from secumail.appliance.spec import rootfs_path, spec_for
from secumail.container.idmap import IdMap
from tests.support.settings import mail_settings as make_settings


def _settings(tmp_path):
    settings = make_settings(tmp_path / "data")
    container = dataclasses.replace(settings.container, lxc_path=str(tmp_path / "lxc"))
    return dataclasses.replace(settings, container=container)


def _old_queue(settings, files):
    queue = os.path.join(rootfs_path(settings), "var/spool/postfix")
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(queue, rel)), exist_ok=True)
        with open(os.path.join(queue, rel), "w") as handle:
            handle.write(text)
    os.makedirs(os.path.join(queue, "hold"), exist_ok=True)  # empty: left where it is
    return queue


def test_the_container_mounts_only_what_the_mail_services_use(tmp_path):
    settings = _settings(tmp_path)
    spec = spec_for(settings, IdMap(100000, 100000))
    data = settings.main.data_path
    mounts = {m.container_path: (m.host_path, m.read_only) for m in spec.mounts}
    assert mounts == {
        "/srv/mailserver/config": (f"{data}/config", True),
        "/srv/mailserver/mail": (f"{data}/mail", False),
        "/srv/mailserver/home": (f"{data}/home", False),
        "/srv/mailserver/ssl": (f"{data}/ssl", True),
        "/srv/mailserver/dkim": (f"{data}/dkim", True),
        "/srv/mailserver/relay": (f"{data}/relay", True),  # smarthost passwords (0600, container root's)
        "/var/spool/postfix": (f"{data}/spool", False),  # the queue outlives the image
        "/var/lib/clamav": (f"{data}/clamav", False),  # ClamAV's signatures: freshclam writes them
        "/srv/mailserver/mta-sts": (f"{data}/mta-sts", True),  # our MTA-STS policies: lighttpd serves them
        "/srv/mailserver/autoconfig": (f"{data}/autoconfig", True),  # autoconfig/autodiscover: lighttpd serves them
        "/srv/mailserver/dav": (f"{data}/dav", False),  # calendars and contacts (features.dav)
    }
    assert spec.masks == ("/srv/mailserver/ssl/acme",)  # the ACME account keys
    assert spec.idmap == IdMap(100000, 100000) and spec.seccomp


def test_layout_has_the_spool(tmp_path):
    settings = _settings(tmp_path)
    datadir.ensure_layout(settings)
    assert os.path.isdir(os.path.join(settings.main.data_path, "spool"))


def test_an_older_install_moves_its_queue_into_data_path_while_stopped(tmp_path):
    settings = _settings(tmp_path)
    queue = _old_queue(settings, {"deferred/A/ABC123": "message", "active/DEF456": "message 2"})
    assert datadir.ensure_spool(settings) == ["active", "deferred"]
    spool = os.path.join(settings.main.data_path, "spool")
    with open(os.path.join(spool, "deferred/A/ABC123")) as handle:
        assert handle.read() == "message"
    assert os.path.exists(os.path.join(spool, "active/DEF456"))
    assert not os.path.exists(os.path.join(queue, "deferred"))
    assert datadir.ensure_spool(settings) == []  # once only


def test_nothing_moves_while_running_or_when_data_path_has_a_queue(tmp_path):
    settings = _settings(tmp_path)
    queue = _old_queue(settings, {"deferred/A/ABC123": "message"})
    assert datadir.ensure_spool(settings, running=True) == []
    assert os.path.isdir(os.path.join(settings.main.data_path, "spool"))  # the mount source exists anyway
    os.makedirs(os.path.join(settings.main.data_path, "spool", "active"))
    assert datadir.ensure_spool(settings) == []
    assert os.path.exists(os.path.join(queue, "deferred/A/ABC123"))
