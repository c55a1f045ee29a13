"""`fitsflow serve` against bad and hostile input: traversal in ids, names and paths, bad session
ids, unsigned, altered, expired and misused upload URLs, uploads past the session limit (also two
at once), oversize headers and bodies, slow clients, unknown methods, rate limits and CORS. Each
must get the right 4xx with a JSON error, and nothing already stored may be lost. Signatures are
recomputed with Python's hmac to check the scheme independently."""
import hashlib
import hmac
import json
import os
import socket
import time
import urllib.parse

from fftest import AIA_171, check, run_checks
from serve_harness import Server, presign, put_url, upload

SECRET = "test-secret-0123456789abcdef"
SRV = Server("serve-bad", env={"FITSFLOW_SESSION_LIMIT_MB": "1", "FITSFLOW_REQUEST_TIMEOUT": "2",
                               "FITSFLOW_SECRET": SECRET}).start()
SID = "bad-input-session"
GOOD = open(AIA_171, "rb").read()  # 149760 bytes
GOOD_KEY = upload(SRV, SID, "good.fits", GOOD)


def sign(method, key, expires, ctype):
    msg = f"{method}\n{key}\n{expires}\n{ctype}".encode()
    return hmac.new(SECRET.encode(), msg, hashlib.sha256).hexdigest()


def signed_path(key, expires, sig):
    return f"/{key}?X-FitsFlow-Expires={expires}&X-FitsFlow-Signature={sig}"


def is_json_error(st, h, body, code):
    assert st == code, (st, body[:300])
    assert h.get("content-type", "").startswith("application/json"), h
    msg = json.loads(body)["error"]
    assert isinstance(msg, str) and len(msg) > 10, msg
    return msg


def stored(key):
    return os.path.exists(os.path.join(SRV.data, key))


def raw(data, timeout=5):
    """Sends raw bytes and returns the whole answer (until the server closes or times out)."""
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


@check
def trigger_needs_session_id():
    st, h, body = SRV.request("GET", "/FitsFlow-2-Trigger")
    assert st == 400 and json.loads(body) == {"error": "session_id required"}, (st, body)
    st, h, body = SRV.request("GET", "/FitsFlow-2-Trigger?filename=a.fits")
    assert st == 400 and json.loads(body) == {"error": "session_id required"}


@check
def bad_session_ids():
    for sid in ["short", "UPPERCASE-id", "a" * 65, "../../etc", "..%2f..%2fetc", "%2e%2e%2fabcdefgh",
                "abcdefgh%5cx", "abcdefgh/x", "abc%20defgh", "abcdefgh%00x", "/abs/olute"]:
        st, h, body = SRV.request("GET", "/FitsFlow-2-Trigger?session_id=" + sid + "&filename=a.fits")
        is_json_error(st, h, body, 400)
        st, h, body = SRV.request("GET", "/FitsFlow-2-Trigger?session_id=" + sid)
        is_json_error(st, h, body, 400)
    st, h, body = SRV.request("GET", "/api/sessions/UPPER-CASE-ID")
    is_json_error(st, h, body, 400)
    st, h, body = SRV.request("GET", "/api/sessions/..%2f..%2fetc/events")
    assert st in (400, 404), st


@check
def bad_file_names():
    for name in ["../x.fits", "..%2fx.fits", "x.txt", "x.fits.exe", "a%20b.fits", "a+b.fits", ".hidden.fits", "a%5cb.fits",
                 "a%5Cb.fits", "/etc/x.fits", "%2e%2e%2fx.fits", "x" * 201 + ".fits", "x.fits%00.txt", ""]:
        q = "session_id=" + SID + "&filename=" + name
        st, h, body = SRV.request("GET", "/FitsFlow-2-Trigger?" + q)
        is_json_error(st, h, body, 400)
    for name in ["ok.fits", "OK.FITS", "a.fit", "b.FTS", "c.fits.gz", "d-e_f.1.Fits.GZ"]:
        st, _, body = SRV.json("GET", "/FitsFlow-2-Trigger?session_id=" + SID + "&filename=" + name)
        assert st == 200 and body["key"] == f"temp/{SID}/fits/{name}", (name, st, body)


@check
def traversal_paths_never_escape():
    secret_file = os.path.join(SRV.data, "secret")
    for path in ["/temp/../secret", "/temp/%2e%2e/secret", "/temp/%2E%2E/secret", "/temp/..%2fsecret",
                 "/temp/a/..%5c..%5csecret", "/temp//secret", "/temp/./secret", "/daily_videos/../queue.sqlite3",
                 "/temp/%00/secret", "/secret", "/queue.sqlite3", "//etc/passwd", "/temp/\\..\\secret"]:
        st, h, body = SRV.request("GET", path)
        assert st in (400, 404), (path, st)
        is_json_error(st, h, body, st)
        if os.path.exists(secret_file):
            assert open(secret_file, "rb").read() not in body


@check
def no_listings_and_json_404():
    for path in [f"/temp/{SID}/fits/", f"/temp/{SID}/fits", f"/temp/{SID}", "/temp/", "/daily_videos/",
                 "/temp/nothing-here/x.txt", "/no/such/route", "/api/nope"]:
        st, h, body = SRV.request("GET", path)
        is_json_error(st, h, body, 404)


@check
def unknown_methods_get_405():
    for method, path in [("DELETE", GOOD_KEY), ("PATCH", GOOD_KEY), ("BREW", GOOD_KEY), ("TRACE", "/healthz"),
                         ("PUT", "/api/config"), ("POST", "/FitsFlow-2-Trigger"), ("DELETE", "/api/sessions")]:
        st, h, body = SRV.request(method, "/" + path.lstrip("/"))
        is_json_error(st, h, body, 405)
        assert "allow" in h, h
    assert open(os.path.join(SRV.data, GOOD_KEY), "rb").read() == GOOD


@check
def unsigned_altered_and_misused_urls_get_403():
    key = f"temp/{SID}/fits/new.fits"
    p = presign(SRV, SID, "new.fits")
    u = urllib.parse.urlsplit(p["url"])
    q = dict(urllib.parse.parse_qsl(u.query))
    # no signature at all
    st, h, body = SRV.request("PUT", "/" + key, body=b"x" * 100, headers={"Content-Type": "application/octet-stream"})
    assert "signature" in is_json_error(st, h, body, 403)
    # altered signature, altered expiry
    sig = q["X-FitsFlow-Signature"]
    bad = ("0" if sig[0] != "0" else "1") + sig[1:]
    st, h, body = SRV.request("PUT", signed_path(key, q["X-FitsFlow-Expires"], bad), body=b"x",
                              headers={"Content-Type": "application/octet-stream"})
    is_json_error(st, h, body, 403)
    st, h, body = SRV.request("PUT", signed_path(key, int(q["X-FitsFlow-Expires"]) + 1000, sig), body=b"x",
                              headers={"Content-Type": "application/octet-stream"})
    is_json_error(st, h, body, 403)
    # the URL used for another key (the good upload: must stay intact)
    st, h, body = SRV.request("PUT", signed_path(GOOD_KEY, q["X-FitsFlow-Expires"], sig), body=b"evil",
                              headers={"Content-Type": "application/octet-stream"})
    is_json_error(st, h, body, 403)
    # another Content-Type than signed
    st, h, body = put_url(SRV, p["url"], b"x", ctype="text/html")
    is_json_error(st, h, body, 403)
    # malformed
    st, h, body = SRV.request("PUT", signed_path(key, "soon", sig), body=b"x")
    is_json_error(st, h, body, 403)
    assert not stored(key)
    assert open(os.path.join(SRV.data, GOOD_KEY), "rb").read() == GOOD


@check
def expired_url_gets_403_and_python_signature_is_accepted():
    key = f"temp/{SID}/fits/py.fits"
    past = int(time.time()) - 10
    st, h, body = SRV.request("PUT", signed_path(key, past, sign("PUT", key, past, "application/fits")),
                              body=b"x" * 10, headers={"Content-Type": "application/fits"})
    assert "expired" in is_json_error(st, h, body, 403)
    assert not stored(key)
    future = int(time.time()) + 60
    st, h, body = SRV.request("PUT", signed_path(key, future, sign("PUT", key, future, "application/fits")),
                              body=GOOD, headers={"Content-Type": "application/fits"})
    assert st == 200, (st, body)
    assert open(os.path.join(SRV.data, key), "rb").read() == GOOD
    # the server's own URLs are the same HMAC
    p = presign(SRV, SID, "py2.fits", "image/fits")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p["url"]).query))
    assert q["X-FitsFlow-Signature"] == sign("PUT", p["key"], q["X-FitsFlow-Expires"], "image/fits")
    assert 290 <= int(q["X-FitsFlow-Expires"]) - time.time() <= 301


@check
def traversal_in_a_signed_put():
    for key in ["temp/../x.fits", f"temp/{SID}/fits/../../x.fits", f"temp/{SID}/x.fits", f"temp/{SID}/fits/a/b.fits",
                "daily_videos/x.fits"]:
        exp = int(time.time()) + 60
        st, h, body = SRV.request("PUT", "/" + key + f"?X-FitsFlow-Expires={exp}&X-FitsFlow-Signature="
                                  + sign("PUT", key, exp, ""), body=b"x")
        assert st in (400, 403, 405), (key, st)
        is_json_error(st, h, body, st)
    assert not os.path.exists(os.path.join(SRV.data, "x.fits"))


@check
def session_limit_413_and_nothing_stored():
    sid = "limit-session-1"
    big = os.urandom(600 * 1024)
    upload(SRV, sid, "one.fits", big)
    p = presign(SRV, sid, "two.fits")
    st, h, body = put_url(SRV, p["url"], big)
    assert "limit" in is_json_error(st, h, body, 413)
    assert not stored(f"temp/{sid}/fits/two.fits")
    # replacing the same file is not double-counted
    p = presign(SRV, sid, "one.fits")
    st, _, _ = put_url(SRV, p["url"], big[::-1])
    assert st == 200
    assert open(os.path.join(SRV.data, f"temp/{sid}/fits/one.fits"), "rb").read() == big[::-1]
    # one file over the whole limit
    p = presign(SRV, "limit-session-2", "huge.fits")
    st, h, body = put_url(SRV, p["url"], os.urandom(1024 * 1024 + 1))
    is_json_error(st, h, body, 413)


@check
def concurrent_uploads_reserve_their_size():
    sid = "limit-session-3"
    a, b = presign(SRV, sid, "a.fits"), presign(SRV, sid, "b.fits")
    n = 700 * 1024
    body = os.urandom(n)

    def head(p):
        u = urllib.parse.urlsplit(p["url"])
        return (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                f"Connection: close\r\nContent-Length: {n}\r\n\r\n").encode()

    sa = socket.create_connection(("127.0.0.1", SRV.port), timeout=10)
    sa.sendall(head(a) + body[:1000])  # a is streaming: its size is reserved
    time.sleep(0.3)
    resp_b = raw(head(b) + body)
    assert b" 413 " in resp_b.split(b"\r\n")[0], resp_b[:200]
    sa.sendall(body[1000:])
    resp_a = b""
    while b"\r\n\r\n" not in resp_a:
        resp_a += sa.recv(4096)
    sa.close()
    assert b" 200 " in resp_a.split(b"\r\n")[0], resp_a[:200]
    assert open(os.path.join(SRV.data, f"temp/{sid}/fits/a.fits"), "rb").read() == body
    assert not stored(f"temp/{sid}/fits/b.fits")


@check
def cut_short_upload_stores_nothing():
    sid = "cut-short-session"
    p = presign(SRV, sid, "cut.fits")
    u = urllib.parse.urlsplit(p["url"])
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=10)
    s.sendall((f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Length: 100000\r\n\r\n").encode() + b"x" * 5000)
    time.sleep(0.2)
    s.close()
    time.sleep(0.3)
    d = os.path.join(SRV.data, "temp", sid, "fits")
    assert not os.path.exists(d) or os.listdir(d) == [], os.listdir(d)
    # and the session's reservation was released: a full-size upload still fits
    upload(SRV, sid, "after.fits", os.urandom(900 * 1024))


@check
def upload_without_length_gets_411():
    p = presign(SRV, "chunked-session", "c.fits")
    u = urllib.parse.urlsplit(p["url"])
    resp = raw((f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode())
    assert b" 411 " in resp.split(b"\r\n")[0], resp[:200]
    assert b'"error"' in resp


@check
def oversize_headers_and_bodies():
    st, h, body = SRV.request("GET", "/api/config", headers={"X-Big": "a" * 20000})
    is_json_error(st, h, body, 431)
    # far past what the server buffers at all: refused, not served
    resp = raw(b"GET /api/config HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 2000000 + b"\r\n\r\n")
    assert resp == b"" or int(resp.split(b" ")[1]) >= 400, resp[:100]
    st, h, body = SRV.request("POST", "/api/sessions", body=b"x" * 200000)
    is_json_error(st, h, body, 413)
    st, _, _ = SRV.request("GET", "/healthz")
    assert st == 200


@check
def slow_clients_are_dropped():
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    t0 = time.time()
    data = s.recv(1000)
    took = time.time() - t0
    s.close()
    assert took < 6, took  # FITSFLOW_REQUEST_TIMEOUT=2
    assert b" 200 " not in data


@check
def cors_preflight_and_headers():
    st, h, _ = SRV.request("OPTIONS", "/" + GOOD_KEY, headers={"Origin": "http://localhost:5500",
                                                                "Access-Control-Request-Method": "PUT",
                                                                "Access-Control-Request-Headers": "content-type,x-amz-server-side-encryption"})
    assert st == 204, st
    assert h["access-control-allow-origin"] == "http://localhost:5500"
    methods = {m.strip() for m in h["access-control-allow-methods"].split(",")}
    assert {"GET", "PUT", "HEAD", "OPTIONS"} <= methods and "POST" not in methods, methods
    allowed = h["access-control-allow-headers"].lower()
    assert "content-type" in allowed and "x-amz-server-side-encryption" in allowed
    st, h, _ = SRV.request("OPTIONS", "/api/sessions", headers={"Origin": f"http://127.0.0.1:{SRV.port}",
                                                                "Access-Control-Request-Method": "POST"})
    assert st == 204 and "POST" in h["access-control-allow-methods"], (st, h)
    st, h, body = SRV.request("OPTIONS", "/" + GOOD_KEY, headers={"Origin": "https://evil.example",
                                                                   "Access-Control-Request-Method": "PUT"})
    is_json_error(st, h, body, 403)
    assert "access-control-allow-origin" not in h
    st, h, _ = SRV.request("GET", "/" + GOOD_KEY, headers={"Origin": "http://127.0.0.1:5500"})
    assert st == 200 and h["access-control-allow-origin"] == "http://127.0.0.1:5500"
    exposed = {x.strip().lower() for x in h["access-control-expose-headers"].split(",")}
    assert {"etag", "content-length", "content-range"} <= exposed, exposed
    st, h, _ = SRV.request("GET", "/" + GOOD_KEY, headers={"Origin": "https://evil.example"})
    assert st == 200 and "access-control-allow-origin" not in h


@check
def rate_limit_429_with_retry_after():
    srv = Server("serve-rate", env={"FITSFLOW_RATE_LIMIT": "5", "FITSFLOW_RATE_BURST": "10"}).start()
    try:
        codes = []
        for _ in range(30):
            st, h, body = srv.request("GET", "/api/config")
            codes.append(st)
            if st == 429:
                assert int(h["retry-after"]) >= 1 and json.loads(body)["error"], h
        assert codes.count(200) >= 10 and codes.count(429) >= 10, codes
        st, _, _ = srv.request("GET", "/healthz")  # health checks are not limited
        assert st == 200
        time.sleep(1.2)
        st, _, _ = srv.request("GET", "/api/config")
        assert st == 200
    finally:
        srv.stop()


@check
def nothing_stored_was_lost():
    assert open(os.path.join(SRV.data, GOOD_KEY), "rb").read() == GOOD
    st, _, body = SRV.request("GET", "/" + GOOD_KEY)
    assert st == 200 and body == GOOD
    assert SRV.proc.poll() is None, "server died"


try:
    run_checks()
finally:
    SRV.stop()
