"""A Lambda Runtime API (2018-06-01) and Invoke API (2015-03-31) peer on loopback, as the AWS
documentation describes them, for driving `fitsflow lambda` in tests.

    with RuntimePeer() as rt:
        rt.add_event({"...": ...}, trace_id="Root=1-...")
        subprocess.run([..., "lambda", "--max-invocations", "1"], env={"AWS_LAMBDA_RUNTIME_API": rt.api})
        rt.results      # [(request_id, "response" | "error", parsed body, headers)]
        rt.invokes      # Invoke API calls: (function, payload, headers, signature problem or None)
"""
import http.server
import json
import queue
import threading
import time
import uuid

import s3peer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        peer = self.server.peer
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self._reply(404)
        try:
            rid, event, trace, deadline = peer.events.get(timeout=60)
        except queue.Empty:
            return self._reply(500)
        headers = {"Lambda-Runtime-Aws-Request-Id": rid,
                   "Lambda-Runtime-Deadline-Ms": str(deadline),
                   "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-2:123456789012:function:test",
                   "Content-Type": "application/json"}
        if trace:
            headers["Lambda-Runtime-Trace-Id"] = trace
        self._reply(200, event, headers)

    def do_POST(self):
        peer = self.server.peer
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        parts = self.path.split("/")
        if self.path.startswith("/2015-03-31/functions/") and self.path.endswith("/invocations"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            problem = s3peer.verify_sigv4("POST", self.path, headers, body, peer.region, peer.token,
                                          service="lambda")
            with peer.lock:
                peer.invokes.append((parts[3], body, headers, problem))
            if problem:
                return self._reply(403, json.dumps({"message": problem}).encode())
            return self._reply(202)
        if self.path == "/2018-06-01/runtime/init/error":
            with peer.lock:
                peer.results.append((None, "init", json.loads(body), dict(self.headers)))
            return self._reply(202, b'{"status":"OK"}')
        if (len(parts) == 6 and parts[1:4] == ["2018-06-01", "runtime", "invocation"]
                and parts[5] in ("response", "error")):
            with peer.lock:
                peer.results.append((parts[4], parts[5], json.loads(body), dict(self.headers)))
            return self._reply(202, b'{"status":"OK"}')
        self._reply(404)


class RuntimePeer:
    def __init__(self, region="eu-west-2", token="session-token/x+y=="):
        self.region, self.token = region, token
        self.events = queue.Queue()
        self.results, self.invokes = [], []
        self.lock = threading.Lock()

    def __enter__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.peer = self
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def api(self):
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def endpoint(self):
        return f"http://{self.api}"

    def add_event(self, event, trace_id=None, seconds=30):
        rid = str(uuid.uuid4())
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.events.put((rid, body, trace_id, int((time.time() + seconds) * 1000)))
        return rid

    def result(self, rid):
        with self.lock:
            for r in self.results:
                if r[0] == rid:
                    return r
        return None
