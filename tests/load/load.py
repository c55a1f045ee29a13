"""Load on one `fitsflow serve` over loopback:
1. N concurrent sessions (Python threads: create session, presign, PUT a small real FITS, trigger),
   bounded in time, then every manifest checked (sha256s, NPY equal to astropy);
2. wrk against a static object and the trigger endpoint (start form and presign form) for
   FF_LOAD_SECONDS each, with requests/s and the error rate;
3. the server's resident memory (VmRSS) before and after, which must stay under a stated bound;
4. one run with the default rate limit: 429s appear, nothing else breaks.
FITSFLOW_RATE_LIMIT=0 for 1-3. Sizes: FF_LOAD_SESSIONS (200), FF_LOAD_SECONDS (5; 60 with
FF_LONG=1). Run as a script or through tests/e2e/test_load_*.py."""
import os
import re
import shutil
import subprocess
import threading
import time

from faultlib import SOURCES, check_session, req, trigger, upload, vmrss_kb, wait_summary
from serve_harness import Server

LONG = os.environ.get("FF_LONG") == "1"
SESSIONS = int(os.environ.get("FF_LOAD_SESSIONS") or 200)
SECONDS = int(os.environ.get("FF_LOAD_SECONDS") or (60 if LONG else 5))
SESSION_BOUND_S = 120      # all sessions created, uploaded, triggered and finished within this
RSS_GROWTH_BOUND_KB = 64 * 1024  # VmRSS after all the load may exceed VmRSS before by at most this


def sessions(srv, n, log):
    errors, done = [], []
    lock = threading.Lock()

    def one(i):
        try:
            st, _, b = req(srv.port, "POST", "/api/sessions", body=b"", timeout=60)
            assert st == 201, (st, b)
            sid = __import__("json").loads(b)["session_id"]
            kind = ("aia", "hmi")[i % 2]
            name = f"load_{kind}.fits"
            assert upload(srv.port, sid, name, SOURCES[kind], timeout=60) == 200
            assert trigger(srv.port, sid, timeout=60) == 200
            with lock:
                done.append((sid, name))
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                errors.append(repr(e))

    t0 = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SESSION_BOUND_S)
    t_up = time.time() - t0
    assert not errors, f"{len(errors)} of {n} sessions failed: {errors[:3]}"
    for sid, name in done:
        left = SESSION_BOUND_S - (time.time() - t0)
        assert wait_summary(srv.port, sid, max(left, 1)) is not None, f"{sid} not finished within {SESSION_BOUND_S} s"
    t_all = time.time() - t0
    for sid, name in done:
        check_session(srv.port, sid, {name}, {name: SOURCES[("aia", "hmi")["hmi" in name]]}, summary_timeout=5)
    log(f"{n} concurrent sessions: uploaded and triggered in {t_up:.1f} s, all processed in {t_all:.1f} s "
        f"(bound {SESSION_BOUND_S} s); {n} manifests checked (sha256s, NPY == astropy)")
    return done, t_all


def wrk(url, seconds, conns=64):
    p = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", url],
                       capture_output=True, text=True, timeout=seconds + 60)
    out = p.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)) \
        if "Socket errors" in out else 0
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    return {"requests": total, "rps": rps, "non2xx": non2xx, "socket_errors": sock,
            "error_rate": (non2xx + sock) / max(total, 1), "latency_avg": lat.group(1) if lat else "?",
            "latency_max": lat.group(3) if lat else "?", "raw": out}


def sanitized():
    """Whether the binary was built with AddressSanitizer (FF_SANITIZE=ON)."""
    p = subprocess.run(["ldd", os.environ.get("FITSFLOW_BIN", "")], capture_output=True, text=True)
    return "libasan" in p.stdout


def main(log=print):
    if not shutil.which("wrk"):
        raise AssertionError("wrk is not installed (apt-get install wrk)")
    results = {}
    # All clients share 127.0.0.1: the per-address connection cap (128 by default) is lifted.
    srv = Server("load", env={"FITSFLOW_RATE_LIMIT": "0", "FITSFLOW_MAX_CONNECTIONS_PER_IP": "0",
                              "FITSFLOW_WORKERS": "2", "FITSFLOW_PNG_MAX": "256"})
    try:
        srv.start()
        # Warm up (first session, first static read) so that "before" is the steady state.
        warm = "load-warmup-session"
        upload(srv.port, warm, "warm_aia.fits", SOURCES["aia"])
        trigger(srv.port, warm)
        assert wait_summary(srv.port, warm, 30)
        rss0 = vmrss_kb(srv.proc.pid)
        done, t_all = sessions(srv, SESSIONS, log)
        results["sessions"] = (SESSIONS, t_all)
        rss1 = vmrss_kb(srv.proc.pid)
        sid, name = done[0]
        base = srv.base()
        targets = {
            "static (NPY)": f"{base}/temp/{sid}/processed/data/{name[:-5]}_data.npy",
            "trigger (start)": f"{base}/FitsFlow-2-Trigger?session_id={sid}",
            "trigger (presign)": f"{base}/FitsFlow-2-Trigger?session_id={sid}&filename=x.fits&contentType=application%2Ffits",
        }
        for label, url in targets.items():
            w = wrk(url, SECONDS)
            results[label] = w
            log(f"wrk {label}, {SECONDS} s, 64 connections: {w['requests']} requests, {w['rps']:.0f} req/s, "
                f"latency avg {w['latency_avg']} max {w['latency_max']}, errors {w['non2xx']} non-2xx + "
                f"{w['socket_errors']} socket = {100 * w['error_rate']:.3f} %")
            assert w["error_rate"] == 0, w["raw"]
        # The repeated triggers re-ran a finished session: it must still be correct.
        assert wait_summary(srv.port, sid, 30)
        time.sleep(1)
        check_session(srv.port, sid, {name}, {name: SOURCES[("aia", "hmi")["hmi" in name]]})
        st, _, _ = req(srv.port, "GET", "/healthz")
        assert st == 200
        rss2 = vmrss_kb(srv.proc.pid)
        results["rss_kb"] = (rss0, rss1, rss2)
        log(f"VmRSS: {rss0 // 1024} MiB before, {rss1 // 1024} MiB after {SESSIONS} sessions, "
            f"{rss2 // 1024} MiB after wrk (bound: at most {RSS_GROWTH_BOUND_KB // 1024} MiB growth)")
        if sanitized():
            log("  (AddressSanitizer build: its quarantine keeps freed memory, so the bound is only "
                "enforced for a normal build)")
        else:
            assert rss2 - rss0 <= RSS_GROWTH_BOUND_KB, (rss0, rss2)
        assert srv.stop() == 0
    finally:
        srv.stop()

    # The default rate limit (50/s, burst 200 per address): wrk from one address meets 429s.
    lim = Server("load-ratelimit", env={"FITSFLOW_RATE_LIMIT": ""})
    lim.env.pop("FITSFLOW_RATE_LIMIT")
    try:
        lim.start()
        w = wrk(f"{lim.base()}/api/config", min(SECONDS, 5), conns=16)
        results["ratelimited"] = w
        assert w["non2xx"] > 0, "no 429 under the default rate limit"
        assert w["socket_errors"] == 0, w["raw"]
        waited, t0 = [], time.time()
        while True:
            st, h, b = lim.request("GET", "/api/config")
            if st != 429 or len(waited) >= 10:
                break
            assert "retry-after" in h, h
            waited.append(int(h["retry-after"]))
            time.sleep(int(h["retry-after"]))
        assert st == 200, (st, b, waited)
        log(f"after wrk: {len(waited)} more 429s, Retry-After {waited}, served after {time.time() - t0:.1f} s")
        assert lim.request("GET", "/healthz")[0] == 200
        log(f"default rate limit: {w['requests']} requests, {w['non2xx']} answered 429 "
            f"({100 * w['error_rate']:.1f} %), no socket errors; served again after Retry-After")
        assert lim.stop() == 0
    finally:
        lim.stop()
    return results


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
    main()
