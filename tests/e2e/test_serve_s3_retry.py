"""`fitsflow serve` on S3 when S3 fails: a job that fails for a transient reason stays queued and
is retried with backoff, and a trigger accepted during an outage completes once S3 is back.

Between the server and the S3 peer (s3rver behind its SigV4-checking proxy, tests/e2e/s3peer.py)
sits a small fault proxy: it forwards every request unchanged, or answers 503 SlowDown (as S3
does when it sheds load) to the requests a rule picks. Checks:
- outage: S3 answers nothing but 503 while the client triggers; the trigger is still
  "Processing Started!" (the job is durable), attempts fail and are retried with backoff, and
  once S3 is back the session completes with every file processed;
- bounded attempts: an upload S3 never serves fails the job's attempts; after the last one the
  session is finished, that file `failed` with S3's reason in its logs and the manifest, the
  other file processed once (not redone on each attempt), and the summary's first line says not
  everything succeeded."""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time

from fftest import AIA_171, HMI, check, run_checks, scratch
import s3peer
from serve_harness import Server, upload, wait_for

if not s3peer.ensure_node_modules():
    print("s3rver is not installed and scripts/deps-node.sh could not install it")
    print("0 passed, 1 failed")
    sys.exit(1)

TMP = scratch("serve-s3-retry")
PEER = s3peer.S3Peer(TMP).__enter__()


class FaultProxy:
    """Forwards to the S3 peer; rule(method, path) returning True makes it answer 503."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.rule = None
        self.faults = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rule = proxy.rule
                if rule and rule(self.command, self.path):
                    with proxy.lock:
                        proxy.faults += 1
                    msg = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                           b"<Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(msg)
                    return
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "expect")}
                c.request(self.command, self.path, body=body, headers=fwd)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                if self.command == "HEAD":
                    self.send_header("Content-Length", r.getheader("Content-Length") or "0")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


PROXY = FaultProxy(PEER.port)


def server(name, **env):
    e = PEER.env(FITSFLOW_S3_ENDPOINT=f"http://127.0.0.1:{PROXY.port}", FITSFLOW_JOB_BACKOFF_MS="300",
                 FITSFLOW_JOB_BACKOFF_MAX_MS="1000", FITSFLOW_SHUTDOWN_TIMEOUT="2")
    e.update(env)
    return Server(name, env=e, data=os.path.join(TMP, name)).start()


def wait_log(srv, pattern, count=1, timeout=120):
    deadline = time.time() + timeout
    while True:
        found = re.findall(pattern, srv.read_log())
        if len(found) >= count:
            return found
        assert time.time() < deadline, f"no {count} x {pattern!r} in the log:\n{srv.read_log()[-3000:]}"
        time.sleep(0.05)


@check
def trigger_during_an_outage_completes_after_s3_returns():
    srv = server("outage", FITSFLOW_JOB_ATTEMPTS="50")
    try:
        sid = "outage-session-1"
        upload(srv, sid, "aia.fits", open(AIA_171, "rb").read())
        upload(srv, sid, "hmi.fits", open(HMI, "rb").read())
        PROXY.rule = lambda method, path: True  # S3 sheds every request
        st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
        assert st == 200 and body == {"status": "Processing Started!", "session_id": sid}, (st, body)
        # Attempts fail and are retried; nothing is lost meanwhile.
        wait_log(srv, r'attempt \d+ of 50 failed: [^"]*HTTP 503[^"]*; next attempt in', count=2)
        st, _, h = srv.json("GET", "/healthz")
        assert h["queue_pending"] + h["queue_running"] == 1, h
        PROXY.rule = None  # S3 is back
        summary = wait_for(srv, f"/temp/{sid}/logs/summary_log_2.txt", timeout=120).decode()
        assert summary.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", summary
        st, _, body = srv.request("GET", f"/temp/{sid}/processed/manifest.json")
        m = json.loads(body)
        assert [f["status"] for f in m["files"]] == ["processed", "processed"], m["files"]
        wait_log(srv, r'"message":"job \d+ done"')
    finally:
        PROXY.rule = None
        srv.stop()


@check
def after_the_last_attempt_the_file_is_failed_with_the_reason():
    srv = server("bounded", FITSFLOW_JOB_ATTEMPTS="3")
    try:
        sid = "bounded-session-1"
        upload(srv, sid, "good.fits", open(AIA_171, "rb").read())
        upload(srv, sid, "unlucky.fits", open(HMI, "rb").read())
        PROXY.rule = lambda method, path: method == "GET" and path.endswith("/fits/unlucky.fits")
        st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
        assert st == 200 and body["status"] == "Processing Started!", (st, body)
        summary = wait_for(srv, f"/temp/{sid}/logs/summary_log_2.txt", timeout=120).decode()
        lines = summary.splitlines()
        assert lines[0] == "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 2 failed, 0 skipped", summary
        assert lines[1] == "2 files: 1 processed, 0 skipped, 1 failed", summary
        st, _, log2 = srv.request("GET", f"/temp/{sid}/logs/unlucky_log_2.txt")
        log2 = log2.decode()
        assert log2.startswith("Failed: unlucky \u2014 cannot read the upload: S3 GET") and "HTTP 503" in log2, log2
        for step in range(3, 9):  # steps 3 to 8 (level 1.5)
            st, _, t = srv.request("GET", f"/temp/{sid}/logs/unlucky_log_{step}.txt")
            assert st == 200 and t.decode().startswith("Not run: unlucky"), (step, t)
        st, _, body = srv.request("GET", f"/temp/{sid}/processed/manifest.json")
        files = {f["input"]: f for f in json.loads(body)["files"]}
        assert files["unlucky.fits"]["status"] == "failed", files["unlucky.fits"]
        assert "HTTP 503" in files["unlucky.fits"]["reason"], files["unlucky.fits"]
        assert files["good.fits"]["status"] == "processed", files["good.fits"]
        log = srv.read_log()
        assert len(re.findall(r"attempt \d of 3 failed", log)) == 2, log[-3000:]
        assert len(re.findall(r'"message":"processed","session":"bounded-session-1","file":"good.fits"', log)) == 1
        assert len(re.findall(r'"message":"processing","session":"bounded-session-1","file":"unlucky.fits"', log)) == 3
        st, _, h = srv.json("GET", "/healthz")
        assert h["queue_pending"] == 0 and h["queue_running"] == 0, h
    finally:
        PROXY.rule = None
        srv.stop()


try:
    run_checks()
finally:
    PEER.__exit__(None, None, None)
