"""Renewal policy with a fake clock and a seeded random source."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest

from secumail.certs import policy, renewal
from secumail.certs.der import Validity
from secumail.certs.state import AriInfo, CertState, load_state, save_state
from secumail.config.settings import default_package, settings_from_package

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
CERT = Validity(serial=7, not_before=T0, not_after=T0 + 90 * DAY)


def rng(seed: int = 1) -> random.Random:
    return random.Random(seed)


def test_default_moment_is_two_thirds_of_the_lifetime_minus_bounded_jitter():
    moments = {policy.default_renew_at(CERT, rng(seed)) for seed in range(50)}
    assert len(moments) == 50  # jitter really varies
    assert all(T0 + 60 * DAY - 4.5 * DAY <= m <= T0 + 60 * DAY for m in moments)


def test_not_due_before_the_moment_and_due_after():
    state = CertState(serial=7)
    assert policy.decide(CERT, state, T0 + 30 * DAY, rng()).due is False
    decision = policy.decide(CERT, state, T0 + 61 * DAY, rng())
    assert decision.due and decision.reason == "renewal window reached"
    assert policy.decide(CERT, state, T0 + 91 * DAY, rng()).reason == "expired"


def test_chosen_moment_is_kept_for_the_same_certificate():
    state = CertState(serial=7, renew_at=T0 + 50 * DAY)
    assert policy.decide(CERT, state, T0 + 51 * DAY, rng()).due
    # another certificate: the stored moment does not apply
    other = dataclasses.replace(CERT, serial=8)
    assert not policy.decide(other, state, T0 + 51 * DAY, rng()).due


def test_ari_window_wins_over_the_lifetime_rule():
    state = CertState(serial=7, ari=AriInfo("https://ca/ari/x", T0 + 10 * DAY, T0 + 11 * DAY))
    moment = policy.choose_renew_at(CERT, state, rng())
    assert T0 + 10 * DAY <= moment <= T0 + 11 * DAY
    assert policy.decide(CERT, state, T0 + 12 * DAY, rng()).due


def test_apply_ari_rechooses_only_when_the_window_moves():
    state = CertState(serial=7, renew_at=T0 + 5 * DAY, ari=AriInfo("https://ca/x", T0 + 4 * DAY, T0 + 6 * DAY))
    same = policy.apply_ari(state, (T0 + 4 * DAY, T0 + 6 * DAY), T0 + 1 * DAY, rng())
    assert same.renew_at == T0 + 5 * DAY and same.ari.retry_after == T0 + DAY
    moved = policy.apply_ari(state, (T0 + 1 * DAY, T0 + 2 * DAY), T0 + 1 * DAY, rng())
    assert T0 + DAY <= moved.renew_at <= T0 + 2 * DAY


def test_backoff_grows_then_caps_and_shortens_near_expiry():
    assert [policy.backoff(n, 30) for n in (1, 2, 3, 4, 5, 9)] == [dt.timedelta(hours=h) for h in (1, 2, 4, 8, 12, 12)]
    assert policy.backoff(6, 3) == dt.timedelta(hours=1)


def test_after_a_failure_the_next_attempt_waits_for_the_backoff():
    state = CertState(serial=7)
    now = T0 + 61 * DAY
    policy.record_failure(state, "the ACME CA rejected the request: boom", now, 29)
    policy.record_failure(state, "the ACME CA rejected the request: boom", now, 29)
    assert state.failures == 2 and state.last_error.startswith("the ACME CA")
    waiting = policy.decide(CERT, state, now + dt.timedelta(minutes=90), rng())
    assert not waiting.due and waiting.reason == "waiting after a failed attempt"
    assert policy.decide(CERT, state, now + dt.timedelta(hours=2, minutes=1), rng()).due


def test_warns_under_fourteen_days():
    state = CertState(serial=7, renew_at=T0 + 89 * DAY)
    assert not policy.decide(CERT, state, T0 + 75 * DAY, rng()).warn
    assert policy.decide(CERT, state, T0 + 77 * DAY, rng()).warn


def test_success_resets_failures_and_picks_a_new_moment():
    state = CertState(serial=7, failures=3, last_error="x")
    new = Validity(9, T0 + 60 * DAY, T0 + 150 * DAY)
    policy.record_success(state, new, T0 + 60 * DAY, "https://ca/ari/abc", rng())
    assert (state.serial, state.failures, state.last_error) == (9, 0, None)
    assert state.ari.url == "https://ca/ari/abc"
    assert T0 + 115 * DAY < state.renew_at <= T0 + 120 * DAY


def test_state_round_trips_through_json(tmp_path):
    state = CertState(7, T0, T0, T0, "err", 2, T0 + DAY, AriInfo("https://x", T0, T0 + DAY, T0), {"names": ["a"]})
    path = str(tmp_path / "ssl" / "state.json")
    save_state(path, state)
    assert load_state(path) == state
    (tmp_path / "broken.json").write_text("{not json")
    assert load_state(str(tmp_path / "broken.json")) == CertState()


def test_ari_time_parsing_accepts_nanoseconds():
    assert renewal._parse_time("2026-01-01T00:00:00.123456789Z") == T0 + dt.timedelta(microseconds=123456)


# --- renew_if_due with a fake obtain ---------------------------------------------------


def _settings(tmp_path):
    s = settings_from_package(default_package())
    return dataclasses.replace(s, main=dataclasses.replace(s.main, data_path=str(tmp_path)))


def _install_selfsigned(settings, now):
    from secumail.certs import keys
    from secumail.certs.paths import cert_paths
    from secumail.certs.sources import selfsigned

    chain, key = selfsigned(settings, now)
    keys.install_pair(cert_paths(settings).ssl_dir, chain, key)


def test_renew_if_due_without_a_certificate_obtains_one(tmp_path):
    settings = _settings(tmp_path)
    calls = []

    def obtain(s):
        calls.append(s)
        _install_selfsigned(s, T0)

    outcome = renewal.renew_if_due(settings, T0, obtain=obtain, rng=rng())
    assert outcome.action == "renewed" and len(calls) == 1
    assert 364 < outcome.days_left <= 365
    again = renewal.renew_if_due(settings, T0 + DAY, obtain=obtain, rng=rng())
    assert again.action == "none" and len(calls) == 1
    assert again.next_check == T0 + 2 * DAY


def test_renew_if_due_failure_keeps_the_old_certificate_and_records_the_error(tmp_path):
    from secumail.certs.paths import cert_paths
    from secumail.errors import SecumailError

    settings = _settings(tmp_path)
    _install_selfsigned(settings, T0)
    paths = cert_paths(settings)
    before = Path(paths.fullchain).read_bytes()

    def failing(s):
        raise SecumailError("cannot reach the ACME CA at https://ca: refused")

    late = T0 + 300 * DAY
    outcome = renewal.renew_if_due(settings, late, obtain=failing, rng=rng())
    assert outcome.action == "failed" and outcome.error.startswith("cannot reach the ACME CA")
    assert outcome.next_check == late + dt.timedelta(hours=1)
    assert Path(paths.fullchain).read_bytes() == before
    state = load_state(paths.state)
    assert state.failures == 1 and state.last_error == outcome.error
    # within the backoff the job does not try again
    calls = []
    waiting = renewal.renew_if_due(settings, late + dt.timedelta(minutes=30), obtain=calls.append, rng=rng())
    assert waiting.action == "none" and calls == []


def test_renew_if_due_refreshes_ari_and_survives_ari_errors(tmp_path):
    from secumail.certs.der import leaf_validity
    from secumail.certs.paths import cert_paths

    settings = _settings(tmp_path)
    _install_selfsigned(settings, T0)
    paths = cert_paths(settings)
    validity = leaf_validity(paths.fullchain)
    save_state(paths.state, CertState(serial=validity.serial, ari=AriInfo("https://ca/ari/x")))
    window = (T0 + 10 * DAY, T0 + 11 * DAY)
    calls = []
    outcome = renewal.renew_if_due(
        settings, T0 + DAY, obtain=calls.append, ari_fetcher=lambda url, ca, now: (window, now + DAY), rng=rng()
    )
    assert outcome.action == "none"
    state = load_state(paths.state)
    assert window[0] <= state.renew_at <= window[1]
    renewed = renewal.renew_if_due(settings, T0 + 12 * DAY, obtain=calls.append, rng=rng(),
                                   ari_fetcher=lambda *a: (window, T0 + 13 * DAY))  # fmt: skip
    assert renewed.action == "renewed" and len(calls) == 1

    def broken(*args):
        raise OSError("connection refused")

    save_state(paths.state, CertState(serial=validity.serial, ari=AriInfo("https://ca/ari/x")))
    quiet = renewal.renew_if_due(settings, T0 + DAY, obtain=calls.append, ari_fetcher=broken, rng=rng())
    assert quiet.action == "none"
    assert load_state(paths.state).ari.retry_after == T0 + DAY + renewal.ARI_DEFAULT_RETRY


@pytest.mark.parametrize("kind", ["letsencrypt", "letsencrypt-staging", "zerossl", "acme"])
def test_ca_directory_choice(kind, tmp_path):
    from secumail.certs import ca
    from secumail.errors import ConfigError

    s = _settings(tmp_path)
    s = dataclasses.replace(s, ssl=dataclasses.replace(s.ssl, type=kind))
    if kind == "acme":
        with pytest.raises(ConfigError, match="acme.directory: '' is required"):
            ca.directory_for(s)
        s = dataclasses.replace(s, acme=dataclasses.replace(s.acme, directory="https://ca.test/dir"))
        assert ca.directory_for(s) == "https://ca.test/dir"
    else:
        assert ca.directory_for(s).startswith("https://acme")
