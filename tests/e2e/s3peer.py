"""An S3 peer on loopback for the e2e tests: s3rver (npm) stores the objects, and in front of it a
small proxy checks every request's SigV4 signature with botocore's own signer (s3rver 3.7 parses
V4 signatures but does not verify them), the payload hash against the body, the session token
and, for presigned URLs, the expiry. A request that fails gets S3's 403 SignatureDoesNotMatch.

Usage:
    with S3Peer(tmpdir) as peer:
        env = peer.env()          # FITSFLOW_STORE=s3 ... for the binary
        peer.client()             # a botocore S3 client talking to s3rver directly
"""
import contextlib
import hashlib
import http.client
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

SOURCE = os.environ.get("FF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
S3RVER = os.path.join(SOURCE, "node_modules/s3rver/bin/s3rver.js")
ACCESS_KEY = "S3RVER"   # s3rver's built-in account
SECRET_KEY = "S3RVER"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_s3rver():
    return os.path.exists(S3RVER) and shutil.which("node") is not None


def ensure_node_modules():
    """Runs scripts/deps-node.sh (npm ci when node_modules is missing or stale)."""
    script = os.path.join(SOURCE, "scripts/deps-node.sh")
    if not have_s3rver() and os.path.exists(script):
        subprocess.run(["bash", script], check=False, timeout=300)
    return have_s3rver()


def verify_sigv4(method, raw_path, headers, body, region, token, service="s3", now=None):
    """Returns None when the request is signed correctly, else the reason. headers: lower-case
    dict of what arrived. raw_path includes the query string as sent."""
    parts = urllib.parse.urlsplit(raw_path)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    creds = Credentials(ACCESS_KEY, SECRET_KEY, token)
    presigned = "X-Amz-Signature" in query
    if presigned:
        if query.get("X-Amz-Algorithm", [""])[0] != "AWS4-HMAC-SHA256":
            return "bad algorithm"
        cred = query["X-Amz-Credential"][0].split("/")
        signed = query["X-Amz-SignedHeaders"][0].split(";")
        given = query["X-Amz-Signature"][0]
        amz_date = query["X-Amz-Date"][0]
        expires = int(query["X-Amz-Expires"][0])
        t0 = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
        if (now or time.time()) > t0 + expires:
            return "presigned URL expired"
        if token is not None and query.get("X-Amz-Security-Token", [None])[0] != token:
            return "missing or wrong security token"
        kept = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
        url_path = parts.path + ("?" + kept if kept else "")
    else:
        auth = headers.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization header"
        fields = dict(f.strip().split("=", 1) for f in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
        amz_date = headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed:
            return "host and x-amz-date must be signed"
        if service == "s3":
            if "x-amz-content-sha256" not in signed:
                return "x-amz-content-sha256 not signed"
            if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
                return "x-amz-content-sha256 does not match the body"
        if token is not None and (headers.get("x-amz-security-token") != token
                                  or "x-amz-security-token" not in signed):
            return "missing, wrong or unsigned security token"
        url_path = raw_path
    if cred[0] != ACCESS_KEY or cred[2] != region or cred[3] != service or cred[1] != amz_date[:8]:
        return f"bad credential scope {'/'.join(cred)}"
    req = AWSRequest(method=method, url="http://" + headers["host"] + url_path,
                     headers={h: headers.get(h, "") for h in signed if h != "host"}, data=body)
    req.context["timestamp"] = amz_date
    if presigned:
        signer = botocore.auth.S3SigV4QueryAuth(creds, service, region, expires=expires)
    elif service == "s3":
        signer = botocore.auth.S3SigV4Auth(creds, service, region)
    else:
        signer = botocore.auth.SigV4Auth(creds, service, region)
    if sorted(signer.headers_to_sign(req)) != sorted(signed):
        return "signed header list differs"
    cr = signer.canonical_request(req)
    sts = signer.string_to_sign(req, cr)
    want = signer.signature(sts, req)
    if want != given:
        return f"signature mismatch; canonical request was:\n{cr}"
    return None


class _Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _handle(self):
        peer = self.server.peer
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            # The client went away mid-body (a killed server): nothing to answer or to judge.
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        reason = verify_sigv4(self.command, self.path, headers, body, peer.region, peer.token)
        with peer.lock:
            peer.requests.append((self.command, self.path, reason))
        if reason:
            msg = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch"
                   "</Code><Message>" + reason.split("\n")[0] + "</Message></Error>").encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(msg)
            return
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        key = urllib.parse.unquote(parts.path)
        is_part = self.command == "PUT" and "partNumber" in query
        # Real S3 never shows a reader half an object; s3rver truncates and rewrites the file in
        # place and answers before its write stream has flushed. Requests on one key therefore
        # take turns here, and a write is answered only once s3rver's copy has its full size.
        with (contextlib.nullcontext() if is_part else peer.key_lock(key)):
            conn = http.client.HTTPConnection("127.0.0.1", peer.s3_port, timeout=60)
            fwd = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "expect")}
            conn.request(self.command, self.path, body=body, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if 200 <= resp.status < 300:
                expect = None
                if is_part:
                    peer.part_sizes.setdefault(query["uploadId"][0], {})[
                        query["partNumber"][0]] = len(body)
                elif self.command == "PUT":
                    expect = len(body)
                elif self.command == "POST" and "uploadId" in query:
                    expect = sum(peer.part_sizes.pop(query["uploadId"][0], {}).values())
                if expect is not None:
                    peer.wait_for_size(parts.path, expect)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _SettledClient:
    """A botocore S3 client whose put_object returns only once s3rver's copy has its full size:
    s3rver answers before its write stream has flushed, so a test that then backdates the file or
    reads it could race the last write (real S3 has read-after-write consistency). Everything
    else is the client's own."""

    def __init__(self, peer, client):
        self._peer, self._client = peer, client

    def put_object(self, **kw):
        body = kw.get("Body", b"")
        if not isinstance(body, (bytes, bytearray)):
            body = body.read()
            kw["Body"] = body
        r = self._client.put_object(**kw)
        path = "/" + kw["Bucket"] + "/" + urllib.parse.quote(kw["Key"], safe="/~")
        self._peer.wait_for_size(path, len(body))
        return r

    def __getattr__(self, name):
        return getattr(self._client, name)


class S3Peer:
    def __init__(self, tmpdir, bucket="fitsflow-test", region="eu-west-2", token="session-token/x+y=="):
        self.dir = os.path.join(tmpdir, "s3rver")
        self.bucket, self.region, self.token = bucket, region, token
        self.requests = []
        self.lock = threading.Lock()
        self.key_locks = {}
        self.part_sizes = {}
        self.proc = self.httpd = None

    def __enter__(self):
        os.makedirs(self.dir, exist_ok=True)
        self.s3_port = free_port()
        self.log = open(os.path.join(self.dir, "..", "s3rver.log"), "w")
        self.proc = subprocess.Popen(
            # s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider
            ["node", "--openssl-legacy-provider", S3RVER, "-d", self.dir, "-a", "127.0.0.1", "-p", str(self.s3_port), "-s",
             "--configure-bucket", self.bucket], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.s3_port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("s3rver did not start; see s3rver.log")
                time.sleep(0.1)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
        self.httpd.daemon_threads = True
        self.httpd.peer = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def key_lock(self, key):
        with self.lock:
            return self.key_locks.setdefault(key, threading.Lock())

    def wait_for_size(self, raw_path, size, timeout=30):
        """Until s3rver's HEAD of the object says size bytes (its length is the file's stat)."""
        deadline = time.time() + timeout
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=10)
            conn.request("HEAD", raw_path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200 and int(resp.getheader("Content-Length") or -1) == size:
                return
            if time.time() > deadline:
                raise RuntimeError(f"s3rver's {raw_path} never reached {size} bytes")
            time.sleep(0.005)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra):
        e = {"FITSFLOW_STORE": "s3", "FITSFLOW_S3_BUCKET": self.bucket,
             "FITSFLOW_S3_REGION": self.region, "FITSFLOW_S3_ENDPOINT": self.endpoint,
             "FITSFLOW_S3_PATH_STYLE": "1", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
             "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": self.token or ""}
        e.update(extra)
        return e

    def client(self):
        """A botocore client straight to s3rver: an independent reader and writer. Its put_object
        returns once s3rver holds the whole object (see _SettledClient)."""
        s = botocore.session.get_session()
        c = s.create_client("s3", region_name=self.region,
                            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        return _SettledClient(self, c)

    def rejected(self):
        with self.lock:
            return [r for r in self.requests if r[2]]
