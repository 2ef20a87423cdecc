"""`mailctl --json status` with the container up, and the agent's memory, over both LXC backends.

Run as root: python bench/status.py (a real container, tests/integration/lxcworld.py, on its own
bridge; about a minute). For each backend (SECUMAIL_LXC_BACKEND=binding|commands):
- `mailctl --json status` wall time, median of N runs, without a daemon (the CLI asks LXC itself)
  and through a running secumaild (one control-socket round trip);
- secumaild's RSS and PSS once idle, after 100 status requests (the agent asks LXC in-process);
- the container's monitor process: started by lxc-start, or forked from a Python worker by
  python3-lxc's own start (why the binding backend starts through lxc-start when it can).
The package is byte-compiled first, as the OpenWrt package ships it. N from $STATUS_BENCH_RUNS (20).
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, REPO)
sys.path.insert(0, BENCH)

from results import summary_ms, update_section, wall_times  # noqa: E402

from secumail.container import lxc_binding  # noqa: E402
from secumail.container.runtime import RUNNING, Container  # noqa: E402
from tests.integration.lxcworld import lxc_world  # noqa: E402
from tests.support.wait import wait_until  # noqa: E402

RUNS = int(os.environ.get("STATUS_BENCH_RUNS", "20"))
BACKENDS = ("binding", "commands")
GOAL_MS = 100


def write_config(conf: str, root: str, world) -> None:  # noqa: ANN001
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "mailserver"), "w", encoding="utf-8") as handle:
        handle.write(
            f"config mailserver 'main'\n\toption enabled '1'\n\toption data_path '{root}/data'\n"
            f"\toption container '{world.spec.name}'\n\n"
            f"config container 'container'\n\toption lxc_path '{world.spec.lxcpath}'\n"
            f"\toption bridge '{world.spec.bridge}'\n\toption host_address '{world.spec.bridge_address}'\n"
            f"\toption address '{world.spec.address}'\n\n"
            "config features 'features'\n\toption fail2ban '0'\n\toption dkim '0'\n"
        )


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of `pid` in kB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def monitor_pid(container: Container) -> int:
    with open(f"/proc/{container.pid()}/stat", encoding="ascii") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def cli_times(conf: str, env: dict[str, str]) -> list[float]:
    mailctl = shutil.which("mailctl", path=os.path.dirname(sys.executable))
    argv = [mailctl] if mailctl else [sys.executable, "-m", "secumail.cli"]
    out = subprocess.run([*argv, "--json", "--confdir", conf, "status"], env=env, capture_output=True, text=True)
    state = json.loads(out.stdout)["container"]["state"]
    if state != RUNNING:
        raise SystemExit(f"status says the container is {state!r}: {out.stderr.strip()}")
    return wall_times([*argv, "--json", "--confdir", conf, "status"], RUNS, env)


def with_daemon(conf: str, env: dict[str, str]) -> dict:
    """Start secumaild on `conf`, poll status through it, read its memory, stop it."""
    from secumail.daemon.client import call

    os.environ["SECUMAIL_RUNDIR"] = env["SECUMAIL_RUNDIR"]  # the client's socket
    argv = [sys.executable, "-m", "secumail.daemon", "--foreground", "--confdir", conf, "--stderr",
            "--reconcile-interval", "3600"]  # fmt: skip
    log = open(os.path.join(env["SECUMAIL_RUNDIR"] + ".log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    try:
        wait_until(lambda: call("daemon.info"), timeout=10, what="secumaild answering")
        for _ in range(300):  # the first reconcile's jobs (config deploy) run in workers: let them end
            if call("daemon.info")["jobs_running"] == 0:
                break
            time.sleep(0.1)
        answers = []
        for _ in range(100):
            started = time.perf_counter()
            call("status", {"confdir": conf})
            answers.append(time.perf_counter() - started)
        rss, pss = memory_kb(proc.pid)
        times = cli_times(conf, env)
        return {"rss": rss, "pss": pss, "times": times, "answers": answers}
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def exec_times(world, backend: str) -> list[float]:  # noqa: ANN001
    """Wall time of `true` run inside the container (what deploy, reload and queue commands pay)."""
    container = Container.from_spec(world.spec, backend=backend)
    times = []
    for _ in range(50):
        started = time.perf_counter()
        container.exec(["true"], check=True)
        times.append(time.perf_counter() - started)
    return times


def monitor_memory(world, backend: str) -> tuple[int, int]:  # noqa: ANN001
    """(RSS, PSS) kB of the monitor: lxc-start's, or one forked by python3-lxc from a worker-sized process."""
    container = Container.from_spec(world.spec, backend="commands")
    container.stop()
    if backend == "commands":
        container.start()
    else:
        code = (f"import sys; sys.path.insert(0, {REPO!r}); import secumail.cli, secumail.daemon.agent; "
                "from secumail.container.runtime import Container; "
                f"c = Container({world.spec.name!r}, {world.spec.lxcpath!r}, backend='binding'); "
                "sys.exit(c.backend.start_in_process() is not None)")  # fmt: skip
        subprocess.run([sys.executable, "-c", code], check=True)
        container._wait(RUNNING, 30)
    time.sleep(1)
    return memory_kb(monitor_pid(container))


def main() -> None:
    compileall.compile_dir(os.path.join(REPO, "secumail"), quiet=1)
    if lxc_binding.load() is None:
        raise SystemExit(f"python3-lxc is not importable ({lxc_binding.why_missing()}): make deps venv")
    root = tempfile.mkdtemp(prefix="secumail-status-bench-")
    rows: dict[str, dict] = {}
    try:
        with lxc_world(name="smstat", bridge="smstat0", subnet="10.227.0", memory_mb=128) as world:
            conf = os.path.join(root, "conf")
            write_config(conf, root, world)
            for backend in BACKENDS:
                env = dict(os.environ, PYTHONPATH=REPO, SECUMAIL_LXC_BACKEND=backend,
                           SECUMAIL_RUNDIR=os.path.join(root, f"run-{backend}"),
                           SECUMAIL_SAVEDIR=os.path.join(root, "save"))  # fmt: skip
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                row = rows[backend] = {"cli": cli_times(conf, env)}
                row["daemon"] = with_daemon(conf, env)
                row["exec"] = exec_times(world, backend)
                row["monitor"] = monitor_memory(world, backend)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = ["| | python3-lxc (binding) | lxc-* commands |", "| --- | --- | --- |"]

    def row(label: str, cell) -> None:  # noqa: ANN001
        lines.append(f"| {label} | " + " | ".join(cell(rows[b]) for b in BACKENDS) + " |")

    row("`mailctl --json status`, no daemon", lambda r: summary_ms(r["cli"]))
    row("`mailctl --json status` through secumaild", lambda r: summary_ms(r["daemon"]["times"]))
    row("status request answered by secumaild (control socket round trip)",
        lambda r: summary_ms(r["daemon"]["answers"]))
    row("`exec(['true'])` in the container", lambda r: summary_ms(r["exec"]))
    row("secumaild RSS / PSS, idle after 100 status requests",
        lambda r: f"{r['daemon']['rss'] / 1024:.1f} / {r['daemon']['pss'] / 1024:.1f} MiB")
    row("container monitor RSS / PSS (lxc-start vs python3-lxc's own start from a worker)",
        lambda r: f"{r['monitor'][0] / 1024:.1f} / {r['monitor'][1] / 1024:.1f} MiB")
    best = min(statistics.median(rows[b]["cli"]) for b in BACKENDS) * 1000
    lines += ["", f"The container is running (own bridge, {RUNS} runs each, bytecode compiled). "
              f"Goal ≤ {GOAL_MS} ms median: {'met' if best <= GOAL_MS else 'missed'} "
              f"(best {best:.1f} ms)."]  # fmt: skip
    body = "\n".join(lines)
    update_section("status-backends", "mailctl status and agent memory: python3-lxc vs lxc-* commands", body)
    print(body)


if __name__ == "__main__":
    main()
