"""Several processes committing to the same config never lose an update."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from secumail.uci import Uci

WORKERS = 4
ROUNDS = 15


def _worker(confdir: str, savedir: str, worker: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    for i in range(ROUNDS):
        u = Uci(confdir=confdir, savedir=savedir)
        u.set("test", "main", f"w{worker}_{i}", str(i))
        u.set("test", "main", f"last{worker}", str(i))
        if i % 3 == 0:
            u.add("test", f"rule{worker}")
        u.commit("test")


def test_concurrent_commits_lose_nothing(dirs: tuple) -> None:
    confdir, savedir = dirs
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_worker, args=(str(confdir), str(savedir), w, barrier))
             for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS

    u = Uci(confdir=str(confdir), savedir=str(savedir))
    main = u.get_all("test", "main")
    for w in range(WORKERS):
        assert main[f"last{w}"] == str(ROUNDS - 1)
        for i in range(ROUNDS):
            assert main[f"w{w}_{i}"] == str(i)
        rules = [s for s in u.get("test").values() if s[".type"] == f"rule{w}"]
        assert len(rules) == len(range(0, ROUNDS, 3))
    # everything is in the file itself, nothing left pending
    assert (Path(savedir) / "test").read_bytes() == b""
    assert not [p for p in Path(confdir).iterdir() if p.name.startswith(".")]
