"""The browser client's Level 1.5 view end to end: a real `fitsflow serve` on loopback processes a
session of sunpy's real AIA 171 and HMI samples and a small non-SDO image (uploaded through the
presigned API as the page does), then Debian's chromium, driven by Playwright
(tests/web/prep.test.mjs), opens the session: the ML arrays drawn on a canvas, the stack links,
the reason a file was not registered, the level-1.5 step in the log, accessibility basics.

The level-1.5 outputs, the stacks and the skipped file's reason are the server pipeline's own
(read from the session's manifest). Exits 77 (skipped) when node, chromium or playwright-core
is missing: run make deps."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fftest import AIA_171, HMI, check, run_checks, scratch  # noqa: E402
from serve_harness import Server, upload  # noqa: E402

SRC = os.environ.get("FF_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
WEB = os.path.join(SRC, "web")
CHROMIUM = os.environ.get("FF_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
ML_SIZE = 512
PREP_STEP = 8
NON_SDO = "lab_image.fits"


def skip(reason):
    print(f"SKIPPED: {reason}; run make deps")
    sys.exit(77)


if not NODE:
    skip("node is not installed")
if not os.access(CHROMIUM, os.X_OK):
    skip(f"no chromium at {CHROMIUM}")
if not os.path.isdir(os.path.join(SRC, "node_modules", "playwright-core")):
    skip("node_modules/playwright-core is missing")

TMP = scratch("webprep")
tmp_base = os.environ.get("FF_TEST_TMP") or TMP
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(tmp_base)), "test-artifacts", "web-prep")
os.makedirs(ARTIFACTS, exist_ok=True)


def wait_file(path, timeout=180):
    """Waits for a file the server writes (an event), with a deadline."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def session_paths(doc, depth=0):
    """Every output path under session/ the manifest lists, wherever it lists them."""
    found = set()
    if depth > 4:
        return found
    if isinstance(doc, dict):
        if isinstance(doc.get("path"), str) and doc["path"].startswith("session/"):
            found.add(doc["path"])
        for k, v in doc.items():
            if k != "files":
                found |= session_paths(v, depth + 1)
    elif isinstance(doc, list):
        for v in doc:
            found |= session_paths(v, depth + 1)
    return found


def make_non_sdo(path):
    import numpy as np
    from astropy.io import fits
    hdu = fits.PrimaryHDU((np.arange(64 * 48, dtype=np.int16) % 300).reshape(48, 64))
    hdu.header["TELESCOP"] = "LAB"
    hdu.writeto(path)


@check
def level15_view_in_the_browser():
    import numpy as np

    srv = Server("webprep", env={"FITSFLOW_WEB_DIR": WEB, "FITSFLOW_WORKERS": "2",
                                 "FITSFLOW_ML_SIZE": str(ML_SIZE)}).start()
    try:
        st, _, body = srv.json("POST", "/api/sessions")
        assert st == 201, (st, body)
        sid = body["session_id"]
        lab = os.path.join(TMP, NON_SDO)
        make_non_sdo(lab)
        inputs = {}
        for p in (AIA_171, HMI, lab):
            upload(srv, sid, os.path.basename(p), open(p, "rb").read())
            inputs[os.path.basename(p)] = p
        st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
        assert st == 200, (st, body)
        wait_file(os.path.join(srv.data, "temp", sid, "logs", "summary_log_2.txt"))
        manifest = json.load(open(os.path.join(srv.data, "temp", sid, "processed", "manifest.json")))
        real = any(o["path"].startswith("prep/") and o["path"].endswith("_ml.npy")
                   for f in manifest["files"] for o in f.get("outputs", []))
        assert real, "the server wrote no level-1.5 outputs"
        expect = {"session_id": sid, "real": real, "files": {}, "stacks": []}
        for f in manifest["files"]:
            ml = next((o for o in f["outputs"] if o["path"].startswith("prep/") and o["path"].endswith("_ml.npy")), None)
            e = {"input": f["input"], "ml": None}
            if ml:
                arr = np.load(os.path.join(srv.data, "temp", sid, "processed", ml["path"]))
                e["ml"] = {"path": ml["path"], "shape": list(arr.shape), "finite": int(np.isfinite(arr).sum())}
            expect["files"][f["base"]] = e
        expect["stacks"] = sorted(session_paths(manifest))
        lab_prep = next(f for f in manifest["files"] if f["base"] == "lab_image").get("prep") or {}
        assert lab_prep.get("status") == "skipped" and lab_prep.get("reason"), lab_prep
        expect["reason"] = lab_prep["reason"]
        assert expect["files"]["aia_171_level1"]["ml"], "the AIA file has no ML array"
        assert expect["files"]["resampled_hmi"]["ml"], "the HMI file has no ML array"
        assert expect["files"]["lab_image"]["ml"] is None, "the non-SDO file must not be registered"
        env = dict(os.environ, FF_WEB_URL=srv.base() + "/", FF_ARTIFACTS=ARTIFACTS, FF_CHROMIUM=CHROMIUM,
                   FF_EXPECT=json.dumps(expect))
        node = subprocess.Popen([NODE, "--test", "--test-reporter=spec", "--test-concurrency=1",
                                 os.path.join(SRC, "tests", "web", "prep.test.mjs")], cwd=SRC, env=env,
                                start_new_session=True)
        deadline = time.time() + 300
        while node.poll() is None and srv.proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
            if srv.proc.poll() is None:
                raise AssertionError("the browser tests took more than 300 s")
        if srv.proc.poll() is not None:
            raise AssertionError(f"fitsflow serve exited ({srv.proc.returncode}):\n{srv.read_log()[-3000:]}")
        assert node.returncode == 0, f"the browser tests failed (exit {node.returncode}); screenshots in {ARTIFACTS}"
    finally:
        srv.stop()


run_checks()
