"""SIGTERM while a client is in the middle of GET /api/sessions/S/archive.zip (read slowly): the
server exits with status 0 within FITSFLOW_SHUTDOWN_TIMEOUT (plus a small margin), the client
ends up with either the whole valid ZIP or a transfer it can tell is cut short (never a complete
looking but damaged archive), nothing half-written is left in the data folder, and after a
restart every output still matches its manifest."""
import http.client
import io
import signal
import time
import zipfile

from faultlib import SOURCES, check_session, stray_temporaries, trigger, upload
from serve_harness import Server

SID = "sigterm-zip-session"
SHUTDOWN_S = 2
NFILES = 40  # an archive larger than the socket buffers, so the download is really in flight


def main(log=print):
    srv = Server("faults-sigterm-zip", env={"FITSFLOW_SHUTDOWN_TIMEOUT": str(SHUTDOWN_S), "FITSFLOW_PNG_MAX": "0"})
    try:
        srv.start()
        sent = {}
        for i in range(NFILES):
            kind = ("aia", "hmi")[i % 2]
            sent[f"f{i}_{kind}.fits"] = SOURCES[kind]
        for name, data in sent.items():
            assert upload(srv.port, SID, name, data) == 200
        assert trigger(srv.port, SID) == 200
        check_session(srv.port, SID, set(sent), sent)

        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        # A small receive buffer keeps most of the archive on the server's side of the socket.
        c.connect()
        c.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
        c.request("GET", f"/api/sessions/{SID}/archive.zip")
        r = c.getresponse()
        assert r.status == 200, r.status
        got = bytearray(r.read(8192))
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        # The client stalls past the shutdown timeout (the server cannot finish sending), then
        # reads what there is.
        cut, exited = None, None
        while time.time() - t0 < SHUTDOWN_S + 2:
            if exited is None and srv.proc.poll() is not None:
                exited = time.time() - t0
            time.sleep(0.02)
        while True:
            try:
                b = r.read(65536)
            except (http.client.IncompleteRead, ConnectionError, OSError) as e:
                cut = type(e).__name__
                break
            if not b:
                break
            got += b
        rc = srv.proc.wait(timeout=SHUTDOWN_S + 10)
        took = exited if exited is not None else time.time() - t0
        c.close()
        assert rc == 0, f"server exited with {rc} after SIGTERM"
        assert took <= SHUTDOWN_S + 3, f"exit took {took:.1f} s with a shutdown timeout of {SHUTDOWN_S} s"
        if cut is None:
            # The client saw a normal end: then it must be a whole, valid archive.
            with zipfile.ZipFile(io.BytesIO(bytes(got))) as z:
                assert z.testzip() is None
            outcome = f"the whole ZIP ({len(got)} bytes, valid)"
        else:
            outcome = f"a transfer cut short after {len(got)} bytes, which the client sees ({cut})"
            try:
                zipfile.ZipFile(io.BytesIO(bytes(got))).testzip()
                raise AssertionError("a cut-short download reads as a valid ZIP")
            except zipfile.BadZipFile:
                pass
        srv.proc = None
        srv.log.close()
        assert not stray_temporaries(srv.data), stray_temporaries(srv.data)
        srv.start()
        check_session(srv.port, SID, set(sent), sent, summary_timeout=5)
        assert srv.stop() == 0
        log(f"SIGTERM during a ZIP download: exit 0 in {took:.2f} s (FITSFLOW_SHUTDOWN_TIMEOUT={SHUTDOWN_S}); "
            f"client got {outcome}; no temporaries; outputs intact after restart")
        return took
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
