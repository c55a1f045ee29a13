"""kill -9 of `fitsflow serve` at random moments during uploads and processing, then restart: every acknowledged upload intact, every session completes with correct outputs (tests/faults/kill9.py; 5 rounds here, 20 with FF_LONG=1 or `make faults`)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

import kill9  # noqa: E402
from fftest import check, run_checks  # noqa: E402


@check
def kill9_holds():
    kill9.main(log=lambda m: print("  " + m, flush=True))


run_checks()
