"""bench/mesh_backup.py writes its RESULTS.md section whatever parts of the run were skipped."""

import importlib.util
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench")


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    spec = importlib.util.spec_from_file_location("mesh_backup_under_test", os.path.join(BENCH, "mesh_backup.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = sys.modules["results"]
    monkeypatch.setattr(results, "RESULTS", str(tmp_path / "RESULTS.md"))
    return module, tmp_path / "RESULTS.md"


def phase(seconds, rss=40.0, written=1e6):
    return {"seconds": seconds, "rss_mib": rss, "written": written}


def run(sync=None, tools=("secumail", "borg", "restic")):
    results = {t: {"full": phase(5.0), "incremental": phase(1.0)} for t in tools}
    if "secumail" in results:
        results["secumail"]["incremental"]["detail"] = {"files_read": 3, "files": 100, "new_objects": 4,
                                                        "new_bytes": 2e6}  # fmt: skip
    return {"messages": 200, "size": 5e6, "results": results, "double": None, "sync": sync, "started": "09:00 UTC"}


def test_no_sync_run_writes_its_section(bench):
    module, results = bench
    module.write_section([run()])
    text = results.read_text()
    assert "<!-- bench:mesh_backup -->" in text
    assert "sync ≥ 80 MB/s: not measured" in text
    assert "Sync (" not in text


def test_runs_with_and_without_sync_are_told_apart(bench):
    module, results = bench
    synced = run(sync={"bytes": 400e6, "seconds": 4.0, "files": 30, "landed_before_cut": 10, "rerun_files": 20,
                       "resent": 0})  # fmt: skip
    module.write_section([synced, run()])
    text = results.read_text()
    assert "sync ≥ 80 MB/s: met in 1 of 1 runs (1 run(s) did not measure it)" in text


def test_borg_and_restic_only(bench):
    module, results = bench
    module.write_section([run(tools=("borg", "restic"))])
    assert "incremental ≤ 3 s: not measured" in results.read_text()
