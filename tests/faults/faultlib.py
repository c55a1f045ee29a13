"""Shared pieces of the fault and load tests: talk to a real `fitsflow serve` (through the e2e
harness), upload real SDO files through presigned URLs, and check a finished session the way a
user would (stored upload sha256, manifest sha256s, NPY equal to what astropy reads)."""
import hashlib
import http.client
import io
import json
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402

from fftest import AIA_171, HMI  # noqa: E402,F401

SOURCES = {"aia": open(AIA_171, "rb").read(), "hmi": open(HMI, "rb").read()}
_ASTROPY = {}


def astropy_data(kind):
    """The array astropy reads from the source file (the first image HDU with data)."""
    if kind not in _ASTROPY:
        with fits.open(io.BytesIO(SOURCES[kind])) as hdul:
            hdu = hdul[1] if len(hdul) > 1 and hdul[1].is_image and hdul[1].data is not None else hdul[0]
            _ASTROPY[kind] = np.array(hdu.data)
    return _ASTROPY[kind]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def kind_of(name):
    return "aia" if "aia" in name else "hmi"


def req(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def presign(port, sid, name, ctype="application/octet-stream", timeout=30):
    q = urllib.parse.urlencode({"session_id": sid, "filename": name, "contentType": ctype})
    st, _, b = req(port, "GET", "/FitsFlow-2-Trigger?" + q, timeout=timeout)
    return st, (json.loads(b) if st == 200 else b)


def put_presigned(port, url, data, ctype="application/octet-stream", timeout=30):
    """PUTs to the path of a presigned URL (the host in it may name an earlier port)."""
    u = urllib.parse.urlsplit(url)
    return req(port, "PUT", u.path + "?" + u.query, body=data,
               headers={"Content-Type": ctype}, timeout=timeout)


def upload(port, sid, name, data, timeout=30):
    """Returns the PUT status (200 = acknowledged), or raises OSError when the server is gone."""
    st, p = presign(port, sid, name, timeout=timeout)
    if st != 200:
        return st
    return put_presigned(port, p["url"], data, timeout=timeout)[0]


def trigger(port, sid, timeout=30):
    st, _, b = req(port, "GET", f"/FitsFlow-2-Trigger?session_id={sid}", timeout=timeout)
    return st


def wait_summary(port, sid, timeout):
    """Waits for the session's summary log; returns its text or None at the deadline."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, b = req(port, "GET", f"/temp/{sid}/logs/summary_log_2.txt")
        if st == 200:
            return b.decode("utf-8", "replace")
        time.sleep(0.1)
    return None


def check_session(port, sid, acked, sent, summary_timeout=120):
    """Checks one session after processing: acked is the set of names whose PUT was answered 200,
    sent maps every name ever sent to its bytes. Raises AssertionError with the reason."""
    for name in acked:
        st, _, b = req(port, "GET", f"/temp/{sid}/fits/{name}")
        assert st == 200, f"{sid}/{name}: acknowledged upload is gone ({st})"
        assert sha(b) == sha(sent[name]), f"{sid}/{name}: acknowledged upload is damaged"
    summary = wait_summary(port, sid, summary_timeout)
    assert summary is not None, f"{sid}: no summary within {summary_timeout} s"
    assert "ALL FILES PROCESSED SUCCESSFULLY" in summary, f"{sid}: summary says {summary!r}"
    st, _, b = req(port, "GET", f"/temp/{sid}/processed/manifest.json")
    assert st == 200, f"{sid}: no manifest ({st})"
    man = json.loads(b)
    bases = {f["base"]: f for f in man["files"]}
    for name in acked:
        assert name[:-5] in bases, f"{sid}: manifest lacks acknowledged {name}: {sorted(bases)}"
    for base, f in bases.items():
        name = base + ".fits"
        assert name in sent, f"{sid}: manifest lists {base}, never sent"
        # A file whose PUT was not acknowledged may still have been stored (killed after the
        # rename, before the answer): then it must be whole.
        st, _, b = req(port, "GET", f"/temp/{sid}/fits/{name}")
        assert st == 200 and sha(b) == sha(sent[name]), f"{sid}/{name}: stored upload damaged"
        assert f["status"] == "processed", (sid, base, f["status"], f.get("reason"))
        for o in f["outputs"]:
            st, _, b = req(port, "GET", f"/temp/{sid}/processed/{o['path']}")
            assert st == 200 and len(b) == o["bytes"], f"{sid}: {o['path']} missing or wrong size"
            assert sha(b) == o["sha256"], f"{sid}: {o['path']} sha256 differs from the manifest"
        st, _, b = req(port, "GET", f"/temp/{sid}/processed/data/{base}_data.npy")
        assert st == 200, f"{sid}: no NPY for {base}"
        arr = np.load(io.BytesIO(b))
        assert np.array_equal(arr, astropy_data(kind_of(name)), equal_nan=True), f"{sid}: {base} NPY != astropy"
    return man


def stray_temporaries(root):
    """Hidden temporaries of the fs store (".ff-tmp-*") under root: a kill mid-write leaves them."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, n) for n in files if n.startswith(".ff-tmp-")]
    return out


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
