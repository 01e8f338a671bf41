"""``python -m tui.demo``: the environment without the console, like ``watchdeck demo --no-ui``."""

import sys

from tui.demo.run import run_demo

sys.exit(run_demo(None))
