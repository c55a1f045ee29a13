"""`fitsflow serve` with FITSFLOW_STORE=s3, against a real S3 peer on loopback (s3rver behind a
proxy that verifies every SigV4 signature with botocore). The original browser client's sequence
over real HTTP: presign, PUT with Content-Type and x-amz-server-side-encryption, trigger, poll
temp/S/logs/summary_log_2.txt through the server, fetch every manifest output through the server
(sha256, HEAD, Range, conditional requests with the store's ETag), the event stream and the ZIP;
then botocore checks that every object sits in the bucket under the original keys with the bytes
that were served, and that nothing but the queue and the secret was written to the data folder.
Plus: the session limit counts the uploads in the bucket, a 64 MiB object reaches a slow client
without the server holding it in memory, and SIGTERM during such a download stops cleanly."""
import hashlib
import http.client
import io
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile

from fftest import AIA_171, HMI, check, run_checks, scratch
import s3peer
from serve_harness import Server, presign, put_url, upload, wait_for

if not s3peer.ensure_node_modules():
    print("s3rver is not installed and scripts/deps-node.sh could not install it")
    print("0 passed, 1 failed")
    sys.exit(1)

MiB = 1 << 20
TMP = scratch("serve-s3")
PEER = s3peer.S3Peer(TMP).__enter__()
S3 = PEER.client()
B = PEER.bucket
LIMIT_MB = 20  # uploads near the limit go to S3 as multipart uploads (8 MiB parts)
SRV = Server("serve-s3", env=PEER.env(FITSFLOW_SESSION_LIMIT_MB=str(LIMIT_MB),
                                      FITSFLOW_SHUTDOWN_TIMEOUT="2"),
             data=os.path.join(TMP, "data")).start()
STATE = {}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def sse_collect(sid, out, timeout=120):
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


def bucket_keys(prefix):
    keys = {}
    for page in S3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix=prefix):
        for o in page.get("Contents", []):
            keys[o["Key"]] = o
    return keys


def session():
    """The original client's sequence, once; later checks look at what it left."""
    if STATE:
        return STATE
    sid = str(uuid.uuid4())  # the original client's kind of session id
    events = []
    t = threading.Thread(target=sse_collect, args=(sid, events))
    t.start()
    time.sleep(0.3)
    files = {"aia_171.fits": open(AIA_171, "rb").read(), "hmi.fits": open(HMI, "rb").read(),
             "broken.fits": open(AIA_171, "rb").read()[:2880] + b"\x00garbage" * 100}
    for name, data in files.items():
        p = presign(SRV, sid, name, "image/fits")
        assert p["key"] == f"temp/{sid}/fits/{name}", p
        st, h, body = put_url(SRV, p["url"], data, "image/fits")
        assert st == 200 and json.loads(body)["bytes"] == len(data), (st, body)
        assert h.get("etag"), h
    st, _, body = SRV.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
    assert st == 200 and body == {"status": "Processing Started!", "session_id": sid}, (st, body)
    summary = wait_for(SRV, f"/temp/{sid}/logs/summary_log_2.txt", timeout=180)
    t.join(timeout=30)
    st, _, body = SRV.request("GET", f"/temp/{sid}/processed/manifest.json")
    assert st == 200, st
    STATE.update(sid=sid, files=files, summary=summary.decode(), events=events,
                 manifest=json.loads(body))
    return STATE


def outputs(s):
    m = s["manifest"]
    return [o for f in m["files"] if f["status"] == "processed" for o in f["outputs"]] + \
        m.get("session_outputs", [])


@check
def client_sequence_completes():
    s = session()
    assert "ALL FILES PROCESSED SUCCESSFULLY" in s["summary"], s["summary"]
    st, _, body = SRV.request("GET", f"/temp/{s['sid']}/logs/download_summary_log_1.txt")
    assert st == 200 and body.decode().startswith("Downloaded 3 FITS files"), body
    st, _, body = SRV.request("GET", f"/temp/{s['sid']}/logs/broken_log_2.txt")
    assert st == 200 and body.decode().startswith("Skipping: broken"), body
    done = sorted(f["base"] for f in s["manifest"]["files"] if f["status"] == "processed")
    assert done == ["aia_171", "hmi"], s["manifest"]


@check
def every_output_downloads_with_its_sha256_and_the_stores_etag():
    s = session()
    n = 0
    for o in outputs(s):
        key = f"temp/{s['sid']}/processed/{o['path']}"
        st, h, body = SRV.request("GET", "/" + key)
        assert st == 200 and len(body) == o["bytes"] == int(h["content-length"]), (o["path"], st)
        assert sha(body) == o["sha256"], o["path"]
        head = S3.head_object(Bucket=B, Key=key)
        assert h["etag"] == head["ETag"], (h["etag"], head["ETag"])
        assert h["last-modified"], h
        st, hh, hb = SRV.request("HEAD", "/" + key)
        assert st == 200 and hb == b"" and int(hh["content-length"]) == o["bytes"], (o["path"], st, hh)
        assert hh["etag"] == h["etag"] and hh["content-type"] == h["content-type"]
        n += 1
    assert n >= 8, n


@check
def range_and_conditional_requests():
    s = session()
    path = f"/temp/{s['sid']}/processed/data/aia_171_data.npy"
    st, h0, full = SRV.request("GET", path)
    size = len(full)
    assert st == 200 and h0["accept-ranges"] == "bytes"
    st, h, part = SRV.request("GET", path, headers={"Range": "bytes=100-199"})
    assert st == 206 and part == full[100:200] and h["content-range"] == f"bytes 100-199/{size}", (st, h)
    st, h, part = SRV.request("GET", path, headers={"Range": "bytes=-10"})
    assert st == 206 and part == full[-10:], st
    st, h, part = SRV.request("GET", path, headers={"Range": f"bytes={size - 5}-"})
    assert st == 206 and part == full[-5:] and h["content-length"] == "5", (st, h)
    st, h, part = SRV.request("HEAD", path, headers={"Range": "bytes=0-0"})
    assert st == 206 and part == b"" and h["content-length"] == "1", (st, h)
    st, h, body = SRV.request("GET", path, headers={"Range": f"bytes={size}-"})
    assert st == 416 and h["content-range"] == f"bytes */{size}" and "error" in json.loads(body), (st, h)
    st, h, body = SRV.request("GET", path, headers={"If-None-Match": h0["etag"]})
    assert st == 304 and body == b"", st
    st, h, body = SRV.request("GET", path, headers={"If-None-Match": '"other"'})
    assert st == 200 and body == full
    st, h, body = SRV.request("GET", path, headers={"If-Modified-Since": h0["last-modified"]})
    assert st == 304, st
    st, h, body = SRV.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": h0["etag"]})
    assert st == 206 and body == full[:10], st
    st, h, body = SRV.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert st == 200 and body == full
    st, h, body = SRV.request("GET", f"/temp/{s['sid']}/processed/data/none.npy")
    assert st == 404 and "error" in json.loads(body), st


@check
def objects_are_in_the_bucket_under_the_original_keys():
    s = session()
    sid = s["sid"]
    keys = bucket_keys(f"temp/{sid}/")
    for name, data in s["files"].items():
        k = f"temp/{sid}/fits/{name}"
        assert k in keys, (k, sorted(keys)[:10])
        got = S3.get_object(Bucket=B, Key=k)
        assert got["Body"].read() == data, k
    for o in outputs(s):
        k = f"temp/{sid}/processed/{o['path']}"
        assert k in keys, k
        assert sha(S3.get_object(Bucket=B, Key=k)["Body"].read()) == o["sha256"], k
    for k in ("logs/download_summary_log_1.txt", "logs/summary_log_2.txt", "logs/aia_171_log_7.txt",
              "processed/manifest.json", "processed/header/hmi_header.txt",
              "processed/data/hmi_data.csv", "processed/asdf/aia_171.asdf"):
        assert f"temp/{sid}/{k}" in keys, k
    # nothing of the session on the local disk: only the queue and the secret live there
    local = []
    for root, dirs, files in os.walk(SRV.data):
        local += [os.path.relpath(os.path.join(root, f), SRV.data) for f in files]
    assert not [f for f in local if f.startswith("temp") or f.startswith("daily_videos")], local
    assert "secret" in local and "queue.db" in local, local


@check
def events_stream_each_log_in_the_bucket_then_done():
    s = session()
    ev = s["events"]
    assert ev and ev[0][1] == 200 and ev[0][2].startswith("text/event-stream"), ev[:1]
    names = [d["name"] for e, d in ev[1:] if e == "log"]
    prefix = f"temp/{s['sid']}/logs/"
    in_bucket = sorted(k[len(prefix):] for k in bucket_keys(prefix))
    assert sorted(names) == in_bucket, (names, in_bucket)
    assert ev[-1][0] == "done" and "ALL FILES PROCESSED SUCCESSFULLY" in ev[-1][1]["summary"], ev[-1]
    for e, d in ev[1:]:
        if e == "log":
            text = S3.get_object(Bucket=B, Key=prefix + d["name"])["Body"].read().decode()
            assert text == d["text"], d["name"]


@check
def archive_zip_matches_manifest():
    s = session()
    st, h, body = SRV.request("GET", f"/api/sessions/{s['sid']}/archive.zip")
    assert st == 200 and h["content-type"] == "application/zip", (st, h)
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.testzip() is None
    names = set(z.namelist())
    assert "README.txt" in names and "manifest.json" in names, names
    outs = outputs(s)
    for o in outs:
        assert sha(z.read(o["path"])) == o["sha256"], o["path"]
    assert len(names) == len(outs) + 2, (len(names), len(outs))  # + manifest.json, README.txt


@check
def status_json_says_done():
    s = session()
    st, _, body = SRV.json("GET", f"/api/sessions/{s['sid']}")
    assert st == 200 and body["state"] == "done", body


@check
def session_limit_counts_the_uploads_in_the_bucket():
    sid = "limit-" + uuid.uuid4().hex[:12]
    limit = LIMIT_MB * MiB
    first = os.urandom(limit - 1000)
    n = len(PEER.requests)
    upload(SRV, sid, "a.fits", first)
    with PEER.lock:
        parts = [r for r in PEER.requests[n:] if r[0] == "PUT" and "partNumber=" in r[1]]
    assert len(parts) == 3, parts
    assert S3.get_object(Bucket=B, Key=f"temp/{sid}/fits/a.fits")["Body"].read() == first
    p = presign(SRV, sid, "b.fits")
    st, _, body = put_url(SRV, p["url"], b"\0" * 1001)
    assert st == 413 and "limit" in json.loads(body)["error"], (st, body)
    assert f"temp/{sid}/fits/b.fits" not in bucket_keys(f"temp/{sid}/")
    upload(SRV, sid, "c.fits", b"\1" * 1000)
    # a new upload of an existing name replaces it: its old size does not count
    upload(SRV, sid, "a.fits", b"\2" * (limit - 1000))
    assert set(bucket_keys(f"temp/{sid}/")) == {f"temp/{sid}/fits/a.fits", f"temp/{sid}/fits/c.fits"}


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


BIG = os.urandom(64 * MiB)
BIG_KEY = "temp/big-session-1/processed/data/big_data.npy"


@check
def big_object_streams_to_a_slow_client_in_bounded_memory():
    S3.put_object(Bucket=B, Key=BIG_KEY, Body=BIG)
    pid = SRV.proc.pid
    rss0 = vm(pid, "VmRSS")
    c = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=60)
    c.request("GET", "/" + BIG_KEY)
    r = c.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) == len(BIG)
    h = hashlib.sha256()
    got = 0
    peak = rss0
    while True:
        chunk = r.read(1 * MiB)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
        time.sleep(0.01)
        peak = max(peak, vm(pid, "VmRSS"))
    c.close()
    assert got == len(BIG) and h.hexdigest() == sha(BIG)
    print(f"64 MiB to a slow client: server RSS {rss0} KiB before, peak {peak} KiB")
    # the whole object would add 64 MiB; a ring and a reader buffer add well under 1 MiB each
    assert peak - rss0 < 16 * 1024, (rss0, peak)
    # concurrent ranged reads of it through the server
    results = {}

    def fetch(i):
        off = i * 7 * MiB + i
        st, hh, body = SRV.request("GET", "/" + BIG_KEY, headers={"Range": f"bytes={off}-{off + 3 * MiB}"})
        results[i] = (st, body == BIG[off:off + 3 * MiB + 1])

    ts = [threading.Thread(target=fetch, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(v == (206, True) for v in results.values()), results


@check
def every_store_request_was_signed_correctly():
    session()
    assert PEER.requests and not PEER.rejected(), PEER.rejected()[:3]


@check
def sigterm_during_a_slow_download_stops_cleanly():
    c = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=60)
    c.request("GET", "/" + BIG_KEY)
    r = c.getresponse()
    assert r.status == 200
    r.read(256 * 1024)  # then stop reading: the server's ring fills and its connection waits
    time.sleep(0.5)
    t0 = time.time()
    rc = SRV.stop(timeout=30)
    assert rc == 0, (rc, SRV.read_log()[-2000:])
    assert time.time() - t0 < 20, time.time() - t0
    c.close()


try:
    run_checks()
finally:
    SRV.stop()
    PEER.__exit__(None, None, None)
