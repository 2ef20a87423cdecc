"""`make demo-internet`: bring the simulated internet up, send A -> B, show where to look, wait.

Two routers (a.test, b.test) with a full secumail appliance each, Knot and Unbound on the bridge
sminet0 (198.51.100.0/24), and the ISP's smarthost (smtp.isp.test): tests/support/internet.py.
Ctrl-C (or SIGTERM) tears everything down.
Run as root from the checkout: PYTHONPATH=. python scripts/demo_internet.py
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _interrupt(signum, frame) -> None:  # SIGTERM ends the demo the way Ctrl-C does
    raise KeyboardInterrupt


def main() -> int:
    if os.geteuid() != 0:
        print("demo-internet: run as root (namespaces, LXC containers, Knot on port 53)", file=sys.stderr)
        return 1
    from tests.support import smarthost
    from tests.support.authcheck import verdict
    from tests.support.inetmail import fetch, submit
    from tests.support.internet import CA_IP, KNOT_IP, PASSWORD, RESOLVER_IP, WORK, internet

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    began = time.monotonic()
    try:
        with internet(log=lambda line: print(f"== {line}", flush=True)) as net, net.isp() as isp:
            print(f"== world up in {time.monotonic() - began:.1f} s")
            sender, rcpt = net.a.user("alice"), net.b.user("bob")
            token = submit(net.a, sender, rcpt)
            print(f"== sent {sender} -> {rcpt} through {net.a.wan_ip}:587 (token {token})")
            v = verdict(fetch(net.b, rcpt, token), RESOLVER_IP)
            print(f"== arrived at {net.b.domain} from {v.client_ip} (HELO {v.helo}): spf={v.spf} "
                  f"dkim={'pass' if v.dkim else 'fail'} (d={v.dkim_domain}) dmarc aligned={v.dmarc_aligned}")
            print(f"""
Where to look (as root, while this runs):
  resolver      dig @{RESOLVER_IP} MX {net.b.domain}    (authoritative: Knot at {KNOT_IP})
  public CA     pebble at https://{CA_IP}:14000/dir (each appliance's certificate: ssl-setup, DNS-01)
  a user        IMAPS/submission at {net.a.wan_ip} (a.test) and {net.b.wan_ip} (b.test),
                users alice@, bob@, postmaster@ with password '{PASSWORD}'
  router A      nsenter --net=/run/netns/{net.a.netns} nft list ruleset
  appliance A   conf {net.a.confdir}, data {net.a.data}
                mail log: {net.a.lxc_path}/{net.a.container}/rootfs/var/log/mail.log
  mailctl on A  {net.a.mailctl_script} status      (B: {net.b.mailctl_script})
  forger host   ip netns exec smi-fg <command>
  ISP relay     {isp.hostname} at {isp.ip}:587 (STARTTLS, self-signed), login {smarthost.USER} / '{smarthost.GOOD}';
                try: printf '%s\\n' '{smarthost.GOOD}' | {net.a.mailctl_script} relay add isp {isp.ip} \\
                       --user {smarthost.USER} --no-verify --password-stdin
  everything    {WORK}

Ctrl-C tears it all down.""", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print("\n== torn down", flush=True)
    except (RuntimeError, AssertionError, OSError) as exc:  # the world is already torn down here
        print(f"demo-internet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
