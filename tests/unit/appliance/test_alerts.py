"""The alerts' dedup state machine: one mail per problem (check id + state), one when resolved."""

from __future__ import annotations

from secumail.appliance.alerts import DAY, advance, load_state, mark_sent, message, new_state, save_state, subject
from secumail.config.settings import default_package, settings_from_package


def report(*checks: tuple[str, str], skipped: tuple[str, ...] = ()) -> dict:
    return {
        "checks": [{"id": i, "name": i, "status": s, "detail": f"{i} is {s}", "hint": f"fix {i}"} for i, s in checks],
        "skipped": [{"id": i, "name": i, "why": "off"} for i in skipped],
    }


def run(state, rep, now, **kw):
    """One alerts run whose mails all go out: the notices' kinds and ids, and the state after."""
    state, notices = advance(state, rep, now, **kw)
    for notice in notices:
        mark_sent(state, notice, now)
    return state, [(n.kind, n.id, n.status) for n in notices]


def test_a_problem_is_mailed_once_however_often_the_check_runs_then_once_resolved():
    state = new_state()
    mails = []
    for minute in range(5):
        state, sent = run(state, report(("certificate", "warn"), ("disk", "ok")), 1000.0 + 60 * minute)
        mails += sent
    assert mails == [("problem", "certificate", "warn")]
    for minute in range(3):
        state, sent = run(state, report(("certificate", "ok")), 2000.0 + 60 * minute)
        mails += sent
    assert mails == [("problem", "certificate", "warn"), ("resolved", "certificate", "warn")]
    assert state["open"] == {}


def test_a_worse_state_is_a_new_problem():
    state, first = run(new_state(), report(("disk", "warn")), 0.0)
    state, second = run(state, report(("disk", "fail")), 60.0)
    state, third = run(state, report(("disk", "fail")), 120.0)
    assert (first, second, third) == ([("problem", "disk", "warn")], [("problem", "disk", "fail")], [])


def test_unwatched_checks_and_states_that_are_no_problem_send_nothing():
    state, sent = run(new_state(), report(("clock", "fail"), ("queue", "warn"), ("dnsbl", "warn")), 0.0)
    assert sent == [] and state["open"] == {}
    old = {"version": 1, "digest": 0.0, "open": {"gone": {"status": "fail", "since": 0.0, "sent": 1.0}}}
    assert run(old, report(("disk", "ok")), 60.0) == ({"version": 1, "digest": 0.0, "open": {}}, [])


def test_a_check_that_did_not_run_or_finish_keeps_the_problem_open():
    state, _ = run(new_state(), report(("queue", "fail")), 0.0)
    state, absent = run(state, report(("disk", "ok")), 60.0)  # the container stopped: no queue row
    state, unfinished = run(state, report(("queue", "warn")), 120.0)  # "did not finish" is a warn
    assert absent == unfinished == []
    state, resolved = run(state, report(("queue", "ok")), 180.0)
    assert resolved == [("resolved", "queue", "fail")]


def test_a_check_that_no_longer_applies_resolves_its_problem():
    state, _ = run(new_state(), report(("backup", "warn")), 0.0)
    state, sent = run(state, report(skipped=("backup",)), 60.0)  # mesh turned off
    assert sent == [("resolved", "backup", "warn")]


def test_a_peer_is_mailed_about_after_a_day_unreached_and_not_if_it_came_back_before():
    state, sent = run(new_state(), report(("peers", "warn")), 0.0)
    state, sent2 = run(state, report(("peers", "warn")), DAY - 1)
    assert sent == sent2 == []
    state, sent = run(state, report(("peers", "warn")), DAY)
    assert sent == [("problem", "peers", "warn")]
    state, _ = run(new_state(), report(("peers", "warn")), 0.0)
    state, back = run(state, report(("peers", "ok")), 3600.0)
    state, again = run(state, report(("peers", "warn")), 7200.0)
    assert back == again == []  # never mailed, so no "resolved" either; the day starts again
    assert state["open"]["peers"]["since"] == 7200.0


def test_the_hold_follows_the_daemons_time_scale():
    state, _ = run(new_state(), report(("peers", "warn")), 0.0, scale=1000.0)
    state, sent = run(state, report(("peers", "warn")), DAY / 1000.0, scale=1000.0)
    assert sent == [("problem", "peers", "warn")]


def test_a_mail_that_could_not_be_sent_is_due_again_at_the_next_run():
    state, notices = advance(new_state(), report(("disk", "fail")), 0.0)
    assert [n.id for n in notices] == ["disk"]  # not marked sent: submission failed
    state, notices = advance(state, report(("disk", "fail")), 60.0)
    assert [n.id for n in notices] == ["disk"]
    mark_sent(state, notices[0], 60.0)
    state, _ = advance(state, report(("disk", "ok")), 120.0)
    state, notices = advance(state, report(("disk", "ok")), 180.0)  # "resolved" not sent yet: due again
    assert [(n.kind, n.id) for n in notices] == [("resolved", "disk")]


def test_the_problem_coming_back_before_its_resolved_mail_went_out_sends_nothing_new():
    state, _ = run(new_state(), report(("disk", "warn")), 0.0)
    state, notices = advance(state, report(("disk", "ok")), 60.0)  # "resolved" due, not sent
    state, notices = advance(state, report(("disk", "warn")), 120.0)
    assert notices == []


def test_the_daily_digest_lists_open_problems_once_a_day():
    state, _ = run(new_state(), report(("disk", "warn"), ("dnsbl", "fail")), 0.0, digest=True)
    state, sent = run(state, report(("disk", "warn"), ("dnsbl", "fail")), DAY / 2, digest=True)
    assert sent == []
    state, notices = advance(state, report(("disk", "warn"), ("dnsbl", "fail")), DAY, digest=True)
    assert [(n.kind, n.name) for n in notices] == [("digest", "2 open problem(s)")]
    assert notices[0].detail == "disk (warn); dnsbl (fail)"
    mark_sent(state, notices[0], DAY)
    state, sent = run(state, report(("disk", "warn"), ("dnsbl", "fail")), DAY + 60, digest=True)
    assert sent == []
    state, sent = run(state, report(("disk", "ok"), ("dnsbl", "ok")), 3 * DAY, digest=True)
    assert sorted(sent) == [("resolved", "disk", "warn"), ("resolved", "dnsbl", "fail")]  # no digest of nothing


def test_the_state_survives_a_restart_and_a_bad_file_starts_afresh(tmp_path):
    path = str(tmp_path / "alerts" / "state.json")
    state, _ = run(new_state(), report(("certificate", "fail")), 0.0)
    save_state(path, state)
    assert (tmp_path / "alerts" / "state.json").stat().st_mode & 0o777 == 0o600
    _, sent = run(load_state(path), report(("certificate", "fail")), 60.0)
    assert sent == []
    (tmp_path / "alerts" / "state.json").write_text('{"version": 99, "open": {}}')
    assert load_state(path) == new_state()
    (tmp_path / "alerts" / "state.json").write_text("not json")
    assert load_state(path) == new_state()


def test_the_mail_says_what_and_where_in_plain_text():
    package = default_package()
    package["main"].update(domain="example.org", hostname="mail")
    settings = settings_from_package(package)
    _, notices = advance(new_state(), report(("certificate", "warn")), 0.0)
    text = message(settings, notices[0], 0.0)
    headers, _, body = text.partition("\n\n")
    assert "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>" in headers.splitlines()
    assert "To: postmaster@example.org" in headers.splitlines()
    assert "Subject: [secumail] mail.example.org: certificate: certificate is warn" in headers.splitlines()
    assert "Content-Type: text/plain; charset=utf-8" in headers.splitlines()
    assert "How to fix it: fix certificate" in body
    assert subject(settings, notices[0]).startswith("[secumail] mail.example.org: ")
