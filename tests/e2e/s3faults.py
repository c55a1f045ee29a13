"""A fault-injecting proxy for the S3 tests: it sits between `fitsflow serve` and the S3 peer
(s3peer.py: botocore-checked signatures in front of s3rver) and, for the requests a rule matches,
answers an S3 error (500, 503 SlowDown, 403, 404), closes the connection without an answer, sends
a body cut short (the full Content-Length, fewer bytes, then a close), stalls (no answer until
released), or stalls part way through a body. Everything else is forwarded unchanged.

    with FaultProxy(peer.port) as fp:
        env = peer.env(FITSFLOW_S3_ENDPOINT=fp.endpoint)
        fp.add(lambda method, path: method == "GET" and "/processed/" in path, "status", status=500)
        fp.add(lambda m, p: True, "stall")      # every request hangs ...
        fp.release()                            # ... until released
        fp.clear()                              # no more faults
"""
import http.client
import http.server
import threading

S3_ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
             503: ("SlowDown", "Please reduce your request rate."),
             403: ("AccessDenied", "Access Denied"),
             404: ("NoSuchKey", "The specified key does not exist.")}


class _Rule:
    def __init__(self, match, action, times, **kw):
        self.match, self.action, self.times, self.kw = match, action, times, kw
        self.hits = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _handle(self):
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the server gave up on this request: as planned

    def _serve(self):
        fp = self.server.fp
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        rule = fp._pick(self.command, self.path)
        with fp.lock:
            fp.seen.append((self.command, self.path, rule.action if rule else None))
        if rule and rule.action == "stall":
            fp._wait_release()
            rule = None  # released: forward as usual
        if rule and rule.action == "status":
            status = rule.kw.get("status", 500)
            code, msg = S3_ERRORS.get(status, ("InternalError", "error"))
            data = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                    f"<Message>{msg}</Message></Error>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        if rule and rule.action == "close":
            self.close_connection = True
            return
        conn = http.client.HTTPConnection("127.0.0.1", fp.upstream, timeout=60)
        fwd = {k: v for k, v in self.headers.items()
               if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "expect")}
        conn.request(self.command, self.path, body=body, headers=fwd)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command == "HEAD":
            return
        if rule and rule.action in ("cut", "stall_body"):
            keep = min(rule.kw.get("after", len(data) // 2), len(data))
            self.wfile.write(data[:keep])
            self.wfile.flush()
            if rule.action == "stall_body":
                fp._wait_release()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class FaultProxy:
    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.rules = []
        self.seen = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.httpd = None

    def __enter__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fp = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def add(self, match, action, times=None, **kw):
        """match(method, path) -> bool; action: status (status=500|503|403|404), close, cut
        (after=N bytes), stall, stall_body (after=N bytes). times: how many requests it takes
        (None: every one until cleared)."""
        with self.lock:
            if action in ("stall", "stall_body"):
                self.released.clear()
            self.rules.append(_Rule(match, action, times, **kw))

    def clear(self):
        with self.lock:
            self.rules = []
        self.release()

    def release(self):
        """Lets every stalled request go on (forwarded unchanged)."""
        self.released.set()

    def hits(self, action=None):
        with self.lock:
            return sum(1 for _, _, a in self.seen if a and (action is None or a == action))

    def requests(self):
        with self.lock:
            return list(self.seen)

    def _pick(self, method, path):
        with self.lock:
            for r in self.rules:
                if (r.times is None or r.hits < r.times) and r.match(method, path):
                    r.hits += 1
                    return r
        return None

    def _wait_release(self):
        while not self.released.wait(0.1):
            pass
