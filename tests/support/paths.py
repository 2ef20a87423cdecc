"""Where the checkout is: subprocesses get it as PYTHONPATH and cwd."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
