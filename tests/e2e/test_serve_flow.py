"""`fitsflow serve` end to end over real HTTP, the way the original browser client uses it:
presign each file, PUT it with the client's headers, trigger, poll the summary log, fetch every
output the manifest lists and compare sha256; plus the newer routes (SSE, ZIP, status), conditional
and range requests on outputs, and a session with no uploads. Real SDO files; arrays checked
against astropy."""
import hashlib
import io
import json
import os
import re
import threading
import time
import zipfile

import numpy as np
from astropy.io import fits

from fftest import AIA_171, HMI, check, run_checks
from serve_harness import Server, presign, put_url, upload, wait_for

SRV = Server("serve-flow").start()
STATE = {}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def sse_collect(sid, out, timeout=120):
    """Reads the event stream until the "done" event (or timeout), appending (event, data)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=timeout)
    c.request("GET", f"/api/sessions/{sid}/events", headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    out.append(("status", r.status, r.getheader("Content-Type")))
    event, data = None, []
    while True:
        line = r.readline()  # chunked: the response decodes the framing
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "":
            if event:
                out.append((event, json.loads("\n".join(data))))
                if event == "done":
                    break
            event, data = None, []
    c.close()


def session():
    """Runs the client sequence once; later checks look at what it left."""
    if STATE:
        return STATE
    st, _, body = SRV.json("POST", "/api/sessions")
    assert st == 201, (st, body)
    sid = body["session_id"]
    events = []
    t = threading.Thread(target=sse_collect, args=(sid, events))
    t.start()
    time.sleep(0.3)
    files = {"aia_171.fits": open(AIA_171, "rb").read(), "hmi.FITS": open(HMI, "rb").read(),
             # a corrupt FITS among good ones: a header block and garbage
             "broken.fits": open(AIA_171, "rb").read()[:2880] + b"\x00garbage" * 100}
    for name, data in files.items():
        upload(SRV, sid, name, data)
    st, _, body = SRV.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
    assert st == 200 and body == {"status": "Processing Started!", "session_id": sid}, (st, body)
    t0 = time.time()
    summary = wait_for(SRV, f"/temp/{sid}/logs/summary_log_2.txt", timeout=180)
    STATE.update(sid=sid, files=files, summary=summary.decode(), seconds=time.time() - t0)
    t.join(timeout=30)
    STATE["events"] = events
    st, _, body = SRV.request("GET", f"/temp/{sid}/processed/manifest.json")
    assert st == 200, st
    STATE["manifest"] = json.loads(body)
    return STATE


@check
def new_session_ids_are_random_128_bit():
    ids = {SRV.json("POST", "/api/sessions")[2]["session_id"] for _ in range(20)}
    assert len(ids) == 20
    for i in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", i), i


@check
def summary_and_logs_follow_the_protocol():
    s = session()
    assert "ALL FILES PROCESSED SUCCESSFULLY" in s["summary"], s["summary"]
    sid = s["sid"]
    st, _, body = SRV.request("GET", f"/temp/{sid}/logs/download_summary_log_1.txt")
    assert st == 200 and body.decode().startswith("Downloaded 3 FITS files"), body
    st, _, body = SRV.request("GET", f"/temp/{sid}/logs/broken_log_2.txt")
    assert st == 200 and body.decode().startswith("Skipping: broken"), body
    for base in ("aia_171", "hmi"):
        st, _, body = SRV.request("GET", f"/temp/{sid}/logs/{base}_log_7.txt")
        assert st == 200, (base, st)


@check
def every_manifest_output_downloads_with_its_sha256():
    s = session()
    m = s["manifest"]
    processed = [f for f in m["files"] if f["status"] == "processed"]
    assert sorted(f["base"] for f in processed) == ["aia_171", "hmi"], m
    n = 0
    for f in processed:
        for o in f["outputs"]:
            st, h, body = SRV.request("GET", f"/temp/{s['sid']}/processed/{o['path']}")
            assert st == 200, (o["path"], st)
            assert len(body) == o["bytes"] == int(h["content-length"]), o["path"]
            assert sha(body) == o["sha256"], o["path"]
            assert h["etag"] and h["last-modified"], h
            n += 1
    assert n >= 8, n  # header txt/json, npy, csv per file at least
    skipped = [f for f in m["files"] if f["status"] != "processed"]
    assert [f["base"] for f in skipped] == ["broken"], skipped


@check
def served_arrays_equal_astropy():
    s = session()
    for src, base in ((AIA_171, "aia_171"), (HMI, "hmi")):
        st, h, body = SRV.request("GET", f"/temp/{s['sid']}/processed/data/{base}_data.npy")
        assert st == 200
        arr = np.load(io.BytesIO(body))
        with fits.open(src) as hdul:
            hdu = hdul[1] if len(hdul) > 1 and hdul[1].is_image and hdul[1].data is not None else hdul[0]
            assert np.array_equal(arr, hdu.data, equal_nan=True), base


@check
def media_types_like_cloudfront():
    s = session()
    want = {".npy": "application/octet-stream", ".json": "application/json", ".txt": "text/plain",
            ".csv": "text/csv", ".png": "image/png", ".asdf": "application/asdf",
            ".fits": "application/fits"}
    seen = set()
    for f in s["manifest"]["files"]:
        for o in f["outputs"]:
            ext = os.path.splitext(o["path"])[1]
            st, h, body = SRV.request("HEAD", f"/temp/{s['sid']}/processed/{o['path']}")
            assert st == 200 and body == b"", (o["path"], st)
            assert h["content-type"].startswith(want[ext]), (o["path"], h["content-type"])
            assert int(h["content-length"]) == o["bytes"], o["path"]
            seen.add(ext)
    assert {".npy", ".json", ".txt", ".csv"} <= seen, seen


@check
def range_and_conditional_requests():
    s = session()
    path = f"/temp/{s['sid']}/processed/data/aia_171_data.npy"
    st, h, full = SRV.request("GET", path)
    size = len(full)
    st, h, part = SRV.request("GET", path, headers={"Range": "bytes=100-199"})
    assert st == 206 and part == full[100:200] and h["content-range"] == f"bytes 100-199/{size}", (st, h)
    st, h, part = SRV.request("GET", path, headers={"Range": "bytes=-10"})
    assert st == 206 and part == full[-10:], st
    st, h, part = SRV.request("GET", path, headers={"Range": f"bytes={size - 5}-"})
    assert st == 206 and part == full[-5:], st
    st, h, body = SRV.request("GET", path, headers={"Range": f"bytes={size}-"})
    assert st == 416 and h["content-range"] == f"bytes */{size}" and "error" in json.loads(body), (st, h)
    st, h0, _ = SRV.request("HEAD", path)
    st, h, body = SRV.request("GET", path, headers={"If-None-Match": h0["etag"]})
    assert st == 304 and body == b"", st
    st, h, body = SRV.request("GET", path, headers={"If-None-Match": '"other"'})
    assert st == 200 and body == full
    st, h, body = SRV.request("GET", path, headers={"If-Modified-Since": h0["last-modified"]})
    assert st == 304, st
    st, h, body = SRV.request("GET", path, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert st == 200 and body == full
    # If-Range with a stale validator: the whole object
    st, h, body = SRV.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert st == 200 and body == full


@check
def events_stream_each_log_then_done():
    s = session()
    ev = s["events"]
    assert ev and ev[0][0] == "status" and ev[0][1] == 200 and ev[0][2].startswith("text/event-stream"), ev[:1]
    names = [d["name"] for e, d in ev[1:] if e == "log"]
    logs_dir = os.path.join(SRV.data, "temp", s["sid"], "logs")
    on_disk = sorted(n for n in os.listdir(logs_dir) if not n.startswith("."))
    assert sorted(set(names)) == on_disk, (names, on_disk)
    assert len(names) == len(set(names)), "a log was sent twice"
    assert ev[-1][0] == "done" and "ALL FILES PROCESSED SUCCESSFULLY" in ev[-1][1]["summary"], ev[-1]
    for e, d in ev[1:]:
        if e == "log":
            with open(os.path.join(logs_dir, d["name"])) as f:
                assert f.read() == d["text"], d["name"]


@check
def archive_zip_matches_manifest():
    s = session()
    st, h, body = SRV.request("GET", f"/api/sessions/{s['sid']}/archive.zip")
    assert st == 200 and h["content-type"] == "application/zip", (st, h)
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.testzip() is None
    names = set(z.namelist())
    assert "README.txt" in names and "manifest.json" in names, names
    n = 0
    for f in s["manifest"]["files"]:
        for o in f["outputs"]:
            assert sha(z.read(o["path"])) == o["sha256"], o["path"]
            n += 1
    assert n >= 8
    assert s["sid"] in z.read("README.txt").decode()


@check
def status_json_says_done():
    s = session()
    st, _, body = SRV.json("GET", f"/api/sessions/{s['sid']}")
    assert st == 200 and body["session_id"] == s["sid"] and body["state"] == "done", body


@check
def trigger_without_uploads_is_404_and_stores_nothing():
    sid = "empty-session-1"
    st, h, body = SRV.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
    assert st == 404 and h["content-type"] == "application/json", (st, h)
    assert "no uploads" in body["error"] and body["error"].endswith("then trigger it"), body
    assert not os.path.exists(os.path.join(SRV.data, "temp", sid)), os.listdir(os.path.join(SRV.data, "temp"))
    assert SRV.json("GET", f"/api/sessions/{sid}")[0] == 404
    assert SRV.request("GET", f"/temp/{sid}/logs/summary_log_2.txt")[0] == 404
    assert f'"session queued for processing","session":"{sid}"' not in SRV.read_log()  # no job


@check
def metrics_count_requests():
    session()
    st, h, body = SRV.request("GET", "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain"), st
    assert "fitsflow_" in body.decode()


@check
def request_log_is_json_lines():
    session()
    lines = [json.loads(l) for l in SRV.read_log().splitlines() if l.startswith("{")]
    reqs = [l for l in lines if l.get("message") == "request"]
    assert reqs, "no request lines"
    for l in reqs:
        assert {"method", "path", "status", "bytes", "ms"} <= set(l), l
    assert any(l["method"] == "PUT" and l["status"] == 200 for l in reqs)


@check
def graceful_stop_on_sigterm():
    session()
    rc = SRV.stop()
    assert rc == 0, rc
    for root, dirs, files in os.walk(SRV.data):
        assert not [f for f in files if f.startswith(".ff-tmp-")], (root, files)


try:
    run_checks()
finally:
    SRV.stop()
