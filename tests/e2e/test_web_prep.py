"""The browser client's Level 1.5 view end to end: a real `fitsflow serve` on loopback processes a
session of sunpy's real AIA 171 and HMI samples and a small non-SDO image (uploaded through the
presigned API as the page does), then Debian's chromium, driven by Playwright
(tests/web/prep.test.mjs), opens the session: the ML arrays drawn on a canvas, the stack links,
the reason a file was not registered, the level-1.5 step in the log, accessibility basics.

Where the level-1.5 outputs come from: when the server's pipeline writes them (prep/ outputs in
the manifest), the test uses them as they are. When it does not (a pipeline without level 1.5),
the test adds them to the finished session in the server's data folder, following the storage
layout (temp/S/processed/prep/..., temp/S/processed/session/..., the per-file state objects,
manifest.json and a {base}_log_8.txt per file), made the reference way: sunpy's register and
exposure normalisation (tests/e2e/prepsun.py), the 4096 grid at 0.6"/px, NaN-aware block mean to
512. It prints which of the two it did. Exits 77 (skipped) when node, chromium or playwright-core
is missing: run make deps."""
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

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
NON_SDO_REASON = "not a full-disk SDO AIA or HMI image (TELESCOP is 'LAB'), so it is not registered"


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


def put_object(root, key, data):
    """Writes one object of the fs store as the store does: a hidden temporary in the target's
    folder, renamed into place (readers see all or nothing)."""
    path = os.path.join(root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), ".ff-tmp-test-" + os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def output_entry(rel, data, media):
    return {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "media_type": media}


def ml_array(data, cdelt, size):
    """The level-1.5 image on the 4096 grid at 0.6"/px (a binned image repeated up to it, a smaller
    one padded with NaN at (4096 - n) // 2), then the NaN-aware block mean to size x size."""
    import numpy as np
    k = max(1, int(round(cdelt / 0.6)))
    big = np.kron(data, np.ones((k, k), data.dtype)) if k > 1 else data
    g = np.full((4096, 4096), np.nan, np.float32)
    h, w = big.shape
    oy, ox = (4096 - h) // 2, (4096 - w) // 2
    g[oy:oy + h, ox:ox + w] = big
    b = 4096 // size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN blocks stay NaN
        return np.nanmean(g.reshape(size, b, size, b), axis=(1, 3)).astype(np.float32)


def add_level15(data_dir, sid, inputs):
    """What a pipeline with level 1.5 adds to a finished session, written into the fs store."""
    import numpy as np
    import prepsun

    root = os.path.join(data_dir, "temp", sid)
    mkey = os.path.join("processed", "manifest.json")
    manifest = json.load(open(os.path.join(root, mkey)))
    slices = []
    for f in manifest["files"]:
        base, src = f["base"], inputs[f["input"]]
        state_path = os.path.join(root, "state", base + ".json")
        state = json.load(open(state_path))
        if f.get("observatory") == "SDO" and f.get("instrument") in ("AIA", "HMI"):
            m = prepsun.sunpy_level15(src)
            lev15 = m.data.astype(np.float32)
            buf = io.BytesIO()
            from astropy.io import fits
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hdr = fits.Header({k.upper(): v for k, v in m.meta.items()
                                   if len(k) <= 8 and isinstance(v, (int, float, str)) and k.upper() not in
                                   ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "COMMENT", "HISTORY")})
                hdr["BUNIT"] = "DN/s" if f["instrument"] == "AIA" else hdr.get("BUNIT", "")
                fits.PrimaryHDU(lev15, hdr).writeto(buf)
            ml = ml_array(lev15, float(m.meta["cdelt1"]), ML_SIZE)
            nbuf = io.BytesIO()
            np.save(nbuf, ml)
            outs = [(f"prep/{base}_lev15.fits", buf.getvalue(), "application/fits"),
                    (f"prep/{base}_ml.npy", nbuf.getvalue(), "application/octet-stream")]
            for rel, data, media in outs:
                put_object(root, os.path.join("processed", rel), data)
                e = output_entry(rel, data, media)
                f["outputs"].append(e)
                state["result"]["outputs"].append(e)
            channel = (f"aia_{f['wavelength']}" if f["instrument"] == "AIA"
                       else "hmi_" + ("magnetogram" if "magnet" in (f.get("measurement") or "").lower() else "continuum"))
            slices.append((f["observation_time"], base, f, channel, ml))
            log = f"Level 1.5: {base} registered (0.6\"/px, north up), {ML_SIZE}x{ML_SIZE} ML array"
            ok = True
        else:
            reason = NON_SDO_REASON
            f["prep"] = {"status": "skipped", "reason": reason}
            state["result"]["prep"] = {"status": "skipped", "reason": reason}
            log = f"Level 1.5: {base} not registered: {reason}"
            ok = False
        state["steps"][str(PREP_STEP)] = ok
        put_object(root, os.path.join("logs", f"{base}_log_{PREP_STEP}.txt"), log.encode())
        put_object(root, os.path.join("state", base + ".json"), json.dumps(state).encode())
    slices.sort()
    stack = np.stack([s[4] for s in slices])
    session = []
    b = io.BytesIO()
    np.save(b, stack)
    session.append(("session/stack.npy", b.getvalue(), "application/octet-stream"))
    rows = io.StringIO()
    w = csv.writer(rows, lineterminator="\n")
    w.writerow(["index", "file", "time_utc", "observatory", "instrument", "channel", "exposure_s", "normalised"])
    for i, (t, base, f, channel, _) in enumerate(slices):
        w.writerow([i, f["input"], t, f["observatory"], f["instrument"], channel,
                    "" if f["instrument"] != "AIA" else 2.0, f["instrument"] == "AIA"])
    session.append(("session/stack_index.csv", rows.getvalue().encode(), "text/csv"))
    chans = {}
    for t, base, f, channel, ml in slices:
        chans.setdefault(channel, []).append((t, ml))
    arrays = {}
    for c, items in chans.items():
        arrays[c] = np.stack([x[1] for x in items])
        arrays[c + "_time"] = np.array([np.datetime64(x[0].rstrip("Z"), "ms").astype("float64") / 1000 for x in items])
    b = io.BytesIO()
    np.savez(b, **arrays)
    session.append(("session/channels.npz", b.getvalue(), "application/octet-stream"))
    manifest["session"] = {"outputs": []}
    for rel, data, media in session:
        put_object(root, os.path.join("processed", rel), data)
        manifest["session"]["outputs"].append(output_entry(rel, data, media))
    put_object(root, mkey, json.dumps(manifest, indent=2).encode())
    # The summary comes last in the protocol: written again so that it stays the newest log.
    sp = os.path.join(root, "logs", "summary_log_2.txt")
    put_object(root, os.path.join("logs", "summary_log_2.txt"), open(sp, "rb").read())
    return manifest


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
        if real:
            print("level-1.5 outputs: written by the server's pipeline")
        else:
            print("level-1.5 outputs: this server's pipeline writes none; added to the finished session "
                  "in its data folder (sunpy register + block mean), as a pipeline with level 1.5 would")
            manifest = add_level15(srv.data, sid, inputs)
        expect = {"session_id": sid, "real": real, "files": {}, "stacks": []}
        for f in manifest["files"]:
            ml = next((o for o in f["outputs"] if o["path"].startswith("prep/") and o["path"].endswith("_ml.npy")), None)
            e = {"input": f["input"], "ml": None}
            if ml:
                arr = np.load(os.path.join(srv.data, "temp", sid, "processed", ml["path"]))
                e["ml"] = {"path": ml["path"], "shape": list(arr.shape), "finite": int(np.isfinite(arr).sum())}
            expect["files"][f["base"]] = e
        expect["stacks"] = sorted(session_paths(manifest))
        expect["reason"] = None if real else NON_SDO_REASON
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
