"""SIGTERM in the middle of a ZIP download: exit 0 within FITSFLOW_SHUTDOWN_TIMEOUT, the client can tell the transfer was cut short, nothing half-written (tests/faults/sigterm_zip.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

import sigterm_zip  # noqa: E402
from fftest import check, run_checks  # noqa: E402


@check
def sigterm_zip_holds():
    sigterm_zip.main(log=lambda m: print("  " + m, flush=True))


run_checks()
