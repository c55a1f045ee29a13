"""Connection bursts past every limit must never freeze `fitsflow serve` (src/server/http/front.c).

libmicrohttpd 0.9.75 deadlocks a worker thread that reaches its own connection limit
(new_connection_process_ returns with cleanup_connection_mutex locked): sockets then pile up in
CLOSE-WAIT, every client is refused and SIGTERM hangs. The front door keeps the limits itself and
hands a daemon no more than it admitted, so that the daemons' own limits are never reached.

Several rounds of bursts from 127.0.0.1 to 127.0.0.9, each past FITSFLOW_MAX_CONNECTIONS and some
past FITSFLOW_MAX_CONNECTIONS_PER_IP, mixing complete requests kept alive (in a daemon), small
bodies half sent (in a daemon), half-sent headers (in the front door), uploads refused before their
body (lingering), uploads half sent (upload daemon) and connections reset at once. After each
round /healthz answers and the open count returns to one (the asking connection); at the end the
limits were met (refusals and evictions counted) and SIGTERM stops the server within its shutdown
timeout."""
import re
import socket
import struct
import subprocess
import time
import urllib.parse

from fftest import check, run_checks
from serve_harness import Server, presign

MAX_CONNECTIONS = 64
PER_IP = 24
SHUTDOWN_TIMEOUT = 5
SRV = Server("serve-bursts", env={"FITSFLOW_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                                  "FITSFLOW_MAX_CONNECTIONS_PER_IP": str(PER_IP),
                                  "FITSFLOW_HTTP_THREADS": "2", "FITSFLOW_UPLOAD_CONNECTIONS": "4",
                                  "FITSFLOW_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)})


def metrics():
    """/metrics as a dict, tried again while the server is still full from a round (it may refuse
    the connection until it has seen the round's connections close)."""
    deadline = time.time() + 60
    while True:
        try:
            st, _, body = SRV.request("GET", "/metrics", timeout=10)
            if st == 200:
                return {k.decode(): int(v) for k, v in re.findall(rb"^(fitsflow_\w+) (\d+)$", body, re.M)}
        except OSError:
            pass
        assert time.time() < deadline, "/metrics did not answer within 60 s of a burst"
        time.sleep(0.1)


def healthy_and_idle():
    """/healthz answers, and every connection of the round has been released."""
    deadline = time.time() + 60
    while True:
        try:
            st, _, _ = SRV.request("GET", "/healthz", timeout=10)
            if st == 200 and metrics()["fitsflow_connections_open"] == 1:
                return
        except OSError:
            pass
        assert time.time() < deadline, f"server not back to idle within 60 s: {metrics()}"
        time.sleep(0.1)


def open_from(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", SRV.port))
    return s


def burst(sources, n, urls):
    """n connections over the source addresses, one kind after another; returns the sockets."""
    socks = []
    for i in range(n):
        kind = i % 6
        try:
            s = open_from(sources[i % len(sources)])
        except OSError:
            continue  # the listen queue is full: also a refusal
        socks.append(s)
        try:
            if kind == 0:  # a complete request, answered and kept alive
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            elif kind == 1:  # half a header
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            elif kind == 2:  # an upload refused before its body (no signature): lingering
                s.sendall(b"PUT /temp/burst-upload-0/fits/x.fits HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n"
                          + b"\0" * 65536)
            elif kind == 3:  # a small body half sent (in the main daemon)
                s.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            elif kind == 4:  # a signed upload with its body half sent
                u = urllib.parse.urlsplit(urls[i % len(urls)])
                s.sendall(f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\n"
                          f"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n".encode()
                          + b"\0" * 1000)
            else:  # reset at once
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                socks.pop()
        except OSError:
            pass  # refused: the server closed it already
    return socks


def close_all(socks):
    for k, s in enumerate(socks):
        try:
            if k % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()


@check
def bursts_past_every_limit_leave_the_server_answering():
    SRV.start()
    urls = [presign(SRV, "burst-upload-1", f"f{k}.fits")["url"] for k in range(4)]
    healthy_and_idle()
    spread = [f"127.0.0.{k}" for k in range(1, 9)]
    rounds = [
        (spread, 3 * MAX_CONNECTIONS),       # past the total limit, under the per-address one
        (["127.0.0.9"], 3 * PER_IP),         # past the per-address limit
        (spread + ["127.0.0.9"] * 8, 4 * MAX_CONNECTIONS),  # both at once
    ] * 3
    for k, (sources, n) in enumerate(rounds):
        socks = burst(sources, n, urls)
        # Let the server take in what it can before the clients go (a moment, not a condition:
        # the checks below hold whenever the clients close).
        time.sleep(0.3)
        close_all(socks)
        try:
            healthy_and_idle()
        except AssertionError as e:
            raise AssertionError(f"round {k + 1} ({n} connections from {len(set(sources))} addresses): {e}")
    m = metrics()
    assert m["fitsflow_connections_refused_total"] > 0, m
    assert m["fitsflow_connections_evicted_total"] > 0, m


@check
def stops_on_sigterm_within_the_shutdown_timeout_after_the_bursts():
    SRV.start() if not SRV.proc else None
    socks = burst([f"127.0.0.{k}" for k in range(1, 9)], 2 * MAX_CONNECTIONS,
                  [presign(SRV, "burst-upload-2", "g.fits")["url"]])
    t0 = time.time()
    try:
        rc = SRV.stop(timeout=SHUTDOWN_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM did not stop the server within {SHUTDOWN_TIMEOUT + 30} s")
    finally:
        close_all(socks)
    took = time.time() - t0
    assert rc == 0, f"serve exited with {rc}"
    assert took < SHUTDOWN_TIMEOUT + 15, f"SIGTERM took {took:.1f} s (FITSFLOW_SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT})"


try:
    run_checks()
finally:
    if SRV.proc and SRV.proc.poll() is None:
        SRV.proc.kill()  # a server that did not stop on SIGTERM (the checks above failed)
    SRV.stop()
