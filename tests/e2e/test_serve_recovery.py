"""Crash recovery of `fitsflow serve`: upload, trigger, kill -9 while the session is being
processed, start again on the same data folder: the queue takes the session up again and every
output ends up complete and correct (sha256 as in the manifest, arrays equal to astropy's), with no
half-written object left behind."""
import hashlib
import io
import json
import os
import signal
import time

import numpy as np
from astropy.io import fits

from fftest import AIA_171, HMI, check, run_checks, sha256
from serve_harness import Server, upload, wait_for

SID = "crash-recovery-1"
NFILES = 8
SRV = Server("serve-recovery", env={"FITSFLOW_PNG_MAX": "0", "FITSFLOW_WORKERS": "1"})
STATE = {}


def scenario():
    if STATE:
        return STATE
    SRV.start()
    aia, hmi = open(AIA_171, "rb").read(), open(HMI, "rb").read()
    for i in range(NFILES):
        upload(SRV, SID, f"f{i:02d}_{'aia' if i % 2 == 0 else 'hmi'}.fits", aia if i % 2 == 0 else hmi)
    st, _, body = SRV.json("GET", f"/FitsFlow-2-Trigger?session_id={SID}")
    assert st == 200, body
    logs = os.path.join(SRV.data, "temp", SID, "logs")
    deadline = time.time() + 60
    while time.time() < deadline:
        names = os.listdir(logs) if os.path.isdir(logs) else []
        if any(n.endswith("_log_3.txt") for n in names):
            break
        time.sleep(0.005)
    STATE["summary_before_kill"] = os.path.exists(os.path.join(logs, "summary_log_2.txt"))
    STATE["done_before_kill"] = sum(n.endswith("_log_7.txt") for n in os.listdir(logs))
    SRV.proc.send_signal(signal.SIGKILL)
    SRV.proc.wait()
    SRV.proc = None
    SRV.start(port=SRV.port)
    wait_for(SRV, f"/temp/{SID}/logs/summary_log_2.txt", timeout=180)
    st, _, body = SRV.request("GET", f"/temp/{SID}/processed/manifest.json")
    assert st == 200
    STATE["manifest"] = json.loads(body)
    return STATE


@check
def killed_in_the_middle():
    s = scenario()
    assert not s["summary_before_kill"], "processing finished before the kill; the test proves nothing"
    assert s["done_before_kill"] < NFILES, s


@check
def every_file_processed_after_restart():
    s = scenario()
    files = s["manifest"]["files"]
    assert len(files) == NFILES, [f["base"] for f in files]
    assert all(f["status"] == "processed" for f in files), [(f["base"], f["status"], f.get("reason")) for f in files]
    st, _, body = SRV.request("GET", f"/temp/{SID}/logs/summary_log_2.txt")
    assert "ALL FILES PROCESSED SUCCESSFULLY" in body.decode(), body


@check
def every_output_complete_and_correct():
    s = scenario()
    for f in s["manifest"]["files"]:
        for o in f["outputs"]:
            st, h, body = SRV.request("GET", f"/temp/{SID}/processed/{o['path']}")
            assert st == 200 and len(body) == o["bytes"], o["path"]
            assert hashlib.sha256(body).hexdigest() == o["sha256"], o["path"]
        src = AIA_171 if f["base"].endswith("aia") else HMI
        st, _, body = SRV.request("GET", f"/temp/{SID}/processed/data/{f['base']}_data.npy")
        with fits.open(src) as hdul:
            hdu = hdul[1] if len(hdul) > 1 and hdul[1].is_image and hdul[1].data is not None else hdul[0]
            assert np.array_equal(np.load(io.BytesIO(body)), hdu.data, equal_nan=True), f["base"]


@check
def no_half_written_objects():
    scenario()
    for root, dirs, files in os.walk(os.path.join(SRV.data, "temp")):
        assert not [n for n in files if n.startswith(".ff-tmp-")], (root, files)


@check
def graceful_sigterm_after_restart():
    scenario()
    assert SRV.stop() == 0


try:
    run_checks()
finally:
    SRV.stop()
