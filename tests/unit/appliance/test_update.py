"""The pure parts of `mailctl update`: the state file, the rollback generation, the candidate's address,
the self-test's error lines."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from secumail.appliance import selftest, updatestate
from secumail.appliance.updatestate import UpdateState
from secumail.config.layout import DataLayout
from secumail.errors import InputError

STATE = UpdateState(previous_generation="20261206-140000-0", generation="20261206-141500-0", source="build",
                    switched_at="2026-12-06T14:15:00+00:00")  # fmt: skip


def test_state_round_trips_and_lives_in_data_path(tmp_path):
    path = DataLayout(str(tmp_path)).update_state
    assert path == str(tmp_path / "update.json")
    assert updatestate.load(path) is None  # no update ran yet
    updatestate.save(path, STATE)
    assert updatestate.load(path) == STATE


def test_a_damaged_state_file_is_one_error_naming_it(tmp_path):
    path = tmp_path / "update.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="update.json: unreadable update state"):
        updatestate.load(str(path))


def test_image_dirs_sit_beside_the_rootfs():
    assert updatestate.image_dirs("/srv/lxc/mail/rootfs") == {
        "current": "/srv/lxc/mail/rootfs", "previous": "/srv/lxc/mail/rootfs.previous",
        "next": "/srv/lxc/mail/rootfs.next"}  # fmt: skip


@pytest.mark.parametrize(("state", "live", "existing", "wanted"), [
    (STATE, "20261206-141500-0", {"20261206-140000-0", "20261206-141500-0"}, "20261206-140000-0"),
    (STATE, "20261206-140000-0", {"20261206-140000-0"}, None),  # already live
    (STATE, "20261206-150000-0", {"20261206-150000-0"}, None),  # pruned by later configures: keep the live one
    (None, "20261206-141500-0", {"20261206-141500-0"}, None),  # no update ran
])  # fmt: skip
def test_rollback_generation(state, live, existing, wanted):
    assert updatestate.rollback_generation(state, live, existing) == wanted


def test_candidate_address_is_a_free_high_host_of_the_network():
    host, ct = ipaddress.IPv4Interface("10.231.0.1/24"), ipaddress.IPv4Interface("10.231.0.2/24")
    assert str(updatestate.candidate_address(host, ct)) == "10.231.0.254/24"
    taken = ipaddress.IPv4Interface("10.231.0.254/24")
    assert str(updatestate.candidate_address(host, taken)) == "10.231.0.253/24"
    with pytest.raises(InputError, match="no free address"):
        updatestate.candidate_address(ipaddress.IPv4Interface("10.0.0.1/30"), ipaddress.IPv4Interface("10.0.0.2/30"))


def test_a_silent_port_fails_the_banner_step_in_one_line():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(selftest.SelfTestFailed) as caught:
            selftest.wait_banner("127.0.0.1", port, timeout=0.5)
    assert caught.value.step == "SMTP banner"
    assert str(caught.value).startswith(f"SMTP banner: none from 127.0.0.1:{port} within")
    assert "\n" not in str(caught.value)


def test_a_refused_config_check_names_the_tool():
    class Refusing:
        def exec(self, args, input=None):
            class Result:
                returncode, stdout, stderr = 1, "", "postconf: fatal: /gen/postfix/main.cf, line 3: bad"
            return Result()

    with pytest.raises(selftest.SelfTestFailed, match=r"^config check: new mail config refused by postconf: .*line 3"):
        selftest.check_config(Refusing(), "/gen", dkim=False, spam=False, dmarc=False)
