"""Load on one `fitsflow serve`: 200 concurrent sessions (every manifest checked), wrk on the static
and trigger endpoints with the error rate, VmRSS before/after under a stated bound, and 429s under
the default rate limit (tests/load/load.py; wrk runs 5 s here, 60 s with FF_LONG=1 or `make load`)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
sys.path.insert(0, os.path.join(HERE, "..", "load"))

import load  # noqa: E402
from fftest import check, run_checks  # noqa: E402


@check
def load_holds():
    load.main(log=lambda m: print("  " + m, flush=True))


run_checks()
