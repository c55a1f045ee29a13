"""Shared helpers for the end-to-end tests: run the real binary, count checks, make scratch dirs.

Each e2e script registers checks with @check, calls run_checks() at the end, and exits non-zero
when any check failed. The last line printed is "N passed, M failed"."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

BIN = os.environ.get("FITSFLOW_BIN", os.path.join(os.path.dirname(__file__), "../../build/fitsflow"))
SUNPY_TEST_DATA = "/usr/lib/python3/dist-packages/sunpy/data/test"
AIA_171 = os.path.join(SUNPY_TEST_DATA, "aia_171_level1.fits")
HMI = os.path.join(SUNPY_TEST_DATA, "resampled_hmi.fits")

_checks = []


def check(fn):
    _checks.append(fn)
    return fn


_scratch_dirs = []


def scratch(name):
    """A new folder for a test's files; removed when every check passed (kept for a look when one
    failed, or with FF_KEEP_TMP=1)."""
    base = os.environ.get("FF_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    d = tempfile.mkdtemp(prefix=name + "-", dir=base)
    _scratch_dirs.append(d)
    return d


def run(*args, env=None, timeout=300, check_status=None):
    """Runs the fitsflow binary; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if check_status is not None and p.returncode != check_status:
        raise AssertionError(
            f"fitsflow {' '.join(args)} exited {p.returncode}, expected {check_status}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(outdir):
    with open(os.path.join(outdir, "manifest.json")) as f:
        return json.load(f)


def check_manifest_outputs(outdir, manifest):
    """Every output listed exists with the recorded size and sha256 (the session stacks too)."""
    for entry in manifest["files"] + [{"outputs": manifest.get("session_outputs", [])}]:
        for o in entry["outputs"]:
            p = os.path.join(outdir, o["path"])
            assert os.path.isfile(p), f"manifest lists {o['path']} but it does not exist"
            assert os.path.getsize(p) == o["bytes"], f"{o['path']}: size differs from manifest"
            assert sha256(p) == o["sha256"], f"{o['path']}: sha256 differs from manifest"


def run_checks():
    passed = failed = 0
    for fn in _checks:
        try:
            fn()
            passed += 1
            print(f"ok   {fn.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc()
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    if not failed and os.environ.get("FF_KEEP_TMP") != "1":
        for d in _scratch_dirs:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if failed else 0)
