"""Mesh backup beside borgbackup and restic on one maildir, in one run; then peer sync speed.

    python3 bench/mesh_backup.py [--messages 20000] [--double] [--no-sync] [--workdir /var/tmp/secumail-bench]
                                 [--save RUN.json] [--runs RUN1.json RUN2.json ...]

1. A maildir corpus of N messages (tests/support/maildir.py; cached in the workdir, never in
   the repo), copied to a work tree that all three tools back up (same bytes, same paths).
2. Full backup with each tool, then the corpus mutated once (1% new messages, 5% flag
   renames, 0.5% deletes), then an incremental backup with each tool, then each tool
   restores its latest snapshot into an empty directory (`mailctl mesh restore --target`,
   `borg extract`, `restic restore`).
   Page cache: before every measured run the whole tree (for a restore: the repository)
   is read once, so every tool starts warm (nothing is dropped: other benchmarks may
   share the machine).
   Measured: wall time, bytes the repository grew by (restore: files and bytes written),
   peak RSS (/usr/bin/time -v).
3. --double: secumail full backup of a 2N-message tree, to see whether RSS stays flat.
4. Sync: node A (holding the secumail repository) and node B in two network namespaces
   on a bridge made here (smtbb0, 10.239.9.0/24, no default route); B runs
   `mailctl mesh sync pull`: MB/s; then a pull killed (-9) mid-way and rerun:
   completed files sent again.
Writes the "mesh_backup" section of bench/RESULTS.md. --save keeps one run's figures as JSON;
--runs writes the section from several saved runs (the machine is shared: runs differ), measuring nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
from results import update_section  # noqa: E402

from tests.support import maildir as corpus  # noqa: E402

PASS = "bench-passphrase-not-secret"  # noqa: S105 - a throwaway bench repository


def sh(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, env=env)


def du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def count_files(path: str) -> int:
    return sum(len(files) for _dirs, _subdirs, files in os.walk(path))


def warm(path: str) -> None:
    """Read every file once, so each tool starts with the same (warm) page cache."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as handle:
                    while handle.read(1 << 20):
                        pass
            except OSError:
                pass


def timed(argv: list[str], env: dict | None = None) -> dict:
    """Wall seconds and peak RSS (MiB) of argv, via /usr/bin/time -v."""
    start = time.perf_counter()
    # cwd: `python -m secumail.cli` imports the checkout this script is in, not another one at cwd
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"seconds": wall, "rss_mib": rss / 1024, "stdout": proc.stdout}


def maildir(workdir: str, messages: int) -> str:
    path = os.path.join(workdir, f"m{messages}")
    if not os.path.isdir(path):
        tmp = path + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        corpus.create(tmp, messages=messages, users=20, seed=1)
        os.rename(tmp, path)
    return path


def excludes(data: str) -> list[str]:
    """borg's and restic's excludes: what secumail leaves out too (repositories, the local cache)."""
    return [arg for path in ("backup", "mesh/cache.db*") for arg in ("--exclude", os.path.join(data, path))]


class Secumail:
    name = "secumail"

    def __init__(self, work: str, data: str) -> None:
        self.conf = os.path.join(work, "secumail-conf")
        os.makedirs(self.conf, exist_ok=True)
        with open(os.path.join(self.conf, "mailserver"), "w") as handle:
            handle.write(f"\nconfig mailserver 'main'\n\toption domain 'bench.example.org'\n"
                         f"\toption data_path '{data}'\n")  # fmt: skip
        self.env = dict(os.environ, SECUMAIL_CONFDIR=self.conf, SECUMAIL_SAVEDIR=os.path.join(work, "save"),
                        PYTHONPATH=ROOT)  # fmt: skip
        self.repo = os.path.join(data, "backup", "repo")
        self.data = data

    def init(self) -> None:
        pass

    def backup(self, label: str) -> dict:
        out = timed([sys.executable, "-m", "secumail.cli", "--json", "mesh", "backup"], env=self.env)
        out["detail"] = json.loads(out.pop("stdout"))
        return out

    def restore(self, target: str) -> dict:
        out = timed([sys.executable, "-m", "secumail.cli", "--json", "mesh", "restore", "--target", target],
                    env=self.env)  # fmt: skip
        out.pop("stdout")
        return out


class Borg:
    name = "borg"

    def __init__(self, work: str, data: str) -> None:
        self.repo = os.path.join(work, "borg-repo")
        self.data = data
        self.env = dict(os.environ, BORG_PASSPHRASE=PASS, BORG_BASE_DIR=os.path.join(work, "borg-home"),
                        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")  # fmt: skip

    def init(self) -> None:
        sh("borg", "init", "--encryption", "repokey-blake2", self.repo, env=self.env)

    def backup(self, label: str) -> dict:
        out = timed(["borg", "create", "--compression", "zstd,3", *excludes(self.data),
                     f"{self.repo}::{label}", self.data], env=self.env)  # fmt: skip
        out.pop("stdout")
        return out

    def restore(self, target: str) -> dict:
        # borg extracts into the working directory
        out = timed(["sh", "-c", 'cd "$1" && exec borg extract "$2"', "sh", target, f"{self.repo}::incremental"],
                    env=self.env)  # fmt: skip
        out.pop("stdout")
        return out


class Restic:
    name = "restic"

    def __init__(self, work: str, data: str) -> None:
        self.repo = os.path.join(work, "restic-repo")
        self.data = data
        self.env = dict(os.environ, RESTIC_PASSWORD=PASS, RESTIC_REPOSITORY=self.repo,
                        RESTIC_CACHE_DIR=os.path.join(work, "restic-cache"))  # fmt: skip

    def init(self) -> None:
        sh("restic", "init", env=self.env)

    def backup(self, label: str) -> dict:
        out = timed(["restic", "backup", "--quiet", *excludes(self.data), self.data], env=self.env)
        out.pop("stdout")
        return out

    def restore(self, target: str) -> dict:
        out = timed(["restic", "restore", "--quiet", "latest", "--target", target], env=self.env)
        out.pop("stdout")
        return out


def run_tools(work: str, source: str, tools: list[str]) -> tuple[dict, int, int]:
    data = os.path.join(work, "data")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(source, data, symlinks=True)
    classes = {"secumail": Secumail, "borg": Borg, "restic": Restic}
    objs = [classes[t](work, data) for t in tools]
    results: dict = {t: {} for t in tools}
    size_full = du(data)
    for phase in ("full", "incremental"):
        if phase == "incremental":
            corpus.mutate(data, percent=1, seed=2)
        for tool in objs:
            if phase == "full":
                tool.init()
            before = du(tool.repo)
            warm(data)
            res = tool.backup(phase)
            res["written"] = du(tool.repo) - before
            results[tool.name][phase] = res
            print(f"{tool.name} {phase}: {res['seconds']:.2f} s, {res['written'] / 1e6:.1f} MB written, "
                  f"RSS {res['rss_mib']:.1f} MiB", flush=True)  # fmt: skip
    for tool in objs:
        target = os.path.join(work, f"restore-{tool.name}")
        os.makedirs(target)
        warm(tool.repo)
        res = tool.restore(target)
        res["files"], res["written"] = count_files(target), du(target)
        shutil.rmtree(target)
        results[tool.name]["restore"] = res
        print(f"{tool.name} restore: {res['seconds']:.2f} s, {res['files']} files, {res['written'] / 1e6:.1f} MB, "
              f"RSS {res['rss_mib']:.1f} MiB", flush=True)  # fmt: skip
    return results, size_full, du(data) - du(os.path.join(data, "backup"))


# sync between two namespaces -----------------------------------------------------------
BR, NET = "smtbb0", "10.239.9"


def ns_setup() -> None:
    ns_teardown()
    sh("ip", "link", "add", BR, "type", "bridge")
    sh("ip", "link", "set", BR, "up")
    for i, name in ((1, "a"), (2, "b")):
        ns = f"smtb-{name}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"smtb-{name}0", "type", "veth", "peer", "name", f"smtb-{name}1")
        sh("ip", "link", "set", f"smtb-{name}0", "master", BR, "up")
        sh("ip", "link", "set", f"smtb-{name}1", "netns", ns)
        sh("ip", "-n", ns, "addr", "add", f"{NET}.{i}/24", "dev", f"smtb-{name}1")
        sh("ip", "-n", ns, "link", "set", f"smtb-{name}1", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def ns_teardown() -> None:
    for name in ("a", "b"):
        sh("ip", "netns", "del", f"smtb-{name}", check=False)
        sh("ip", "link", "del", f"smtb-{name}0", check=False)
    sh("ip", "link", "del", BR, check=False)


def mailctl(ns: str, env: dict, *args: str) -> dict:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "secumail.cli", "--json", *args],
                          capture_output=True, text=True, env=env)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"mailctl {' '.join(args)}: {proc.stderr}")
    return json.loads(proc.stdout)


def sync_bench(work: str, node_a: Secumail) -> dict:
    conf_b, data_b = os.path.join(work, "b-conf"), os.path.join(work, "b-data")
    os.makedirs(conf_b, exist_ok=True)
    os.makedirs(data_b, exist_ok=True)
    with open(os.path.join(conf_b, "mailserver"), "w") as handle:
        handle.write(f"\nconfig mailserver 'main'\n\toption domain 'b.example.org'\n\toption data_path '{data_b}'\n")
    env_b = dict(os.environ, SECUMAIL_CONFDIR=conf_b, SECUMAIL_SAVEDIR=os.path.join(work, "b-save"), PYTHONPATH=ROOT)
    ns_setup()
    server = None
    try:
        id_a = mailctl("smtb-a", node_a.env, "mesh", "id")["node_id"]
        id_b = mailctl("smtb-b", env_b, "mesh", "id")["node_id"]
        mailctl("smtb-a", node_a.env, "mesh", "add-peer", id_b, f"{NET}.2:7022")
        mailctl("smtb-b", env_b, "mesh", "add-peer", id_a, f"{NET}.1:7022")
        log = open(os.path.join(work, "sftpd-a.log"), "ab")  # noqa: SIM115
        server = subprocess.Popen(["ip", "netns", "exec", "smtb-a", sys.executable, "-m", "secumail.mesh.sftpd",
                                   "--listen", f"{NET}.1"], env=node_a.env, stdout=log, stderr=log)  # fmt: skip
        time.sleep(1.5)
        store = os.path.join(data_b, "backup", "peers", id_a)
        warm(node_a.repo)
        row = mailctl("smtb-b", env_b, "mesh", "sync", "pull", "--peer", id_a)[0]
        full = {"bytes": row["bytes"], "seconds": row["seconds"], "files": row["files"]}
        # cut: a fresh copy, the pull killed -9 once half the bytes landed, then rerun
        shutil.rmtree(store)
        proc = subprocess.Popen(["ip", "netns", "exec", "smtb-b", sys.executable, "-m", "secumail.cli", "mesh",
                                 "sync", "pull", "--peer", id_a, "--bwlimit", "51200"], env=env_b,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        def landed_bytes() -> int:
            return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs
                       if not f.startswith("."))  # fmt: skip

        while landed_bytes() < full["bytes"] // 2 and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed = [f for _, _, fs in os.walk(store) for f in fs if not f.startswith(".")]
        rerun = mailctl("smtb-b", env_b, "mesh", "sync", "pull", "--peer", id_a)[0]
        resent = rerun["files"] - (full["files"] - len(landed))
        return {**full, "landed_before_cut": len(landed), "rerun_files": rerun["files"], "resent": resent}
    finally:
        if server is not None:
            server.kill()
            server.wait()
        ns_teardown()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--workdir", default="/var/tmp/secumail-bench")
    parser.add_argument("--tools", default="secumail,borg,restic")
    parser.add_argument("--double", action="store_true", help="also a secumail full backup of 2x the messages")
    parser.add_argument("--no-sync", action="store_true")
    parser.add_argument("--save", help="also write this run's figures to a JSON file")
    parser.add_argument("--runs", nargs="+", help="write the section from these saved runs; measure nothing")
    args = parser.parse_args()
    if args.runs:
        runs = []
        for path in args.runs:
            with open(path) as handle:
                runs.append(json.load(handle))
        write_section(runs)
        return 0
    tools = args.tools.split(",")
    started = time.strftime("%H:%M UTC", time.gmtime())
    os.makedirs(args.workdir, exist_ok=True)
    source = maildir(args.workdir, args.messages)
    work = os.path.join(args.workdir, "run")
    results, size, _ = run_tools(work, source, tools)
    double = None
    if args.double:
        source2 = maildir(args.workdir, args.messages * 2)
        work2 = os.path.join(args.workdir, "run2")
        shutil.rmtree(work2, ignore_errors=True)
        os.makedirs(work2)
        data2 = os.path.join(work2, "data")
        shutil.copytree(source2, data2, symlinks=True)
        node2 = Secumail(work2, data2)
        size2 = du(data2)
        warm(data2)
        double = node2.backup("full")
        double["size"] = size2
        shutil.rmtree(work2, ignore_errors=True)
        print(f"secumail full of {args.messages * 2}: {double['seconds']:.2f} s, RSS {double['rss_mib']:.1f} MiB")
    sync = None
    if not args.no_sync and "secumail" in tools:
        sync = sync_bench(work, Secumail(work, os.path.join(work, "data")))
        print(f"sync: {sync}")
    run = {"messages": args.messages, "size": size, "results": results, "double": double, "sync": sync,
           "started": started}  # fmt: skip
    if args.save:
        with open(args.save, "w") as handle:
            json.dump(run, handle, indent=1)
    write_section([run])
    return 0


def _goals(runs: list[dict]) -> list[str]:
    """One line per goal, judged in every run; a run that did not measure a goal (--no-sync, --tools) is left out."""

    def each(judge) -> str:  # noqa: ANN001
        marks = [judge(r) for r in runs]
        measured = [m for m in marks if m is not None]
        if not measured:
            return "not measured"
        skipped = f" ({len(marks) - len(measured)} run(s) did not measure it)" if len(measured) < len(marks) else ""
        if all(measured) and not skipped:
            return "met in every run"
        return f"met in {sum(measured)} of {len(measured)} runs{skipped}"

    def ours(r: dict) -> dict | None:
        return r["results"].get("secumail")

    def ratio(r: dict, phase: str, other: str) -> float | None:
        """secumail's time over the other tool's, for one phase (None when either was not measured)."""
        mine, theirs = ours(r), r["results"].get(other)
        if mine is None or theirs is None or phase not in mine or phase not in theirs:
            return None
        return mine[phase]["seconds"] / theirs[phase]["seconds"]

    def half_of_restic(phase: str):  # noqa: ANN202
        def judge(r: dict) -> bool | None:
            value = ratio(r, phase, "restic")
            return None if value is None else value <= 0.5

        return judge

    def restore_ok(r: dict) -> bool | None:
        values = [ratio(r, "restore", other) for other in ("borg", "restic")]
        measured = [v for v in values if v is not None]
        return None if not measured else all(v < 1 for v in measured)

    def incremental_ok(r: dict) -> bool | None:
        return None if ours(r) is None else ours(r)["incremental"]["seconds"] <= 3

    def rss_ok(r: dict) -> bool | None:
        if ours(r) is None:
            return None
        rss = ours(r)["full"]["rss_mib"]
        return rss <= 64 and (r["double"] is None or r["double"]["rss_mib"] <= max(64.0, rss * 1.05))

    def speed_ok(r: dict) -> bool | None:
        return None if not r["sync"] else r["sync"]["bytes"] / 1e6 / r["sync"]["seconds"] >= 80

    def resume_ok(r: dict) -> bool | None:
        return None if not r["sync"] else r["sync"]["resent"] == 0

    return [
        "Goals:",
        f"- full backup ≤ 0.5 × restic's time: {each(half_of_restic('full'))}.",
        f"- incremental ≤ 0.5 × restic's time: {each(half_of_restic('incremental'))}.",
        f"- incremental ≤ 3 s: {each(incremental_ok)}.",
        f"- restore faster than both `borg extract` and `restic restore`: {each(restore_ok)}.",
        f"- peak RSS ≤ 64 MiB and flat (within 5%) when the maildir doubles: {each(rss_ok)}.",
        f"- sync ≥ 80 MB/s: {each(speed_ok)}; 0 completed files resent after a cut: {each(resume_ok)}.",
    ]


def write_section(runs: list[dict]) -> None:
    """The section from one or more runs: one table per run, then the comparisons per run."""
    mb = 1e6
    messages, size = runs[0]["messages"], runs[0]["size"]
    lines = [
        f"Maildir: `python -m tests.support.maildir OUT --messages {messages} --users 20 --seed 1` "
        f"({size / mb:.0f} MB), then `--mutate 1 --seed 2` (1% new, 5% flag renames, 0.5% deletes) for the "
        "incremental run, then each tool restores its latest snapshot into an empty directory "
        "(`mailctl mesh restore --target`, `borg extract`, `restic restore`). All tools back up "
        "the same tree in the same run (all three leave out `backup/` and `mesh/cache.db*`; secumail also its two "
        "run-time files `mesh/state` and `mesh/.node.lock`), each after the "
        "whole tree (for a restore: its repository) was read once (warm page cache for all). "
        "secumail (repository format 2): zstd level 1 (the `zstandard` module is installed here; on OpenWrt it "
        "is zlib), ChaCha20-Poly1305, keyed BLAKE2b object ids, objects of at most 1 MiB, 8 MiB packs; two "
        "threads read, seal and write packs, small files handed to them 64 at a time. "
        "borg 1.2.4: `repokey-blake2`, `--compression zstd,3`. restic 0.14.0: defaults (AES-256-CTR + Poly1305, "
        "zstd auto). Time is wall time of the whole command; RSS from /usr/bin/time -v. "
        f"{len(runs)} run(s) of `bench/mesh_backup.py --double` on this shared 2-core VM (other engineers' tests "
        "ran at the same time), each shown on its own.",
        "",
    ]
    for number, run in enumerate(runs, 1):
        results, double, sync = run["results"], run["double"], run["sync"]
        when = f", started {run['started']}" if run.get("started") else ""
        lines += [f"**Run {number}**{when}", "", "| tool | phase | time (s) | MB/s | written (MB) | peak RSS (MiB) |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for tool, phases in results.items():
            for phase, r in phases.items():
                speed = {"full": f"{size / mb / r['seconds']:.1f}",
                         "restore": f"{r['written'] / mb / r['seconds']:.1f}"}.get(phase, "–")  # fmt: skip
                lines.append(f"| {tool} | {phase} | {r['seconds']:.2f} | {speed} | {r['written'] / mb:.1f} | "
                             f"{r['rss_mib']:.1f} |")  # fmt: skip
        lines.append("")
        if "secumail" in results:
            s = results["secumail"]
            for other in ("borg", "restic"):
                if other in results:
                    o = results[other]
                    times = ", ".join(f"{phase} {s[phase]['seconds'] / o[phase]['seconds']:.2f}"
                                      for phase in ("full", "incremental", "restore") if phase in s and phase in o)
                    rss = s["full"]["rss_mib"] / o["full"]["rss_mib"]
                    lines.append(f"- secumail's time / {other}'s: {times}; peak RSS {rss:.2f}x of {other}'s (full).")
            d = s["incremental"]["detail"]
            lines.append(f"- secumail incremental read {d['files_read']} of {d['files']} files and stored "
                         f"{d['new_objects']} new objects ({d['new_bytes'] / mb:.1f} MB before "
                         "compression).")  # fmt: skip
        if double:
            lines.append(f"- RSS vs maildir size: secumail full backup of {messages * 2} messages "
                         f"({double['size'] / mb:.0f} MB): "
                         f"{double['seconds']:.1f} s, peak RSS {double['rss_mib']:.1f} MiB (vs "
                         f"{results['secumail']['full']['rss_mib']:.1f} MiB at {messages}).")  # fmt: skip
        if sync:
            lines.append(f"- Sync (`mesh sync pull`, B pulls A's repository between two namespaces on one veth "
                         f"bridge, paramiko SFTP with pipelined reads): {sync['bytes'] / mb:.0f} MB in "
                         f"{sync['seconds']:.2f} s = {sync['bytes'] / mb / sync['seconds']:.1f} MB/s. A pull killed -9 "
                         f"after half the bytes ({sync['landed_before_cut']} files landed) and rerun sent "
                         f"{sync['rerun_files']} files: {sync['resent']} completed files sent again.")  # fmt: skip
        lines.append("")
    lines += _goals(runs)
    update_section("mesh_backup", "Mesh backup: secumail beside borgbackup and restic", "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
