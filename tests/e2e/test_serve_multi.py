"""Two `fitsflow serve` instances on one bucket (s3rver behind the SigV4-checking proxy of
tests/e2e/s3peer.py), with one FITSFLOW_SECRET and one public name, as behind a load balancer:

- both start online without the day's movie: one takes its lease and builds it, the other leaves it;
- a URL presigned by A is taken by B; uploads and the trigger go to B; events, status, every output
  (sha256 against the manifest) and the ZIP come from A and from B alike;
- triggers of one session on A and B at the same moment: the session is processed under its
  lease, by one instance at a time (lease intervals from both logs never overlap and every file's
  processing lies inside its instance's interval), each file once, both jobs end; the lease object
  is never served nor archived;
- SIGUSR1 to both at once runs both cleans: old sessions are deleted once each, a session being
  processed (its objects aged like the others, so that only its lease protects it) loses nothing
  and completes afterwards, no error is logged;
- kill -9 of the instance processing a session (held up in a remote step by a gate): the other
  instance, which never got a trigger for it, takes the abandoned lease over once it has seen it
  unchanged for FITSFLOW_LEASE_SECONDS, finishes the session without redoing the finished file;
  the killed instance, restarted, ends its job without processing anything again.

The remote services (Helioviewer, JSOC, the SDO movies) are a small gate on 127.0.0.1 that answers
404 at once, or holds Helioviewer's image lookups while it is closed (and the movie parts until
released)."""
import datetime as dt
import hashlib
import http.client
import http.server
import io
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import zipfile

from fftest import AIA_171, HMI, check, run_checks, scratch
import s3peer
from serve_harness import Server, presign

if not s3peer.ensure_node_modules():
    print("s3rver is not installed and scripts/deps-node.sh could not install it")
    print("0 passed, 1 failed")
    sys.exit(1)

LEASE_S = 4
TMP = scratch("serve-multi")
PEER = s3peer.S3Peer(TMP).__enter__()
S3 = PEER.client()
B = PEER.bucket
AIA = open(AIA_171, "rb").read()
HMI_BYTES = open(HMI, "rb").read()


class Gate:
    """Stands in for Helioviewer, JSOC and the SDO site: 404 to everything, at once; while closed,
    Helioviewer's getClosestImage requests beyond the `allow` first ones wait until it opens."""

    def __init__(self):
        self.cond = threading.Condition()
        self.allow = None  # None: open
        self.held = 0
        self.hold_movies = True  # the SDO movie parts wait until released
        self.movies_held = 0
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/v2/getClosestImage"):
                    with gate.cond:
                        if gate.allow is not None and gate.allow > 0:
                            gate.allow -= 1
                        elif gate.allow is not None:
                            gate.held += 1
                            gate.cond.notify_all()
                            gate.cond.wait_for(lambda: gate.allow is None, timeout=600)
                if self.path.startswith("/assets/"):
                    with gate.cond:
                        if gate.hold_movies:
                            gate.movies_held += 1
                            gate.cond.notify_all()
                            gate.cond.wait_for(lambda: not gate.hold_movies, timeout=600)
                body = b'{"error": "not here"}'
                try:
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self, allow):
        with self.cond:
            self.allow, self.held = allow, 0

    def open(self):
        with self.cond:
            self.allow = None
            self.cond.notify_all()

    def release_movies(self):
        with self.cond:
            self.hold_movies = False
            self.cond.notify_all()

    def wait_held(self, timeout=120):
        with self.cond:
            assert self.cond.wait_for(lambda: self.held > 0, timeout=timeout), "nothing reached the gate"


GATE = Gate()
ENV = PEER.env(FITSFLOW_SECRET="one-secret-for-every-instance-0123456789",
               FITSFLOW_PUBLIC_URL="http://fitsflow.invalid",
               FITSFLOW_LEASE_SECONDS=str(LEASE_S), FITSFLOW_LEASE_SETTLE_MS="1000",
               FITSFLOW_OFFLINE="0", FITSFLOW_HELIOVIEWER_URL=GATE.url, FITSFLOW_JSOC_URL=GATE.url,
               FITSFLOW_SDO_URL=GATE.url, FITSFLOW_HTTP_RETRIES="0", FITSFLOW_HTTP_TIMEOUT="300",
               FITSFLOW_FILES_AT_ONCE="1", FITSFLOW_RETENTION_HOURS="1",
               FITSFLOW_CLEAN_CRON="0 0 1 1 *", FITSFLOW_JOB_BACKOFF_MS="300",
               FITSFLOW_JOB_BACKOFF_MAX_MS="1000", FITSFLOW_SHUTDOWN_TIMEOUT="2")
SA = Server("multi-a", env=ENV, data=os.path.join(TMP, "a")).start()
SB = Server("multi-b", env=ENV, data=os.path.join(TMP, "b")).start()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def log_lines(srv, sid=None, since=0):
    out = []
    for line in srv.read_log()[since:].splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if sid is None or j.get("session") == sid:
            out.append(j)
    return out


def when(j):
    return dt.datetime.strptime(j["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()


def wait_until(what, fn, timeout=180):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def messages(srv, sid, pattern, since=0):
    return [j for j in log_lines(srv, sid, since) if pattern(j["message"])]


def jobs_ended(srv, sid, since=0):
    return messages(srv, sid, lambda m: re.match(r"job \d+ (done|failed|dropped)", m), since)


def bucket_keys(prefix):
    keys = {}
    for page in S3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix=prefix):
        for o in page.get("Contents", []):
            keys[o["Key"]] = o
    return keys


def put_through(srv, url, data, ctype="application/octet-stream"):
    """A PUT to a URL presigned for the shared name, routed to srv as a load balancer would."""
    u = urllib.parse.urlsplit(url)
    assert u.netloc == "fitsflow.invalid", url
    return srv.request("PUT", u.path + "?" + u.query, body=data,
                       headers={"Content-Type": ctype, "x-amz-server-side-encryption": "AES256"})


def upload(presign_on, put_on, sid, name, data):
    p = presign(presign_on, sid, name)
    st, _, body = put_through(put_on, p["url"], data)
    assert st == 200, (st, body)


def trigger(srv, sid):
    st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
    assert st == 200 and body["status"] == "Processing Started!", (st, body)


def summary(srv, sid, timeout=180):
    def get():
        st, _, body = srv.request("GET", f"/temp/{sid}/logs/summary_log_2.txt")
        return body.decode() if st == 200 else None
    return wait_until(f"the summary of {sid}", get, timeout)


def sse_collect(srv, sid, out, timeout=180):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    c.request("GET", f"/api/sessions/{sid}/events", headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    out.append(("status", r.status))
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


def manifest(srv, sid):
    st, _, body = srv.request("GET", f"/temp/{sid}/processed/manifest.json")
    assert st == 200, st
    return json.loads(body)


def outputs(m):
    return [o for f in m["files"] if f["status"] == "processed" for o in f["outputs"]] + \
        m.get("session_outputs", [])


def lease_intervals(srv, sid, since=0):
    """[(taken, released)] from the instance's own log lines."""
    spans, start = [], None
    for j in log_lines(srv, sid, since):
        if j["message"].startswith("lease taken"):
            assert start is None, "two leases taken without a release"
            start = when(j)
        elif j["message"].startswith("lease released"):
            assert start is not None, "a release without a lease"
            spans.append((start, when(j)))
            start = None
    assert start is None, "a lease still held"
    return spans


def no_errors(srv, since=0):
    bad = [j for j in log_lines(srv, None, since) if j.get("level") == "error"]
    assert not bad, bad[:3]


@check
def one_instance_builds_the_daily_movie():
    """Both start online without the movie: one takes its lease and fetches (held at the gate),
    the other leaves it."""
    try:
        with GATE.cond:
            assert GATE.cond.wait_for(lambda: GATE.movies_held > 0, timeout=120)

        def left(srv):
            return messages(srv, None, lambda m: m.startswith("daily video") and "not built here: lease daily_videos/" in m)
        builder, other = wait_until("an instance leaving the movie to the other",
                                    lambda: (SA, SB) if left(SB) else (SB, SA) if left(SA) else None, 120)
        assert not left(builder), "both left the movie"
    finally:
        GATE.release_movies()
    wait_until("the movie attempt to end", lambda: messages(builder, None, lambda m: m.startswith("daily video") and "could be fetched" in m))


@check
def presign_on_a_upload_and_trigger_on_b_events_and_zip_from_both():
    sid = "multi-flow-0001"
    streams = {"A": [], "B": []}
    threads = [threading.Thread(target=sse_collect, args=(srv, sid, streams[k]))
               for k, srv in (("A", SA), ("B", SB))]
    for t in threads:
        t.start()
    files = {"aia.fits": AIA, "hmi.fits": HMI_BYTES}
    for name, data in files.items():
        upload(SA, SB, sid, name, data)  # the URL comes from A, the bytes go to B
    trigger(SB, sid)
    text = summary(SA, sid)
    assert text.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", text
    for t in threads:
        t.join(timeout=60)
    m = manifest(SA, sid)
    assert manifest(SB, sid) == m
    assert sorted(f["input"] for f in m["files"] if f["status"] == "processed") == sorted(files)
    prefix = f"temp/{sid}/logs/"
    in_bucket = sorted(k[len(prefix):] for k in bucket_keys(prefix))
    for k, ev in streams.items():
        assert ev and ev[0] == ("status", 200), (k, ev[:1])
        names = sorted(d["name"] for e, d in ev[1:] if e == "log")
        assert names == in_bucket, (k, names, in_bucket)
        assert ev[-1][0] == "done" and "ALL FILES PROCESSED SUCCESSFULLY" in ev[-1][1]["summary"], (k, ev[-1])
    outs = outputs(m)
    assert len(outs) >= 8, outs
    for srv in (SA, SB):
        for o in outs:
            st, _, body = srv.request("GET", f"/temp/{sid}/processed/{o['path']}")
            assert st == 200 and sha(body) == o["sha256"], (srv.port, o["path"], st)
        st, h, body = srv.request("GET", f"/api/sessions/{sid}/archive.zip")
        assert st == 200 and h["content-type"] == "application/zip", st
        z = zipfile.ZipFile(io.BytesIO(body))
        assert z.testzip() is None
        for o in outs:
            assert sha(z.read(o["path"])) == o["sha256"], o["path"]
        assert set(z.namelist()) == {o["path"] for o in outs} | {"manifest.json", "README.txt"}
        st, _, body = srv.json("GET", f"/api/sessions/{sid}")
        assert st == 200 and body["state"] == "done", body
    # processed by B, under its lease, which is gone afterwards
    assert lease_intervals(SB, sid) and not lease_intervals(SA, sid)
    assert not bucket_keys(f"temp/.leases/sessions/{sid}")
    assert jobs_ended(SB, sid) and not jobs_ended(SA, sid)


@check
def simultaneous_triggers_process_the_session_once_at_a_time():
    sid = "multi-twice-0002"
    names = [f"f{i:02d}.fits" for i in range(8)]
    for i, name in enumerate(names):
        upload(SB if i % 2 else SA, SA if i % 2 else SB, sid, name, AIA if i % 3 else HMI_BYTES)
    since = {SA: len(SA.read_log()), SB: len(SB.read_log())}
    go = threading.Barrier(2)

    def fire(srv):
        go.wait()
        trigger(srv, sid)

    ts = [threading.Thread(target=fire, args=(srv,)) for srv in (SA, SB)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    # while someone holds the lease, its object is in the bucket and never served
    key = f"temp/.leases/sessions/{sid}"
    wait_until("the lease object", lambda: key in bucket_keys(key), timeout=60)
    for srv in (SA, SB):
        st, _, _ = srv.request("GET", "/" + key)
        assert st == 404, st
        st, _, _ = srv.request("HEAD", "/" + key)
        assert st == 404, st
    wait_until("both jobs to end", lambda: jobs_ended(SA, sid, since[SA]) and jobs_ended(SB, sid, since[SB]))
    text = summary(SA, sid)
    assert text.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", text
    spans = {srv: lease_intervals(srv, sid, since[srv]) for srv in (SA, SB)}
    assert spans[SA] and spans[SB], spans
    all_spans = sorted((a, b, srv.port) for srv in (SA, SB) for a, b in spans[srv])
    for (a1, b1, p1), (a2, b2, p2) in zip(all_spans, all_spans[1:]):
        assert b1 <= a2, f"instances {p1} and {p2} held the session's lease at once: {all_spans}"
    # every file's processing lies inside its instance's lease; each file once in all
    processed = []
    for srv in (SA, SB):
        for j in log_lines(srv, sid, since[srv]):
            if j["message"] in ("processing", "processed") or j["message"].startswith("job ") and "started" in j["message"]:
                t = when(j)
                assert any(a <= t <= b for a, b in spans[srv]), (srv.port, j, spans[srv])
            if j["message"] == "processed":
                processed.append(j["file"])
    assert sorted(processed) == names, processed
    # the later job waited for the lease instead of running beside the first
    waits = messages(SA, sid, lambda m: " waits: " in m, since[SA]) + \
        messages(SB, sid, lambda m: " waits: " in m, since[SB])
    assert waits, "neither job waited for the lease"
    m = manifest(SB, sid)
    for o in outputs(m):
        got = S3.get_object(Bucket=B, Key=f"temp/{sid}/processed/{o['path']}")["Body"].read()
        assert sha(got) == o["sha256"], o["path"]
    st, _, body = SA.request("GET", f"/api/sessions/{sid}/archive.zip")
    assert st == 200 and not [n for n in zipfile.ZipFile(io.BytesIO(body)).namelist() if "lease" in n]
    st, _, body = SA.request("GET", f"/api/sessions/{sid}")
    assert st == 200 and b"lease" not in body
    assert not bucket_keys(key)


def age_in_s3rver(sid, seconds):
    """Backdates every object of the session as s3rver reports it (its files' mtimes), until its
    listing shows every object that old: a write s3rver was still finishing would otherwise leave
    one object new, and the clean rightly takes the session for a live one."""
    root = os.path.join(PEER.dir, B, "temp", sid)
    assert os.path.isdir(root), root
    deadline = time.monotonic() + 30
    while True:
        t = time.time() - seconds
        for d, _, files in os.walk(root):
            for f in files:
                os.utime(os.path.join(d, f), (t, t))
        young = [k for k, o in bucket_keys(f"temp/{sid}/").items()
                 if o["LastModified"].timestamp() > t + 60]
        if not young:
            return
        assert time.monotonic() < deadline, f"still new after backdating: {young}"
        time.sleep(0.1)


@check
def cleans_on_both_at_once_delete_old_sessions_once_and_spare_a_leased_one():
    old = [f"multi-old-{i:04d}" for i in range(4)]
    for i, sid in enumerate(old):
        for k in ("fits/a.fits", "logs/a_log_1.txt", "processed/data/a_data.npy"):
            S3.put_object(Bucket=B, Key=f"temp/{sid}/{k}", Body=b"x" * (i + 1))
        age_in_s3rver(sid, 2 * 3600)
    live = "multi-live-0003"
    upload(SA, SA, live, "a.fits", AIA)
    upload(SA, SA, live, "b.fits", HMI_BYTES)
    GATE.close(allow=1)  # a.fits goes through, b.fits is held in its remote step
    try:
        since = {SA: len(SA.read_log()), SB: len(SB.read_log())}
        trigger(SA, live)
        GATE.wait_held()
        # b's local outputs, level 1.5's included, are written beside its held remote step; then
        # nothing more until the gate opens (the ASDF bundle and the later step logs wait for the
        # remote steps)
        local = [f"temp/{live}/processed/{k}" for k in ("data/b_data.npy", "data/b_data.csv",
                                                        "images/local/b_gray.png", "images/local/b_color.png",
                                                        "prep/b_lev15.fits", "prep/b_ml.npy")]
        wait_until("b's local outputs", lambda: set(local) <= set(bucket_keys(f"temp/{live}/")))
        age_in_s3rver(live, 2 * 3600)  # as old as the others: only its lease protects it now
        before = set(bucket_keys(f"temp/{live}/"))
        assert f"temp/{live}/fits/b.fits" in before and f"temp/{live}/logs/a_log_7.txt" in before, before
        for srv in (SA, SB):
            srv.proc.send_signal(signal.SIGUSR1)

        def clean_done(srv):
            return messages(srv, None, lambda m: m.startswith("clean: deleted") and "sessions" in m, since[srv])
        wait_until("both cleans", lambda: clean_done(SA) and clean_done(SB), timeout=120)
        for sid in old:
            assert not bucket_keys(f"temp/{sid}/"), sid
            deletions = [j for srv in (SA, SB) for j in messages(srv, sid, lambda m: m.startswith("clean: deleted"), since[srv])]
            assert len(deletions) == 1, (sid, deletions)
        after = set(bucket_keys(f"temp/{live}/"))
        assert after == before, (sorted(before - after), sorted(after - before))
        spared = messages(SB, live, lambda m: m.startswith("clean: spared: lease"), since[SB])
        assert spared, log_lines(SB, live, since[SB])
        no_errors(SA, since[SA])
        no_errors(SB, since[SB])
    finally:
        GATE.open()
    text = summary(SA, live)
    assert text.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", text
    m = manifest(SA, live)
    assert sorted(f["input"] for f in m["files"] if f["status"] == "processed") == ["a.fits", "b.fits"]


@check
def kill_9_of_the_holder_the_other_takes_over_and_finishes():
    global SA
    sid = "multi-kill-0004"
    upload(SB, SA, sid, "a.fits", AIA)
    upload(SB, SA, sid, "b.fits", HMI_BYTES)
    GATE.close(allow=1)
    try:
        since_b = len(SB.read_log())
        trigger(SA, sid)  # only A knows of it
        GATE.wait_held()
        assert messages(SA, sid, lambda m: m == "processed")[0]["file"] == "a.fits"
        SA.proc.send_signal(signal.SIGKILL)
        SA.proc.wait()
        killed_at = time.time()
        SA.proc = None
        SA.log.close()
    finally:
        GATE.open()
    text = summary(SB, sid, timeout=240)
    assert text.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", text
    taken = messages(SB, sid, lambda m: m.startswith("lease taken"), since_b)
    # abandoned = unchanged for the lease time since B first saw A's last renewal, which came at
    # most a sixth of it before the kill
    assert taken and when(taken[0]) - killed_at >= LEASE_S * 5 / 6 - 0.2, (taken, killed_at)
    assert messages(SB, sid, lambda m: m.startswith("session queued here"), since_b)
    assert [j["file"] for j in messages(SB, sid, lambda m: m == "processing", since_b)] == ["b.fits"]
    m = manifest(SB, sid)
    assert sorted(f["input"] for f in m["files"] if f["status"] == "processed") == ["a.fits", "b.fits"]
    for o in outputs(m):
        st, _, body = SB.request("GET", f"/temp/{sid}/processed/{o['path']}")
        assert st == 200 and sha(body) == o["sha256"], o["path"]
    wait_until("B's job to end", lambda: jobs_ended(SB, sid, since_b))
    assert not bucket_keys(f"temp/.leases/sessions/{sid}")
    # A, restarted on its data folder, resumes its job: nothing is left to process
    since_a = len(SA.read_log())
    SA = Server("multi-a", env=ENV, data=os.path.join(TMP, "a")).start()
    wait_until("A's resumed job to end", lambda: jobs_ended(SA, sid, since_a))
    assert not messages(SA, sid, lambda m: m == "processing", since_a)
    assert manifest(SA, sid)["files"] == m["files"]


@check
def a_second_instance_on_one_data_folder_refuses_to_start():
    other = Server("multi-a2", env=ENV, data=os.path.join(TMP, "a"))
    other.log_path = os.path.join(TMP, "a2.log")
    try:
        other.start()
        raise AssertionError("a second serve started on the data folder of another")
    except AssertionError as e:
        assert "server exited with 1" in str(e), e
    log = open(other.log_path).read()
    assert f"another fitsflow serve (pid {SA.proc.pid}) uses the data folder" in log, log[-2000:]
    st, _, _ = SA.request("GET", "/healthz")
    assert st == 200


@check
def every_store_request_was_signed_correctly():
    assert PEER.requests and not PEER.rejected(), PEER.rejected()[:3]


try:
    run_checks()
finally:
    for srv in (SA, SB):
        srv.stop()
    GATE.open()
    GATE.release_movies()
    PEER.__exit__(None, None, None)
