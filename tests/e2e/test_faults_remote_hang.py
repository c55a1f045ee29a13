"""Helioviewer, JSOC and HEK that never answer: the session still finishes within FITSFLOW_HTTP_TIMEOUT-derived bounds with correct local outputs (tests/faults/remote_hang.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

import remote_hang  # noqa: E402
from fftest import check, run_checks  # noqa: E402


@check
def remote_hang_holds():
    remote_hang.main(log=lambda m: print("  " + m, flush=True))


run_checks()
