"""No poison session: an upload that crashes `fitsflow serve` is not resumed forever.

The crash is real (the process dies of SIGSEGV, as a decoder bug would make it) but caused on
purpose: the server here is tests' fitsflow-crashtest, which is `fitsflow` linked with
tests/hooks/crash_on.c; with FITSFLOW_TEST_CRASH_ON=NAME it crashes when it starts processing the
upload NAME. build/fitsflow has no such hook (its ff_pipeline_test_file_hook is an empty weak
function), so no setting can make a release crash this way.

As systemd's Restart=on-failure would, the test starts the server again after each crash. The
queue remembers which file was in progress: after the second crash that file is failed without
being read, with the reason in its logs and the manifest; the other files of the session are
processed (also the one that was in progress beside it when it crashed), the summary says not
everything succeeded, and the server stays up, also when the session is triggered again."""
import json
import os
import re
import time

from fftest import AIA_171, check, run_checks
import serve_harness
from serve_harness import Server, upload, wait_for

TOOLS = os.environ.get("FF_TOOLS_DIR", os.path.join(os.path.dirname(__file__), "../../build/tests"))
serve_harness.BIN = os.path.join(TOOLS, "fitsflow-crashtest")
SID = "poison-session-1"
DATA = open(AIA_171, "rb").read()
NAMES = ["a_ok.fits", "b_crash.fits", "c_ok.fits"]
JOB_DONE = re.compile(r'"message":"job \d+ done"')


def wait_exit(srv, timeout=120):
    """Waits for the server to die by itself; returns its exit status."""
    try:
        rc = srv.proc.wait(timeout=timeout)
    except Exception:
        raise AssertionError(f"the server did not crash within {timeout} s:\n{srv.read_log()[-3000:]}")
    srv.proc = None
    srv.log.close()
    return rc


def text(srv, path):
    st, _, body = srv.request("GET", path)
    assert st == 200, (path, st, body)
    return body.decode()


@check
def a_file_that_crashes_the_server_twice_is_failed_and_the_server_stays_up():
    srv = Server("serve-poison", env={"FITSFLOW_TEST_CRASH_ON": "b_crash.fits"})
    try:
        srv.start()
        for n in NAMES:
            upload(srv, SID, n, DATA)
        st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={SID}")
        assert st == 200 and body["status"] == "Processing Started!", (st, body)
        statuses = [wait_exit(srv)]
        try:
            srv.start()  # the queue resumes the session, which crashes the server again
        except AssertionError:
            pass  # it may die before it answers /healthz
        statuses.append(wait_exit(srv))
        assert all(rc != 0 for rc in statuses), statuses

        srv.start()
        summary = wait_for(srv, f"/temp/{SID}/logs/summary_log_2.txt", timeout=180).decode()
        lines = summary.splitlines()
        assert lines[0] == "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed, 0 skipped", summary
        assert lines[1] == "3 files: 2 processed, 0 skipped, 1 failed", summary
        log2 = text(srv, f"/temp/{SID}/logs/b_crash_log_2.txt")
        assert log2.startswith("Failed: b_crash \u2014 processing this file was cut short 2 times"), log2
        for step in range(3, 9):  # steps 3 to 8 (level 1.5)
            t = text(srv, f"/temp/{SID}/logs/b_crash_log_{step}.txt")
            assert t.startswith("Not run: b_crash \u2014 processing this file was cut short"), (step, t)
        manifest = json.loads(text(srv, f"/temp/{SID}/processed/manifest.json"))
        by_input = {f["input"]: f for f in manifest["files"]}
        assert by_input["b_crash.fits"]["status"] == "failed", by_input["b_crash.fits"]
        assert "not tried again" in by_input["b_crash.fits"]["reason"], by_input["b_crash.fits"]
        assert by_input["b_crash.fits"]["outputs"] == []
        for n in ("a_ok.fits", "c_ok.fits"):
            assert by_input[n]["status"] == "processed", by_input[n]
            assert len(by_input[n]["outputs"]) >= 5, by_input[n]
        st, _, body = srv.json("GET", "/healthz")
        assert st == 200 and body["queue_pending"] == 0 and body["queue_running"] == 0, (st, body)
        assert srv.proc.poll() is None, "the server died"

        # Triggered again, the failed file is still not tried: the server stays up.
        st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={SID}")
        assert st == 200, (st, body)
        deadline = time.time() + 120
        while len(JOB_DONE.findall(srv.read_log())) < 2:
            assert time.time() < deadline, "the second run did not finish:\n" + srv.read_log()[-3000:]
            assert srv.proc.poll() is None, "the server died on the second trigger"
            time.sleep(0.1)
        log = srv.read_log()
        assert log.count("not processed: processing this file was cut short 2 times") >= 2, log[-3000:]
        assert srv.proc.poll() is None, "the server died on the second trigger"
        summary = text(srv, f"/temp/{SID}/logs/summary_log_2.txt")
        assert summary.startswith("NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed"), summary
    finally:
        srv.stop()


run_checks()
