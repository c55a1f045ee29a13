"""Early answers reach the client (lingering close, src/server/http/front.c).

A refused upload (413 over the session limit, 403 for a forged URL, 507 when the disk has no room)
is answered before its body is read. A client that sends no `Expect: 100-continue` (Python's
urllib, browsers' fetch) is still sending the body then; had the server closed the connection,
the client would get a reset or a broken pipe instead of the answer. The server closes its side
for writing and reads and drops the rest of the body for a bounded time and size (as nginx does),
so the client reads the answer. Checked with urllib (12 and 64 MiB bodies), with Debian's chromium
(fetch), and the bounds with raw sockets: a client that never stops sending and one that stays
silent are both closed. Nothing refused is stored."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from fftest import check, run_checks, scratch
from serve_harness import Server, presign

SRC = os.environ.get("FF_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MB = 1 << 20
LIMIT_MB = 4
SRV = Server("serve-lingering", env={"FITSFLOW_SESSION_LIMIT_MB": str(LIMIT_MB)})


def urllib_put(url, n):
    req = urllib.request.Request(url, data=bytes(n), method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def forged(url):
    return re.sub(r"(X-FitsFlow-Signature=)([0-9a-f])", lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"), url)


def nothing_stored(srv, sid):
    d = os.path.join(srv.data, "temp", sid, "fits")
    left = os.listdir(d) if os.path.isdir(d) else []
    assert not left, f"a refused upload left {left}"


def open_count(srv):
    st, _, body = srv.request("GET", "/metrics")
    assert st == 200
    return int(re.search(rb"^fitsflow_connections_open (\d+)$", body, re.M).group(1))


def wait_idle(srv, timeout=60):
    deadline = time.time() + timeout
    while open_count(srv) != 1:
        assert time.time() < deadline, "lingering connections were not closed"
        time.sleep(0.1)


@check
def over_the_limit_413_reaches_urllib():
    SRV.start()
    for n in (12 * MB, 64 * MB):
        p = presign(SRV, "linger-413-1", f"big{n}.fits")
        st, body = urllib_put(p["url"], n)
        assert st == 413, (st, body[:200])
        assert b"more than a session may hold" in body, body
    nothing_stored(SRV, "linger-413-1")
    wait_idle(SRV)


@check
def forged_url_403_reaches_urllib():
    SRV.start() if not SRV.proc else None
    for n in (3 * MB, 12 * MB):  # a small body is read before the answer, a large one lingers
        p = presign(SRV, "linger-403-1", f"a{n}.fits")
        st, body = urllib_put(forged(p["url"]), n)
        assert st == 403, (st, body[:200])
        assert json.loads(body)["error"], body
    nothing_stored(SRV, "linger-403-1")
    wait_idle(SRV)


@check
def no_room_507_reaches_urllib():
    mnt = os.path.join(scratch("linger-disk"), "mnt")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  SKIP the 507 case: cannot mount a tmpfs here ({p.stderr.strip() or 'not permitted'}); run as root")
        return
    srv = Server("linger-disk", data=os.path.join(mnt, "data"))
    srv.log_path = mnt + ".log"
    try:
        srv.start()
        pr = presign(srv, "linger-507-1", "a.fits")
        st, body = urllib_put(pr["url"], 12 * MB)  # inside the session limit, larger than the disk
        assert st == 507, (st, body[:200])
        nothing_stored(srv, "linger-507-1")
        wait_idle(srv)
    finally:
        assert srv.stop() == 0
        subprocess.run(["umount", mnt], capture_output=True)


def raw_refused_put(srv, length):
    """A PUT to a forged URL with a Content-Length of length: the answer comes before the body."""
    u = urllib.parse.urlsplit(forged(presign(srv, "linger-raw-1", "a.fits")["url"]))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
              f"Content-Length: {length}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "closed before the answer"
        head += chunk
    assert head.startswith(b"HTTP/1.1 403 "), head[:80]
    return s


@check
def lingering_is_bounded_for_a_client_that_never_stops_sending():
    SRV.start() if not SRV.proc else None
    s = raw_refused_put(SRV, 1 << 40)
    zeros = bytes(MB)
    t0 = time.time()
    sent = 0
    try:
        while time.time() - t0 < 90:
            s.sendall(zeros)
            sent += len(zeros)
        raise AssertionError(f"still reading after 90 s and {sent >> 20} MiB")
    except OSError:
        pass  # the server stopped reading and closed: reset or broken pipe
    finally:
        s.close()
    assert time.time() - t0 < 60, f"lingered {time.time() - t0:.0f} s (bound: 30 s, 1 GiB)"
    wait_idle(SRV)


@check
def lingering_is_bounded_for_a_silent_client():
    """The client reads the answer and its end, then keeps the connection open and sends nothing:
    the server stops lingering after 5 s without a byte (its connection count drops)."""
    SRV.start() if not SRV.proc else None
    s = raw_refused_put(SRV, 10 * MB)
    t0 = time.time()
    try:
        deadline = t0 + 30
        while open_count(SRV) != 1:
            assert time.time() < deadline, "a silent lingering connection was kept past 30 s (bound: 5 s idle)"
            time.sleep(0.2)
    finally:
        s.close()


@check
def chromium_fetch_sees_the_early_answers():
    node = shutil.which("node")
    chromium = os.environ.get("FF_CHROMIUM", "/usr/bin/chromium")
    if not node or not os.access(chromium, os.X_OK) or \
            not os.path.isdir(os.path.join(SRC, "node_modules", "playwright-core")):
        print("  SKIP the browser case: node, chromium or node_modules/playwright-core is missing; run make deps")
        return
    SRV.start() if not SRV.proc else None
    over = presign(SRV, "linger-web-1", "over.fits")["url"]
    fake = forged(presign(SRV, "linger-web-1", "fake.fits")["url"])
    env = dict(os.environ, FF_PAGE=SRV.base() + "/healthz", FF_URLS=json.dumps([over, fake]),
               FF_BYTES=str(12 * MB), FF_CHROMIUM=chromium, NODE_PATH=os.path.join(SRC, "node_modules"))
    p = subprocess.run([node, os.path.join(SRC, "tests", "web", "early_answer.mjs")], capture_output=True,
                       text=True, env=env, timeout=180, cwd=SRC)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert [g.get("status") for g in got] == [413, 403], got
    nothing_stored(SRV, "linger-web-1")


try:
    run_checks()
finally:
    SRV.stop()
