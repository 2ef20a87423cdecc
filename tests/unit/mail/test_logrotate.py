"""Log rotation of the container's mail.log/dovecot.log, and mailctl logs reading across a rotation."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest

from secumail.mail import logrotate
from tests.support.settings import mail_settings as make_settings


class FakeContainer:
    def __init__(self, returncode=0, running=True):
        self.calls, self.returncode, self._running = [], returncode, running

    def exec(self, args, input=None):
        self.calls.append(args)
        return SimpleNamespace(returncode=self.returncode, stdout="", stderr="doveadm: no such thing\n")

    def exists(self):
        return True

    def running(self):
        return self._running


def _write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.writelines(f"{line}\n" for line in lines)


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    _write(str(root / "var/log/mail.log"), [f"Nov 23 10:00:{i:02d} mail postfix/smtpd[1]: line {i}" for i in range(50)])
    _write(str(root / "var/log/dovecot.log"), ["Nov 23 10:00:00 imap-login: Info: short"])
    return str(root)


def test_only_logs_at_the_cap_are_rotated_and_their_writer_reopens(rootfs):
    size = os.path.getsize(os.path.join(rootfs, "var/log/mail.log"))
    container = FakeContainer()
    assert logrotate.rotate(rootfs, size, container) == ["var/log/mail.log"]
    assert container.calls == [["postfix", "reload"]]
    assert not os.path.exists(os.path.join(rootfs, "var/log/mail.log"))
    assert os.path.getsize(os.path.join(rootfs, "var/log/mail.log.1")) == size
    assert os.path.exists(os.path.join(rootfs, "var/log/dovecot.log"))  # under the cap: left alone
    assert logrotate.rotate(rootfs, size, container) == []  # nothing due: no command run
    assert len(container.calls) == 1


def test_one_old_file_is_kept(rootfs):
    log = os.path.join(rootfs, "var/log/dovecot.log")
    logrotate.rotate(rootfs, 1, FakeContainer())
    _write(log, ["Nov 23 11:00:00 second generation"])
    assert logrotate.rotate(rootfs, 1, FakeContainer()) == ["var/log/dovecot.log"]
    assert sorted(os.listdir(os.path.dirname(log))) == ["dovecot.log.1", "mail.log.1"]
    with open(log + ".1") as handle:
        assert handle.read() == "Nov 23 11:00:00 second generation\n"


def test_a_stopped_container_is_not_asked_to_reopen(rootfs):
    assert logrotate.rotate(rootfs, 1, None) == ["var/log/mail.log", "var/log/dovecot.log"]


def test_a_failed_reopen_is_a_warning_not_a_crash(rootfs, caplog):
    with caplog.at_level(logging.WARNING):
        logrotate.rotate(rootfs, 1, FakeContainer(returncode=75))
    assert "'doveadm log reopen' failed: doveadm: no such thing" in caplog.text


def test_tail_reaches_into_the_rotated_file(rootfs):
    log = os.path.join(rootfs, "var/log/mail.log")
    logrotate.rotate(rootfs, 1, None)
    _write(log, ["Nov 23 10:01:00 new 1", "Nov 23 10:01:01 new 2"])
    got = logrotate.tail_with_rotated(log, 5)
    assert got == [f"Nov 23 10:00:{i} mail postfix/smtpd[1]: line {i}" for i in (47, 48, 49)] + [
        "Nov 23 10:01:00 new 1", "Nov 23 10:01:01 new 2"]
    assert logrotate.tail_with_rotated(log, 2) == ["Nov 23 10:01:00 new 1", "Nov 23 10:01:01 new 2"]
    assert logrotate.tail_with_rotated(log + ".missing", 3) == []


@pytest.fixture
def service_settings(tmp_path, rootfs, monkeypatch):
    """Settings whose rootfs_path is the tmp rootfs, and a fake running container."""
    from secumail.appliance import logs as service

    settings = make_settings(tmp_path / "data", log_size_limit=1)
    monkeypatch.setattr(service, "rootfs_path", lambda s: rootfs)
    container = FakeContainer()
    monkeypatch.setattr(service, "container_for", lambda s: container)
    monkeypatch.setattr(service, "installed", lambda s: container)
    return settings, container


def test_rotate_logs_uses_the_uci_cap(service_settings, rootfs):
    from secumail.appliance import logs as service

    settings, container = service_settings
    assert service.rotate_logs(settings) == []  # 1 MiB cap, small files
    assert container.calls == []
    with open(os.path.join(rootfs, "var/log/dovecot.log"), "a") as handle:
        handle.write("x" * (1024 * 1024))
    assert service.rotate_logs(settings) == ["var/log/dovecot.log"]
    assert container.calls == [["doveadm", "log", "reopen"]]


def test_rotate_logs_of_a_stopped_container_only_renames(service_settings, rootfs):
    from secumail.appliance import logs as service

    settings, container = service_settings
    container._running = False
    with open(os.path.join(rootfs, "var/log/mail.log"), "a") as handle:
        handle.write("x" * (1024 * 1024))
    assert service.rotate_logs(settings) == ["var/log/mail.log"]
    assert container.calls == []
    assert os.path.exists(os.path.join(rootfs, "var/log/mail.log.1"))


def test_mailctl_logs_keeps_working_after_a_rotation(service_settings, rootfs):
    from secumail.appliance import logs as service

    settings, _ = service_settings
    logrotate.rotate(rootfs, 1, None)
    _write(os.path.join(rootfs, "var/log/mail.log"), ["Nov 23 10:02:00 mail postfix/qmgr[2]: after"])
    assert service.logs(settings, 3) == ["Nov 23 10:00:48 mail postfix/smtpd[1]: line 48",
                                         "Nov 23 10:00:49 mail postfix/smtpd[1]: line 49",
                                         "Nov 23 10:02:00 mail postfix/qmgr[2]: after"]


def test_mailctl_logs_shows_clamav_lines_in_time_order_with_their_program(service_settings, rootfs):
    from secumail.appliance import logs as service

    settings, _ = service_settings
    _write(os.path.join(rootfs, "var/log/clamav/clamav-milter.log"),
           ["Mon Nov 23 10:00:48 2026 -> Message 4F2 from <a@b.test> to <c@d.test> infected by Eicar-Signature"])
    _write(os.path.join(rootfs, "var/log/clamav/clamav.log"),
           ["Mon Nov 23 10:03:00 2026 -> SelfCheck: Database status OK."])
    assert service.logs(settings, 4) == [
        "Nov 23 10:00:48 mail postfix/smtpd[1]: line 48",  # same second: the Postfix line came first
        "Nov 23 10:00:48 clamav-milter: Message 4F2 from <a@b.test> to <c@d.test> infected by Eicar-Signature",
        "Nov 23 10:00:49 mail postfix/smtpd[1]: line 49",
        "Nov 23 10:03:00 clamd: SelfCheck: Database status OK.",
    ]
