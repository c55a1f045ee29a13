"""The server's front door (src/server/http/front.c) over real sockets on 127.0.0.1: connections that
open with a PUT are served by the upload daemon (seen in /metrics while a body is on its way),
also when "PUT " arrives split across packets; a PUT on a kept-alive connection, on a full upload
daemon, or with the upload daemon turned off still stores its bytes; the connection limits hold
across both daemons for idle, busy and half-sent connections, and the total limit refuses a
connection when every one is busy with a request; a connection that sends nothing is closed after
FITSFLOW_REQUEST_TIMEOUT of silence; and every count returns to zero when clients go away."""
import http.client
import json
import os
import re
import socket
import time
import urllib.parse

from fftest import check, run_checks
from serve_harness import Server, presign

BODY = os.urandom(3 << 20)


def metric(srv, name):
    """A value from /metrics. At a connection limit the server may not have seen the close of
    this test's previous connection yet and refuses the new one: that is tried again."""
    for attempt in range(20):
        try:
            st, _, body = srv.request("GET", "/metrics")
            break
        except (ConnectionError, http.client.RemoteDisconnected):
            if attempt == 19:
                raise
            time.sleep(0.1)
    assert st == 200, st
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", body, re.M)
    assert m, f"{name} missing from /metrics"
    return int(m.group(1))


def wait_metric(srv, name, want, timeout=5.0):
    """Polls /metrics until name == want (closes reach the server a moment after the client)."""
    deadline = time.time() + timeout
    while True:
        got = metric(srv, name)
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.05)


def connect(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(s, timeout=5.0):
    """True when the server closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def put_head(srv, sid, name, length):
    """The request line and headers of a presigned PUT of length bytes."""
    p = presign(srv, sid, name)
    u = urllib.parse.urlsplit(p["url"])
    return (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Content-Type: application/octet-stream\r\nx-amz-server-side-encryption: AES256\r\n"
            f"Content-Length: {length}\r\n\r\n").encode(), p["key"]


def read_response(s):
    s.settimeout(30)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)^content-length: *(\d+)", head, re.M)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside a response body"
        rest += chunk
    return status, rest[:n]


def stored(srv, key):
    with open(os.path.join(srv.data, key), "rb") as f:
        return f.read()


MAIN = Server("serve-connections", env={"FITSFLOW_MAX_CONNECTIONS_PER_IP": "6", "FITSFLOW_REQUEST_TIMEOUT": "3",
                                        "FITSFLOW_UPLOAD_CONNECTIONS": "1"})


@check
def put_first_connection_is_served_by_the_upload_daemon():
    MAIN.start() if not MAIN.proc else None
    head, key = put_head(MAIN, "conn-upload-1", "a.fits", len(BODY))
    s = connect(MAIN)
    try:
        s.sendall(b"PU")  # "PUT " split across packets: the front waits for the whole method
        time.sleep(0.3)
        s.sendall(head[2:] + BODY[:1 << 20])
        assert wait_metric(MAIN, "fitsflow_upload_connections_open", 1) == 1
        s.sendall(BODY[1 << 20:])
        st, body = read_response(s)
        assert st == 200, (st, body)
    finally:
        s.close()
    assert stored(MAIN, key) == BODY
    assert wait_metric(MAIN, "fitsflow_upload_connections_open", 0) == 0


@check
def put_after_get_on_a_kept_alive_connection():
    MAIN.start() if not MAIN.proc else None
    c = http.client.HTTPConnection("127.0.0.1", MAIN.port, timeout=30)
    try:
        q = urllib.parse.urlencode({"session_id": "conn-keepalive-1", "filename": "b.fits",
                                    "contentType": "application/octet-stream"})
        c.request("GET", "/FitsFlow-2-Trigger?" + q)
        r = c.getresponse()
        p = json.loads(r.read())
        u = urllib.parse.urlsplit(p["url"])
        c.request("PUT", f"{u.path}?{u.query}", body=BODY,
                  headers={"Content-Type": "application/octet-stream", "x-amz-server-side-encryption": "AES256"})
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        r.read()
    finally:
        c.close()
    assert stored(MAIN, p["key"]) == BODY


@check
def a_second_upload_goes_to_the_main_daemon_when_the_upload_daemon_is_full():
    MAIN.start() if not MAIN.proc else None
    h1, k1 = put_head(MAIN, "conn-full-1", "c.fits", len(BODY))
    h2, k2 = put_head(MAIN, "conn-full-1", "d.fits", len(BODY))
    s1, s2 = connect(MAIN), connect(MAIN)
    try:
        s1.sendall(h1 + BODY[:1000])
        assert wait_metric(MAIN, "fitsflow_upload_connections_open", 1) == 1
        s2.sendall(h2 + BODY[:1000])  # FITSFLOW_UPLOAD_CONNECTIONS=1: this one is not refused
        time.sleep(0.3)
        assert metric(MAIN, "fitsflow_upload_connections_open") == 1
        s2.sendall(BODY[1000:])
        s1.sendall(BODY[1000:])
        assert read_response(s2)[0] == 200
        assert read_response(s1)[0] == 200
    finally:
        s1.close()
        s2.close()
    assert stored(MAIN, k1) == BODY and stored(MAIN, k2) == BODY


@check
def per_address_limit_holds_across_idle_busy_and_upload_connections():
    MAIN.start() if not MAIN.proc else None
    assert wait_metric(MAIN, "fitsflow_connections_open", 1) == 1  # the /metrics request itself
    refused0 = metric(MAIN, "fitsflow_connections_refused_total")
    head, key = put_head(MAIN, "conn-limit-1", "e.fits", len(BODY))
    socks = []
    try:
        idle = [connect(MAIN) for _ in range(2)]  # nothing sent: waiting in the front
        socks += idle
        busy = [connect(MAIN) for _ in range(2)]  # a finished request each, kept alive
        socks += busy
        for s in busy:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s)[0] == 200
        up = connect(MAIN)  # a PUT with its body half sent: in the upload daemon
        socks.append(up)
        up.sendall(head + BODY[:1000])
        half = connect(MAIN)  # half a request line: in the front, waiting for more
        socks.append(half)
        half.sendall(b"GE")
        time.sleep(0.3)
        # 6 open from this address: the seventh is closed at once
        extra = connect(MAIN)
        assert closed_by_server(extra), "a seventh connection from one address was served"
        extra.close()
        idle[0].close()
        socks.remove(idle[0])
        time.sleep(0.3)
        # one freed: /metrics gets through and counts the five left and itself
        assert wait_metric(MAIN, "fitsflow_connections_open", 6) == 6
        time.sleep(0.3)  # until the server has seen that /metrics connection close
        assert metric(MAIN, "fitsflow_connections_refused_total") >= refused0 + 1
        half.sendall(b"T /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(half)[0] == 200
        up.sendall(BODY[1000:])
        assert read_response(up)[0] == 200
    finally:
        for s in socks:
            s.close()
    assert stored(MAIN, key) == BODY
    assert wait_metric(MAIN, "fitsflow_connections_open", 1) == 1


@check
def silent_connection_is_closed_after_the_request_timeout():
    MAIN.start() if not MAIN.proc else None
    s = connect(MAIN)
    t0 = time.time()
    try:
        assert closed_by_server(s, timeout=10), "a connection that sent nothing stayed open"
    finally:
        s.close()
    took = time.time() - t0
    assert 2.5 <= took <= 6, f"closed after {took:.1f} s (FITSFLOW_REQUEST_TIMEOUT=3)"


@check
def connections_that_go_away_early_release_their_count():
    MAIN.start() if not MAIN.proc else None
    for i in range(60):
        s = connect(MAIN)
        try:
            if i % 3 == 1:
                s.sendall(b"PU")
            elif i % 3 == 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        except OSError:
            pass  # refused at the per-address limit: the server has not seen earlier closes yet
        s.close()
        time.sleep(0.01)
    assert wait_metric(MAIN, "fitsflow_connections_open", 1) == 1
    time.sleep(0.3)
    socks = [connect(MAIN) for _ in range(5)]
    try:
        assert metric(MAIN, "fitsflow_connections_open") == 6
    finally:
        for s in socks:
            s.close()


def event_stream(srv, sid):
    """A connection busy with a request for as long as it stays open: an event stream, whose
    answer has begun (so the server has admitted and dispatched it)."""
    s = connect(srv)
    try:
        s.sendall(f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.settimeout(30)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, f"event stream closed before its answer: {buf!r}"
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 200 "), buf[:100]
    except BaseException:
        s.close()
        raise
    return s


def event_stream_admitted(srv, sid, deadline=30.0):
    """event_stream, tried again while the server refuses it: at a connection limit it may not
    yet have seen this test's previous connection (a /metrics request) close or go idle, as
    metric() allows for; on a busy machine that takes a moment."""
    end = time.monotonic() + deadline
    while True:
        try:
            return event_stream(srv, sid)
        except (ConnectionError, AssertionError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


@check
def total_limit_and_uploads_without_the_upload_daemon():
    """Three connections each busy with a request (an upload whose body is half sent and two event
    streams) fill FITSFLOW_MAX_CONNECTIONS=3; none waits for a header, so none can be evicted and a
    fourth is closed at once. Each busy connection is known to be in before the next step (the
    upload by its 100 Continue, the streams by their answers), so nothing depends on timing:
    connections the test closed earlier are either released or, waiting for a header, evicted."""
    srv = Server("serve-connections-total", env={"FITSFLOW_MAX_CONNECTIONS": "3",
                                                 "FITSFLOW_MAX_CONNECTIONS_PER_IP": "0",
                                                 "FITSFLOW_UPLOAD_CONNECTIONS": "0"}).start()
    socks = []
    try:
        head, key = put_head(srv, "conn-total-1", "f.fits", len(BODY))
        a = connect(srv)
        socks.append(a)
        a.sendall(head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
        a.settimeout(30)
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = a.recv(1)
            assert chunk, f"closed before 100 Continue: {interim!r}"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        a.sendall(BODY[:1000])
        assert metric(srv, "fitsflow_upload_connections_open") == 0
        socks.append(event_stream_admitted(srv, "conn-total-2"))
        socks.append(event_stream_admitted(srv, "conn-total-3"))
        d = connect(srv)
        socks.append(d)
        assert closed_by_server(d), "a fourth connection was served with FITSFLOW_MAX_CONNECTIONS=3"
        for s in socks[1:]:
            s.close()
        a.sendall(BODY[1000:])
        assert read_response(a)[0] == 200
        assert stored(srv, key) == BODY
    finally:
        for s in socks:
            s.close()
        assert srv.stop() == 0


@check
def stops_cleanly_with_connections_waiting():
    MAIN.start() if not MAIN.proc else None
    s = connect(MAIN)
    t0 = time.time()
    assert MAIN.stop() == 0
    assert time.time() - t0 < 10
    assert closed_by_server(s, timeout=2)
    s.close()


try:
    run_checks()
finally:
    MAIN.stop()
