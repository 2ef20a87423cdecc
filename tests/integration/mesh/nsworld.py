"""The mesh test world: nodes in network namespaces on the bridge smtbr0 (10.239.7.0/24; `net` in conftest.py).

No default routes; a route for 224.0.0.0/4 on each node's veth so zeroconf's
multicast works. Each node has its own confdir and data_path, runs
`python -m secumail.mesh.sftpd` (and, when asked, `secumail.mesh.discovery`)
inside its namespace; mailctl runs in the namespace too.
"""

import json
import os
import subprocess
import sys
import time

BRIDGE = "smtbr0"
NODES = {"a": "10.239.7.11", "b": "10.239.7.12", "c": "10.239.7.13", "d": "10.239.7.14"}
PORT = 7022


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def teardown():
    for name in NODES:
        sh("ip", "netns", "del", f"smt-{name}", check=False)
        sh("ip", "link", "del", f"smt-{name}0", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


class NsNode:
    def __init__(self, name, root):
        self.name, self.ns, self.addr = name, f"smt-{name}", NODES[name]
        self.root = root / name
        self.conf, self.data = self.root / "config", self.root / "data"
        self.conf.mkdir(parents=True)
        self.data.mkdir()
        self.write_config()
        self.env = dict(os.environ, SECUMAIL_CONFDIR=str(self.conf), SECUMAIL_SAVEDIR=str(self.root / "save"))
        self.procs = {}

    def write_config(self, extra=""):
        (self.conf / "mailserver").write_text(
            f"\nconfig mailserver 'main'\n\toption domain '{self.name}.example.org'\n"
            f"\toption data_path '{self.data}'\n{extra}"
        )

    def cmd(self, *args):
        return ["ip", "netns", "exec", self.ns, sys.executable, *args]

    def run(self, *args, stdin=""):
        cmd = self.cmd("-m", "secumail.cli", "--json", *args)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=self.env, timeout=120)

    def ok(self, *args, stdin=""):
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def fails(self, *args, stdin=""):
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode != 0, proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        return lines[0]

    def spawn(self, name, *args):
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(self.cmd(*args), env=self.env, stdout=log, stderr=log)
        return self.procs[name]

    def start(self, discovery=False):
        self.spawn("sftpd", "-m", "secumail.mesh.sftpd", "--listen", self.addr)
        if discovery:  # announces from Python (no umdns here) and probes liveness every 10 s
            self.spawn("discovery", "-m", "secumail.mesh.discovery", "--listen", self.addr, "--interval", "10")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sh("ip", "netns", "exec", self.ns, "ss", "-ltn", check=False).stdout.count(f":{PORT}"):
                return
            time.sleep(0.05)
        raise AssertionError(f"sftpd of {self.name} did not start")

    def kill(self, name=None):
        """kill -9: no zeroconf goodbye, no clean shutdown."""
        for key in [name] if name else list(self.procs):
            proc = self.procs.pop(key, None)
            if proc is not None:
                proc.kill()
                proc.wait()

    stop = kill


def pin_each_other(nodes, pairs, with_address=True):
    """pairs: (who, whom): `who` pins `whom` (with its address unless with_address is False)."""
    ids = {name: n.ok("mesh", "id")["node_id"] for name, n in nodes.items()}
    for who, whom in pairs:
        address = [f"{NODES[whom]}:{PORT}"] if with_address else []
        nodes[who].ok("mesh", "add-peer", ids[whom], *address)
    return ids


def storage_files(root):
    """rel path -> bytes of every final (non-temp) file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith("."):
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, root)] = open(path, "rb").read()  # noqa: SIM115
    return out
