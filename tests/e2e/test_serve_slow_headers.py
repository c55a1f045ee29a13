"""Slow clients cannot hold `fitsflow serve` (src/server/http/front.c): a request header has one deadline,
FITSFLOW_HEADER_TIMEOUT, however it trickles in (nginx's client_header_timeout), for a
connection's first request and for a later one on a kept-alive connection; and when every
connection is taken, a new one evicts the one that has waited longest for its header, so that
tricklers from many addresses cannot shut a normal client out.

The tricklers send one byte of an endless header every 0.3 s (well inside FITSFLOW_REQUEST_TIMEOUT,
so silence never closes them). Bounds are generous: the checks wait for the server to close each
connection (an event), and only an upper bound far above the deadline makes them fail."""
import re
import socket
import time

from fftest import check, run_checks
from serve_harness import Server

HEADER_TIMEOUT = 3
BOUND = HEADER_TIMEOUT + 12  # the deadline, the once-a-second sweep, and a busy machine
MAX_CONNECTIONS = 40
PER_IP = 8
SRV = Server("serve-slow-headers", env={"FITSFLOW_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
                                        "FITSFLOW_REQUEST_TIMEOUT": "60",
                                        "FITSFLOW_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                                        "FITSFLOW_MAX_CONNECTIONS_PER_IP": str(PER_IP)})


class Trickler:
    """A connection that sends an endless request header one byte at a time."""

    def __init__(self, src, kept_alive=False):
        self.s = socket.socket()
        self.s.bind((src, 0))
        self.s.settimeout(10)
        self.s.connect(("127.0.0.1", SRV.port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if kept_alive:  # one whole request answered first: the slow header is the second
            self.s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while not re.search(rb"\r\n\r\n.*\}", buf, re.S):
                chunk = self.s.recv(4096)
                assert chunk, f"closed before the first answer: {buf!r}"
                buf += chunk
            assert buf.startswith(b"HTTP/1.1 200 "), buf[:80]
        self.s.setblocking(False)
        self.t0 = time.time()  # the deadline runs from here (accept, or the end of the answer)
        self.closed_after = None
        self.pending = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        self.answer = b""

    def step(self):
        """One more byte; notes when the server has closed the connection."""
        if self.closed_after is not None:
            return
        try:
            data = self.s.recv(65536)
            if not data:
                return self._closed()
            self.answer += data
        except BlockingIOError:
            pass
        except OSError:
            return self._closed()
        try:
            self.s.send(self.pending[:1] or b"a")
            self.pending = self.pending[1:]
        except BlockingIOError:
            pass
        except OSError:
            self._closed()

    def _closed(self):
        self.closed_after = time.time() - self.t0
        self.s.close()

    def close(self):
        if self.closed_after is None:
            self.s.close()


def trickle_until_closed(tricklers, also=None):
    """Steps every trickler every 0.3 s until the server has closed them all, or the bound."""
    deadline = time.time() + BOUND + 5
    while any(t.closed_after is None for t in tricklers) and time.time() < deadline:
        for t in tricklers:
            t.step()
        if also:
            also()
        time.sleep(0.3)
    for t in tricklers:
        assert t.closed_after is not None, f"a trickling connection was still open after {BOUND + 5} s"
        assert t.closed_after <= BOUND, f"a trickling connection lived {t.closed_after:.1f} s " \
                                        f"(FITSFLOW_HEADER_TIMEOUT={HEADER_TIMEOUT})"
        assert b" 200 " not in t.answer, "a trickled request was answered"


def metric(name):
    st, _, body = SRV.request("GET", "/metrics")
    assert st == 200
    return int(re.search(rb"^" + name.encode() + rb" (\d+)$", body, re.M).group(1))


@check
def a_trickled_first_header_is_closed_at_the_deadline():
    SRV.start()
    before = metric("fitsflow_connections_header_timeouts_total")
    tricklers = [Trickler(f"127.0.0.{k}") for k in range(1, 4)]
    try:
        trickle_until_closed(tricklers)
    finally:
        for t in tricklers:
            t.close()
    assert metric("fitsflow_connections_header_timeouts_total") >= before + 3


@check
def a_trickled_header_on_a_kept_alive_connection_is_closed_at_the_deadline():
    SRV.start() if not SRV.proc else None
    tricklers = [Trickler(f"127.0.0.{k}", kept_alive=True) for k in range(1, 4)]
    try:
        trickle_until_closed(tricklers)
    finally:
        for t in tricklers:
            t.close()


@check
def tricklers_from_many_addresses_do_not_shut_out_a_normal_client():
    SRV.start() if not SRV.proc else None
    # More tricklers than connections in all, PER_IP from each of six addresses.
    tricklers = [Trickler(f"127.0.0.{1 + k // PER_IP}") for k in range(6 * PER_IP)]
    served = []

    def normal_client():
        if len(served) < 5:
            c = socket.create_connection(("127.0.0.1", SRV.port), timeout=30)
            try:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                buf = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
            except OSError as e:
                buf = repr(e).encode()
            finally:
                c.close()
            served.append(buf)

    try:
        trickle_until_closed(tricklers, also=normal_client)
    finally:
        for t in tricklers:
            t.close()
    assert len(served) == 5 and all(b.startswith(b"HTTP/1.1 200 ") for b in served), \
        [b[:60] for b in served]
    assert metric("fitsflow_connections_evicted_total") > 0


try:
    run_checks()
finally:
    SRV.stop()
