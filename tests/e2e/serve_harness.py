"""Helpers for the `fitsflow serve` end-to-end tests: start the real server on a free port of
127.0.0.1 with a scratch data folder, talk HTTP to it with the standard library only, stop it."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

from fftest import BIN, scratch


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, env=None, data=None):
        self.data = data or os.path.join(scratch(name), "data")
        self.env = {"FITSFLOW_OFFLINE": "1", "FITSFLOW_RATE_LIMIT": "0", "FITSFLOW_PNG_MAX": "256"}
        self.env.update(env or {})
        self.proc = None
        self.log_path = self.data + ".log"

    def start(self, port=None):
        self.port = port or free_port()
        full = dict(os.environ)
        full.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data],
                                     env=full, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.read_log()[-3000:]}")
            try:
                st, _, _ = self.request("GET", "/healthz")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not answer /healthz within 20 s")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, **kw):
        st, h, b = self.request(method, path, **kw)
        return st, h, json.loads(b) if b else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        return rc


def presign(srv, sid, name, ctype="application/octet-stream"):
    q = urllib.parse.urlencode({"session_id": sid, "filename": name, "contentType": ctype})
    st, _, body = srv.json("GET", "/FitsFlow-2-Trigger?" + q)
    assert st == 200, (st, body)
    return body


def put_url(srv, url, data, ctype="application/octet-stream", extra=None):
    """PUT to an absolute presigned URL the way the original client does."""
    u = urllib.parse.urlsplit(url)
    assert u.netloc == f"127.0.0.1:{srv.port}", url
    headers = {"Content-Type": ctype, "x-amz-server-side-encryption": "AES256"}
    headers.update(extra or {})
    return srv.request("PUT", u.path + "?" + u.query, body=data, headers=headers)


def upload(srv, sid, name, data, ctype="application/octet-stream"):
    p = presign(srv, sid, name, ctype)
    assert p["key"] == f"temp/{sid}/fits/{name}", p
    st, h, body = put_url(srv, p["url"], data, ctype)
    assert st == 200, (st, body)
    return p["key"]


def wait_for(srv, path, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, body = srv.request("GET", path)
        if st == 200:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{path} did not appear within {timeout} s")
