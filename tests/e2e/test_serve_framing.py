"""Strict HTTP framing (RFC 9112, as nginx answers): a request whose length is ambiguous is refused
and its connection closed, so that no byte of it can be read as another request (smuggling behind
a proxy that reads it the other way). Over raw sockets, each case as a connection's first request
(checked by the front door on the bytes as sent, src/server/http/front.c and http_util.c) and, where
libmicrohttpd passes it on, as a later request on a kept-alive connection (checked by the request
handler, src/server/http/daemon.c): the status, exactly one answer (a request hidden in the body is not
answered), the connection closed at once, and nothing stored. Valid requests in the same shapes
(lower-case names, LF line ends, chunked bodies) are still served."""
import os
import re
import socket
import time
import urllib.parse

from fftest import check, run_checks
from serve_harness import Server, presign

SRV = Server("serve-framing", env={"FITSFLOW_REQUEST_TIMEOUT": "30", "FITSFLOW_HEADER_TIMEOUT": "30"})
KEEP = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
SMUGGLED = b"GET /api/config HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange(data, timeout=10):
    """Sends data; returns (everything the server sent, True when it closed within timeout)."""
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return buf, True
            except socket.timeout:
                return buf, False
            if not chunk:
                return buf, True
            buf += chunk
        return buf, False
    finally:
        s.close()


def statuses(buf):
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", buf)]


def signed_put(sid, name):
    p = presign(SRV, sid, name)
    u = urllib.parse.urlsplit(p["url"])
    return f"PUT {u.path}?{u.query} HTTP/1.1".encode(), p["key"]


def stored(key):
    return os.path.exists(os.path.join(SRV.data, key))


def cases():
    """(name, request bytes, status, key that must not be stored, also on a kept-alive connection)"""
    out = []
    n = 0

    def put(name, headers, body, status, kept=True):
        nonlocal n
        n += 1
        line, key = signed_put("framing-put-1", f"f{n}.fits")
        out.append((name, line + b"\r\n" + headers.encode() + b"\r\n" + body, status, key, kept))

    base = "Host: x\r\nContent-Type: application/octet-stream\r\n"
    put("two Content-Lengths", base + "Content-Length: 5\r\nContent-Length: 45\r\n", b"hello" + SMUGGLED, 400)
    put("a repeated Content-Length", base + "Content-Length: 5\r\nContent-Length: 5\r\n", b"hello", 400)
    put("Content-Length and chunked", base + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"0\r\n\r\n" + SMUGGLED, 400)
    put("space before the colon", base + "Content-Length : 5\r\n", b"hello", 400)
    put("Content-Length and gzip", base + "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n", b"hello", 400)
    put("unknown coding", base + "Transfer-Encoding: gzip\r\n", b"hello", 501)
    put("gzip then chunked", base + "Transfer-Encoding: gzip, chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", 501)
    put("chunked twice", base + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 501)
    # libmicrohttpd answers these itself on a later request (its header block twice): first only
    put("Content-Length 5x", base + "Content-Length: 5x\r\n", b"hello", 400, kept=False)
    put("Content-Length -5", base + "Content-Length: -5\r\n", b"hello", 400, kept=False)
    put("Content-Length of 20 digits", base + "Content-Length: 99999999999999999999\r\n", b"hello", 400, kept=False)
    # libmicrohttpd unfolds a folded line on a later request: first only
    put("a folded line", base + "Content-Length: 5\r\nX-A: a\r\n b\r\n", b"hello", 400, kept=False)
    out.append(("no Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400, None, True))
    out.append(("two Hosts", b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, None, True))
    out.append(("chunked on HTTP/1.0",
                b"POST /api/sessions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, None, True))
    out.append(("no colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nbroken line\r\n\r\n", 400, None, False))
    return out


def check_refused(name, data, status, key, prefix):
    t0 = time.time()
    buf, closed = exchange(prefix + data)
    want = ([200] if prefix else []) + [status]
    assert statuses(buf) == want, f"{name}: answers {statuses(buf)}, want {want}: {buf[:600]!r}"
    assert closed, f"{name}: the connection stayed open after the answer"
    assert time.time() - t0 < 8, f"{name}: answered after {time.time() - t0:.1f} s"
    assert b'"error"' in buf, f"{name}: no JSON error: {buf[:600]!r}"
    if key:
        assert not stored(key), f"{name}: a refused upload was stored"


@check
def ambiguous_framing_is_refused_on_the_first_request():
    SRV.start()
    for name, data, status, key, _ in cases():
        check_refused(name, data, status, key, b"")


@check
def ambiguous_framing_is_refused_on_a_kept_alive_connection():
    SRV.start() if not SRV.proc else None
    for name, data, status, key, kept in cases():
        if kept:
            check_refused(name, data, status, key, KEEP)


@check
def valid_requests_in_the_same_shapes_are_served():
    SRV.start() if not SRV.proc else None
    line, key = signed_put("framing-ok-1", "ok.fits")
    body = os.urandom(1000)
    req = (line + b"\nhost: x\ncontent-type: application/octet-stream\ncontent-length: 1000\n\n" + body
           + b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
           + b"GET /healthz HTTP/1.0\r\n\r\n")
    buf, closed = exchange(req)
    assert statuses(buf) == [200, 201, 200], buf[:800]
    with open(os.path.join(SRV.data, key), "rb") as f:
        assert f.read() == body


try:
    run_checks()
finally:
    SRV.stop()
