"""Remote services that never answer: the fixture server stands in for Helioviewer, JSOC and HEK
and hangs on every request. With FITSFLOW_HTTP_TIMEOUT the session still finishes within a bound
derived from the timeouts, each remote step reports its failure, and the local outputs are
complete and correct."""
import os
import time

from faultlib import SOURCES, check_session, req, trigger, upload, wait_summary
from fixture_server import Fixture
from serve_harness import Server

SID = "remote-hang-session"
TIMEOUT_S, RETRIES = 1.0, 1


def main(log=print):
    fx = Fixture()
    fx.start()
    fx.fail("/", "hang", seconds=3600)  # "forever": far beyond any bound below
    env = {**fx.env(), "FITSFLOW_OFFLINE": "0", "FITSFLOW_HTTP_TIMEOUT": str(TIMEOUT_S),
           "FITSFLOW_HTTP_CONNECT_TIMEOUT": "1", "FITSFLOW_HTTP_RETRIES": str(RETRIES),
           "FITSFLOW_HTTP_BACKOFF_MS": "20", "FITSFLOW_WORKERS": "1"}
    srv = Server("faults-remote-hang", env=env)
    try:
        srv.start()
        sent = {"a_aia.fits": SOURCES["aia"], "b_hmi.fits": SOURCES["hmi"]}
        for name, data in sent.items():
            assert upload(srv.port, SID, name, data) == 200
        t0 = time.time()
        assert trigger(srv.port, SID) == 200
        # Per file: at most a few remote calls (closest image + download, listing + image, HEK),
        # each at most (retries + 1) timeouts; the services run side by side or in turn.
        bound = len(sent) * 6 * (RETRIES + 1) * TIMEOUT_S + 15
        summary = wait_summary(srv.port, SID, bound)
        took = time.time() - t0
        assert summary is not None, f"session not finished within {bound:.0f} s with hanging services"
        hung = sum(1 for r in fx.requests if r["rule"] == "hang")
        assert hung > 0, "the remote steps never reached the hanging fixture: the test proves nothing"
        logs = {}
        for base in ("a_aia", "b_hmi"):
            for step in (4, 5, 6):
                st, _, b = req(srv.port, "GET", f"/temp/{SID}/logs/{base}_log_{step}.txt")
                assert st == 200, f"{base}_log_{step} missing"
                logs[f"{base}_log_{step}"] = b.decode()
        assert all(("fail" in t.lower() or "not" in t.lower() or "unavailable" in t.lower()) for t in logs.values()), logs
        check_session(srv.port, SID, set(sent), sent, summary_timeout=5)
        log(f"hanging remote services: session finished in {took:.1f} s (bound {bound:.0f} s, "
            f"FITSFLOW_HTTP_TIMEOUT={TIMEOUT_S}, retries {RETRIES}), {hung} requests hung; e.g. "
            f"{logs['a_aia_log_4'].strip()!r}")
        t1 = time.time()
        assert srv.stop() == 0
        log(f"SIGTERM afterwards: clean exit in {time.time() - t1:.1f} s")
        return took
    finally:
        srv.stop()
        fx.stop()


if __name__ == "__main__":
    main()
