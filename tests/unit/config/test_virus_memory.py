"""features.virus_scan needs ClamAV's memory: container.memory auto grows by it, a smaller limit or host
is refused in one line and nothing is written."""

from __future__ import annotations

import pytest

from secumail.config import uci_paths
from secumail.config.settings import (
    BASE_MEMORY_MB,
    SPAM_FILTER_MEMORY_MB,
    VIRUS_SCAN_MEMORY_MB,
    default_package,
    settings_from_package,
    virus_scan_refusal,
)
from secumail.errors import ConfigError, InputError
from secumail.system import memory

NEED = SPAM_FILTER_MEMORY_MB + VIRUS_SCAN_MEMORY_MB


@pytest.mark.parametrize(("spam_filter", "want"), [("1", NEED), ("0", BASE_MEMORY_MB + VIRUS_SCAN_MEMORY_MB)])
def test_container_memory_auto_adds_what_clamav_needs(spam_filter, want):
    package = default_package()
    package["features"].update({"virus_scan": "1", "spam_filter": spam_filter})
    assert settings_from_package(package).container.memory == want


def test_a_container_limit_below_clamavs_need_is_refused_in_one_line():
    package = default_package()
    package["features"]["virus_scan"] = "1"
    package["container"]["memory"] = "1024"
    with pytest.raises(ConfigError) as exc:
        settings_from_package(package)
    message = str(exc.value)
    assert message == (f"mailserver.container.memory: '1024' MiB is too small for features.virus_scan 1: "
                       f"ClamAV and the other services need {NEED} MiB, the limit is 1024 MiB: set it to "
                       f"'auto' or {NEED}, or set features.virus_scan 0")
    package["container"]["memory"] = str(NEED)
    assert settings_from_package(package).container.memory == NEED


def test_a_host_below_the_need_is_refused_with_both_figures():
    package = default_package()
    package["features"]["virus_scan"] = "1"
    settings = settings_from_package(package)
    assert virus_scan_refusal(settings, host_mb=NEED) is None
    assert virus_scan_refusal(settings, host_mb=1000) == (
        f"mailserver.features.virus_scan: '1' needs {NEED} MiB of memory (ClamAV with the official signatures "
        f"and the other services), this host has 1000 MiB")
    package["features"]["virus_scan"] = "0"
    assert virus_scan_refusal(settings_from_package(package), host_mb=100) is None


def test_host_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        1015808 kB\nMemFree:          512000 kB\n")
    assert memory.host_memory_mb(str(meminfo)) == 992
    assert memory.host_memory_mb(str(tmp_path / "missing")) is None


def _config(tmp_path):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "mailserver").write_text("\nconfig features 'features'\n\toption virus_scan '0'\n")
    return conf


def test_config_set_on_a_small_host_refuses_and_writes_nothing(tmp_path, monkeypatch):
    conf = _config(tmp_path)
    monkeypatch.setenv("SECUMAIL_SAVEDIR", str(tmp_path / "save"))
    before = (conf / "mailserver").read_text()
    monkeypatch.setattr(memory, "host_memory_mb", lambda: 1000)
    with pytest.raises(InputError) as exc:
        uci_paths.set_value(str(conf), "mailserver.features.virus_scan", "1")
    assert str(exc.value) == (f"mailserver.features.virus_scan: '1' needs {NEED} MiB of memory (ClamAV with the "
                              f"official signatures and the other services), this host has 1000 MiB; nothing "
                              f"was saved")
    assert (conf / "mailserver").read_text() == before
    assert not (tmp_path / "save" / "mailserver").exists()
    monkeypatch.setattr(memory, "host_memory_mb", lambda: NEED)  # enough: saved
    uci_paths.set_value(str(conf), "mailserver.features.virus_scan", "1")
    assert "option virus_scan '1'" in (conf / "mailserver").read_text()


def test_config_set_with_a_small_container_limit_refuses_and_writes_nothing(tmp_path, monkeypatch):
    conf = _config(tmp_path)
    monkeypatch.setenv("SECUMAIL_SAVEDIR", str(tmp_path / "save"))
    monkeypatch.setattr(memory, "host_memory_mb", lambda: 64 * 1024)
    uci_paths.set_value(str(conf), "mailserver.container.memory", "512")
    before = (conf / "mailserver").read_text()
    with pytest.raises(InputError) as exc:
        uci_paths.set_value(str(conf), "mailserver.features.virus_scan", "1")
    assert str(exc.value).startswith("mailserver.container.memory: '512' MiB is too small for features.virus_scan 1")
    assert str(exc.value).endswith("; nothing was saved")
    assert (conf / "mailserver").read_text() == before
