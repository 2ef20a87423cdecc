"""Run every benchmark that needs nothing but this checkout; others are run by name (see README)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = ["cli_status.py"]

for script in QUICK:
    print(f"== {script}")
    subprocess.run([sys.executable, os.path.join(HERE, script)], check=True)
