"""A full disk (8 MB tmpfs as the data folder): 507 for an upload that does not fit, clear per-file failures, no partial objects, recovery once there is room (tests/faults/disk.py; skipped with a message when mounting is not permitted)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

import disk  # noqa: E402
from fftest import check, run_checks  # noqa: E402


@check
def disk_holds():
    disk.main(log=lambda m: print("  " + m, flush=True))


run_checks()
