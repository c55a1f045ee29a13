"""FITSFLOW_SDO_ONLY=1: files whose TELESCOP does not name SDO are skipped as the original server
skipped them, with its log line "Skipping: {base} — Not an SDO FITS file." and nothing else for
that file, so that the original browser client shows no broken slots. Checked through
`fitsflow process`, `fitsflow serve` (the original client's log protocol) and `fitsflow lambda`
(the main function on an S3 peer); off by default; a bad value is refused."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from astropy.io import fits

from fftest import AIA_171, BIN, SUNPY_TEST_DATA, check, run, run_checks, scratch
from serve_harness import Server, upload

TMP = scratch("sdo-only")
RHESSI = os.path.join(SUNPY_TEST_DATA, "hsi_image_20101016_191218.fits")  # TELESCOP 'RHESSI'
SKIP_TEXT = "Not an SDO FITS file."


def make(name, cards):
    h = fits.Header()
    for k, v in cards.items():
        h[k] = v
    p = os.path.join(TMP, name)
    fits.PrimaryHDU(np.arange(32 * 32, dtype=np.int16).reshape(32, 32), header=h).writeto(p)
    return p


FILES = {
    "aia_171_level1.fits": AIA_171,  # 'SDO/AIA'
    "eit.fits": make("eit.fits", {"TELESCOP": "SOHO", "INSTRUME": "EIT", "WAVELNTH": 195,
                                  "DATE-OBS": "2002-05-21T00:18:06.516"}),
    "no_telescope.fits": make("no_telescope.fits", {"INSTRUME": "AIA", "WAVELNTH": 171}),
    "lower_case.fits": make("lower_case.fits", {"TELESCOP": "sdo/hmi", "INSTRUME": "HMI_FRONT2"}),
    "hsi_image_20101016_191218.fits": RHESSI,
}
KEPT = {"aia_171_level1", "lower_case"}
SKIPPED = {"eit", "no_telescope", "hsi_image_20101016_191218"}


def process(env, out):
    return run("process", "--offline", "-o", out, *FILES.values(), env=env)


def manifest_status(path):
    with open(path) as f:
        return {e["base"]: (e["status"], e.get("reason")) for e in json.load(f)["files"]}


@check
def process_skips_non_sdo_files():
    out = os.path.join(TMP, "process-on")
    p = process({"FITSFLOW_SDO_ONLY": "1"}, out)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)  # a file was skipped
    st = manifest_status(os.path.join(out, "manifest.json"))
    for base in KEPT:
        assert st[base][0] == "processed", st
    for base in SKIPPED:
        assert st[base] == ("skipped", SKIP_TEXT), st
        assert f"skipped {base}.fits: {SKIP_TEXT}" in p.stdout, p.stdout
    written = {f for _, _, fs in os.walk(out) for f in fs}
    for base in SKIPPED:
        assert not any(f.startswith(base) for f in written), sorted(written)


@check
def off_by_default_and_with_zero():
    for env in ({}, {"FITSFLOW_SDO_ONLY": "0"}):
        out = os.path.join(TMP, "process-off-" + str(len(env)))
        p = process(env, out)
        assert p.returncode == 0, (p.stdout, p.stderr)
        st = manifest_status(os.path.join(out, "manifest.json"))
        assert all(s == "processed" for s, _ in st.values()), st


@check
def a_bad_value_is_refused():
    p = run("process", "--offline", "-o", os.path.join(TMP, "bad"), AIA_171, env={"FITSFLOW_SDO_ONLY": "maybe"})
    assert p.returncode == 2 and "FITSFLOW_SDO_ONLY must be 1 or 0, not 'maybe'" in p.stderr, (p.returncode, p.stderr)
    srv = Server("sdo-only-bad", env={"FITSFLOW_SDO_ONLY": "yes please"})
    try:
        srv.start()
        raise AssertionError("serve started with FITSFLOW_SDO_ONLY='yes please'")
    except AssertionError as e:
        assert "FITSFLOW_SDO_ONLY must be 1 or 0" in str(e) or "FITSFLOW_SDO_ONLY must be 1 or 0" in srv.read_log(), e
    finally:
        srv.stop()


def get(srv, path):
    st, _, body = srv.request("GET", path)
    return st, body.decode("utf-8", "replace")


@check
def serve_logs_what_the_original_client_expects():
    srv = Server("sdo-only-serve", env={"FITSFLOW_SDO_ONLY": "1"}).start()
    sid = "sdoonly0123456789abc"
    try:
        for name, path in FILES.items():
            with open(path, "rb") as f:
                upload(srv, sid, name, f.read())
        st, body = get(srv, f"/FitsFlow-2-Trigger?session_id={sid}")
        assert st == 200, (st, body)
        deadline = time.time() + 180
        while time.time() < deadline:
            st, summary = get(srv, f"/temp/{sid}/logs/summary_log_2.txt")
            if st == 200:
                break
            time.sleep(0.2)
        assert st == 200, "the session did not finish"
        assert "ALL FILES PROCESSED SUCCESSFULLY" in summary, summary
        logs = f"/temp/{sid}/logs"
        for base in SKIPPED:
            assert get(srv, f"{logs}/{base}_log_1.txt")[0] == 200
            st, text = get(srv, f"{logs}/{base}_log_2.txt")
            assert st == 200 and text.strip() == f"Skipping: {base} \u2014 {SKIP_TEXT}", (st, text)
            for step in range(3, 9):  # steps 3 to 8 (level 1.5)
                assert get(srv, f"{logs}/{base}_log_{step}.txt")[0] == 404, (base, step)
            assert get(srv, f"/temp/{sid}/processed/header/{base}_header.txt")[0] == 404
        for base in KEPT:
            assert get(srv, f"{logs}/{base}_log_7.txt")[0] == 200, base
            assert get(srv, f"/temp/{sid}/processed/header/{base}_header.txt")[0] == 200, base
        st, skipped = get(srv, f"{logs}/skipped_log_1.txt")
        assert st == 200 and all(f"{b}.fits: {SKIP_TEXT}" in skipped for b in SKIPPED), skipped
    finally:
        assert srv.stop() == 0


@check
def lambda_main_skips_them_too():
    import s3peer
    import lambdapeer
    if not s3peer.ensure_node_modules():
        raise AssertionError("s3rver is not installed and scripts/deps-node.sh could not install it")
    sid = "0123456789abcdef"
    with s3peer.S3Peer(scratch("sdo-only-s3")) as s3, \
            lambdapeer.RuntimePeer(region=s3.region, token=s3.token) as rt:
        c = s3.client()
        for name in ("aia_171_level1.fits", "eit.fits"):
            with open(FILES[name], "rb") as f:
                c.put_object(Bucket=s3.bucket, Key=f"temp/{sid}/fits/{name}", Body=f.read())
        rid = rt.add_event({"session_id": sid}, seconds=600)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": rt.api,
               "_HANDLER": "main", "AWS_REGION": s3.region, "FITSFLOW_OFFLINE": "1", "FITSFLOW_SDO_ONLY": "1",
               "TMPDIR": TMP, **s3.env()}
        p = subprocess.run([BIN, "lambda", "--max-invocations", "1"], env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        res = rt.result(rid)
        assert res[1] == "response" and res[2] == {"session_id": sid, "status": "done"}, res
        log2 = c.get_object(Bucket=s3.bucket, Key=f"temp/{sid}/logs/eit_log_2.txt")["Body"].read().decode()
        assert log2.strip() == f"Skipping: eit \u2014 {SKIP_TEXT}", log2
        man = json.loads(c.get_object(Bucket=s3.bucket, Key=f"temp/{sid}/processed/manifest.json")["Body"].read())
        st = {e["base"]: e["status"] for e in man["files"]}
        assert st == {"aia_171_level1": "processed", "eit": "skipped"}, st


run_checks()
