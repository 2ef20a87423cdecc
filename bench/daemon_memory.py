"""secumaild's resident memory: idle after a time-compressed simulated hour, and over 1,000 reconcile cycles.

Run as root: python bench/daemon_memory.py. The daemon runs as procd would (foreground) with a
scratch config; `--time-scale 3600` makes one simulated hour one real second of schedule (reconcile
every 60 s → 60 cycles, mesh backup+sync every sync_interval=600 s → 6 rounds, which fail fast here
without peers: what is measured is the daemon, the jobs run in workers that exit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.wait import wait_until  # noqa: E402


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run(mesh: bool, scale: float, seconds: float, reconcile_interval: float | None = None) -> dict:
    from secumail.daemon.client import call

    root = tempfile.mkdtemp(prefix="secumail-bench-")
    conf = os.path.join(root, "conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "mailserver"), "w", encoding="utf-8") as handle:
        handle.write(f"config mailserver 'main'\n\toption enabled '1'\n\toption data_path '{root}/data'\n\n"
                     f"config container 'container'\n\toption lxc_path '{root}/lxc'\n\n"
                     f"config mesh 'mesh'\n\toption enabled '{1 if mesh else 0}'\n\toption sync_interval '600'\n\n"
                     "config features 'features'\n\toption fail2ban '0'\n")  # fmt: skip
    env = dict(os.environ, SECUMAIL_RUNDIR=os.path.join(root, "run"), SECUMAIL_SAVEDIR=os.path.join(root, "save"),
               PYTHONPATH=REPO)  # fmt: skip
    os.environ["SECUMAIL_RUNDIR"] = env["SECUMAIL_RUNDIR"]
    argv = [sys.executable, "-m", "secumail.daemon", "--foreground", "--confdir", conf, "--stderr",
            "--time-scale", str(scale)]  # fmt: skip
    if reconcile_interval:
        argv += ["--reconcile-interval", str(reconcile_interval)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: call("daemon.info"), timeout=10, what="secumaild answering")
        start_rss = rss_kb(proc.pid)
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            samples.append(rss_kb(proc.pid))
        # let running workers finish, then read idle RSS
        for _ in range(100):
            if call("daemon.info")["jobs_running"] == 0:
                break
            time.sleep(0.1)
        info = call("daemon.info")
        return {"mesh": mesh, "start_kb": start_rss, "idle_kb": rss_kb(proc.pid), "peak_kb": max(samples),
                "reconciles": info["reconciles"], "jobs_kept": info["jobs_kept"],
                "jobs": sorted({j["name"] for j in call("jobs.list")})}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)


def bare_kb() -> int:
    out = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)"], capture_output=False)
    del out
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    time.sleep(1)
    value = rss_kb(proc.pid)
    proc.kill()
    proc.wait()
    return value


def main() -> None:
    results = {"python": sys.version.split()[0], "bare_interpreter_kb": bare_kb()}
    # one simulated hour in 1 s of schedule (+ time for the workers to run and exit)
    results["hour_mesh_off"] = run(mesh=False, scale=3600, seconds=4)
    results["hour_mesh_on"] = run(mesh=True, scale=3600, seconds=4)
    # 1,000 reconcile cycles: reconcile every 10 ms real time for ~10 s (mesh off)
    results["reconcile_1000"] = run(mesh=False, scale=1, seconds=11, reconcile_interval=0.01)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
