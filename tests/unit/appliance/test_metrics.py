"""`mailctl metrics`: the log counters move by exactly what happened, across a log rotation and a fresh
process (the state file under data_path), and the text parses as Prometheus' exposition format."""

from __future__ import annotations

import json
import os

import pytest

from secumail.appliance import metrics
from tests.support.settings import make_settings

prometheus_parser = pytest.importorskip("prometheus_client.parser", reason="prometheus_client (test dependency)")

P = "Dec  6 03:00:01 mail "


def _message(n: int) -> str:
    qid = f"4AB{n:04d}CD"
    return (f"{P}postfix/smtpd[812]: {qid}: client=unknown[198.51.100.20]\n"
            f"{P}postfix/lmtp[301]: {qid}: to=<alice@a.test>, relay=x[private/dovecot-lmtp], delay=0.1, "
            f"dsn=2.0.0, status=sent (250 2.0.0 Saved)\n")  # fmt: skip


FAILED_LOGIN = (
    "Dec 06 03:00:02 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in "
    "2 secs): user=<alice@a.test>, method=PLAIN, rip=192.0.2.7, lip=10.246.0.2, session=<abc>\n"
)


@pytest.fixture
def appliance(tmp_path):
    settings = make_settings(tmp_path / "data", container={"lxc_path": str(tmp_path / "lxc")},
                             features={"fail2ban": False})  # fmt: skip
    logs = tmp_path / "lxc" / settings.main.container / "rootfs" / "var" / "log"
    logs.mkdir(parents=True)
    return settings, logs


def _append(path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def test_counters_move_by_exactly_what_happened_across_rotation_and_restart(appliance):
    settings, logs = appliance
    mail, dovecot = logs / "mail.log", logs / "dovecot.log"
    _append(mail, _message(0))  # before the first count: counted too (the log's start)
    before = metrics.count_logs(settings)
    assert before["received"] == 1 and before["sent"] == 1

    for n in range(1, 5):
        _append(mail, _message(n))
    _append(dovecot, FAILED_LOGIN)
    _append(mail, _message(5)[:40])  # a line half written: not counted yet
    middle = metrics.count_logs(settings)
    assert (middle["received"], middle["auth_failures"]) == (5, 1)

    # rotation as secumail.mail.logrotate does it; the writer still appends to the renamed file once
    _append(mail, _message(5)[40:])
    os.replace(mail, str(mail) + ".1")
    os.replace(dovecot, str(dovecot) + ".1")
    _append(str(mail) + ".1", _message(6))
    _append(str(dovecot) + ".1", FAILED_LOGIN)
    for n in range(7, 11):
        _append(mail, _message(n))
    _append(dovecot, FAILED_LOGIN)
    # a new process (the daemon restarted, or mailctl run again): only the state file carries over
    after = metrics.count_logs(settings)
    assert after["received"] - before["received"] == 10
    assert after["sent"] - before["sent"] == 10
    assert after["auth_failures"] - before["auth_failures"] == 3
    assert metrics.count_logs(settings) == after  # nothing new: nothing counted twice

    with open(settings.layout.metrics_state, encoding="utf-8") as handle:
        state = json.load(handle)
    assert state["version"] == 1 and state["totals"]["received"] == 11
    assert state["files"][str(mail)]["inode"] == os.stat(mail).st_ino
    assert oct(os.stat(settings.layout.metrics_state).st_mode & 0o777) == "0o600"


def test_the_text_parses_as_prometheus_exposition_and_the_textfile_is_written(appliance, tmp_path):
    settings, logs = appliance
    _append(logs / "mail.log", _message(1))
    collected = metrics.collect(settings)
    text = metrics.render(collected)
    families = {f.name: f for f in prometheus_parser.text_string_to_metric_families(text)}
    assert families["secumail_messages_received"].type == "counter"
    assert families["secumail_messages_received"].samples[0].value == 1
    assert families["secumail_up"].samples[0].value == 0  # no container here
    assert "secumail_certificate_days_left" not in families  # no certificate: no made-up number

    target = tmp_path / "prom" / "secumail.prom"
    metrics.write_textfile(str(target), text)
    assert target.read_text() == text and not [p for p in os.listdir(target.parent) if p != "secumail.prom"]


def test_label_values_are_escaped():
    metric = metrics.Metric("secumail_x", "gauge", "x.", (({"service": 'a"b\\c\nd'}, 1.5),))
    text = metrics.render([metric])
    sample = next(iter(prometheus_parser.text_string_to_metric_families(text))).samples[0]
    assert sample.labels == {"service": 'a"b\\c\nd'} and sample.value == 1.5
