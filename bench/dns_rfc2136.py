"""Bench: the full record set of 3 domains published via rfc2136 to a local Knot.

Prints the number of DNS UPDATE messages (goal: one per zone) and the wall time of
dns-setup (goal: <= 1 s). Needs root, knot installed; reuses the integration fixture class.
Run: python3 bench/dns_rfc2136.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secumail.dns.setup import setup  # noqa: E402
from tests.integration.dns.servers import KNOT_ADDR, TSIG_NAME, TSIG_SECRET, ZONES, knot_server  # noqa: E402
from tests.support.settings import make_settings  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        knot = knot_server(os.path.join(tmp, "knot")).start()
        try:
            creds = Path(tmp, "dns.secret")
            creds.write_text(f"key_name={TSIG_NAME}\nkey_secret={TSIG_SECRET}\n")
            creds.chmod(0o600)
            data = Path(tmp, "data")
            (data / "config").mkdir(parents=True)
            (data / "config" / "domains").write_text("\n".join(ZONES[1:]) + "\n")
            s = make_settings(
                main={"domain": ZONES[0], "data_path": str(data)},
                dns={
                    "provider": "rfc2136",
                    "server": KNOT_ADDR,
                    "credentials": str(creds),
                    "public_ipv4": "192.0.2.10",
                    "resolver": (KNOT_ADDR,),
                    "mta_sts": "enforce",
                },
            )
            from secumail.dns.setup import ensure_dkim_keys

            ensure_dkim_keys(s, list(ZONES))  # key generation is not DNS work
            t0 = time.perf_counter()
            first = setup(s)
            t1 = time.perf_counter()
            second = setup(s)
            t2 = time.perf_counter()
            print(f"domains: {len(ZONES)}, rrsets changed: {len(first['changes'])}")
            print(f"first run : {first['requests']} UPDATE message(s), {t1 - t0:.3f} s wall")
            print(
                f"second run: {second['requests']} UPDATE message(s), {len(second['changes'])} changes, "
                f"{t2 - t1:.3f} s wall"
            )
        finally:
            knot.stop()


if __name__ == "__main__":
    main()
