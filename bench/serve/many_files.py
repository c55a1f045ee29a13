#!/usr/bin/python3
"""Many files in one session: what `fitsflow serve` costs with N tiny files (issue: 3,000 small
files made one GET /api/sessions/S take 1.2 s and blocked /healthz behind event streams).

    PYTHONPATH=tests/e2e /usr/bin/python3 bench/serve/many_files.py --files 1100 [--store s3]
        [--process] [--pollers 4] [--streams 10] [--seconds 10]

Prints: upload time (first and last 10% of the uploads, to see whether an upload gets slower as
the session grows), S3 requests per upload (with --store s3), GET /api/sessions/S time and size,
and /healthz and /api/config latency (p50, p99, max) while pollers fetch the status in a loop and
event streams follow the session. Measures only; asserts nothing.
"""
import argparse
import http.client
import io
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

import numpy as np
from astropy.io import fits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from serve_harness import Server, presign  # noqa: E402


def tiny_fits(i):
    data = (np.arange(64, dtype=np.int16).reshape(8, 8) + i).astype(np.int16)
    b = io.BytesIO()
    fits.PrimaryHDU(data).writeto(b)
    return b.getvalue()


def put(port, url, data):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("PUT", u.path + "?" + u.query, body=data,
              headers={"Content-Type": "application/fits"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def timed_get(port, path, timeout=600, headers=None, with_headers=False):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    if with_headers:
        return r.status, len(body), time.perf_counter() - t0, r.getheader("ETag")
    return r.status, len(body), time.perf_counter() - t0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1100)
    ap.add_argument("--store", choices=("fs", "s3"), default="fs")
    ap.add_argument("--process", action="store_true")
    ap.add_argument("--pollers", type=int, default=4)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--browser", action="store_true", help="pollers send Accept-Encoding: gzip and If-None-Match")
    ap.add_argument("--poll-interval", type=float, default=0, help="seconds between a poller's requests")
    a = ap.parse_args()

    env = {"FITSFLOW_SESSION_MAX_FILES": str(max(a.files, 10))}
    peer = None
    tmp = None
    if a.store == "s3":
        import s3peer
        from fftest import scratch
        tmp = scratch("many-files-s3")
        peer = s3peer.S3Peer(tmp).__enter__()
        env.update(peer.env())
    srv = Server("many-files", env=env).start()
    try:
        sid = "many-" + os.urandom(6).hex()
        blobs = [tiny_fits(i) for i in range(a.files)]
        times = []
        n0 = len(peer.requests) if peer else 0
        t_all = time.perf_counter()
        for i, b in enumerate(blobs):
            t0 = time.perf_counter()
            p = presign(srv, sid, f"f{i:05d}.fits", "application/fits")
            st = put(srv.port, p["url"], b)
            times.append(time.perf_counter() - t0)
            if st != 200:
                print(f"upload {i} answered {st}")
                return 1
        t_all = time.perf_counter() - t_all
        k = max(1, a.files // 10)
        print(f"uploads: {a.files} in {t_all:.1f} s; first 10% {statistics.mean(times[:k]) * 1000:.1f} ms "
              f"each, last 10% {statistics.mean(times[-k:]) * 1000:.1f} ms each")
        if peer:
            with peer.lock:
                reqs = peer.requests[n0:]
            kinds = {}
            for m, path, _ in reqs:
                kind = m + (" list" if "list-type=2" in path else "")
                kinds[kind] = kinds.get(kind, 0) + 1
            print(f"S3 requests per upload: {len(reqs) / a.files:.2f} ({kinds})")

        st, size, dt = timed_get(srv.port, f"/api/sessions/{sid}")
        print(f"GET /api/sessions/S after uploads: {st}, {size} bytes, {dt * 1000:.0f} ms")
        st, size, dt = timed_get(srv.port, f"/api/sessions/{sid}")
        print(f"  again: {st}, {size} bytes, {dt * 1000:.0f} ms")
        if a.process:
            t0 = time.perf_counter()
            srv.request("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
            while True:
                st, _, _ = srv.request("GET", f"/temp/{sid}/logs/summary_log_2.txt")
                if st == 200:
                    break
                time.sleep(1)
            print(f"processing: {time.perf_counter() - t0:.1f} s")
            st, size, dt = timed_get(srv.port, f"/api/sessions/{sid}")
            print(f"GET /api/sessions/S when done: {st}, {size} bytes, {dt * 1000:.0f} ms")
            st, size, dt = timed_get(srv.port, f"/api/sessions/{sid}")
            print(f"  again: {st}, {size} bytes, {dt * 1000:.0f} ms")

        stop = threading.Event()
        poll_times = []

        def poller():
            # as a browser polls: gzip accepted, revalidating with the last ETag
            etag = None
            while not stop.is_set():
                try:
                    h = {"Accept-Encoding": "gzip"} if a.browser else {}
                    if a.browser and etag:
                        h["If-None-Match"] = etag
                    st, _, dt, tag = timed_get(srv.port, f"/api/sessions/{sid}", headers=h,
                                               with_headers=True)
                    etag = tag or etag
                    poll_times.append(dt)
                    if a.poll_interval:
                        time.sleep(a.poll_interval)
                except OSError:
                    time.sleep(0.1)

        def stream():
            try:
                c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=a.seconds + 60)
                c.request("GET", f"/api/sessions/{sid}/events")
                r = c.getresponse()
                while not stop.is_set():
                    if not r.fp.readline():
                        break
                c.close()
            except OSError:
                pass

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(a.streams)]
        threads += [threading.Thread(target=poller, daemon=True) for _ in range(a.pollers)]
        for t in threads:
            t.start()
        lat = {"/healthz": [], "/api/config": []}
        end = time.time() + a.seconds
        while time.time() < end:
            for path in lat:
                try:
                    lat[path].append(timed_get(srv.port, path, timeout=60)[2])
                except OSError:
                    lat[path].append(60.0)
            time.sleep(0.02)
        stop.set()
        for path, v in lat.items():
            print(f"{path} under {a.pollers} pollers and {a.streams} streams: n={len(v)} "
                  f"p50 {pct(v, 50) * 1000:.1f} ms, p99 {pct(v, 99) * 1000:.1f} ms, max {max(v) * 1000:.1f} ms")
        if poll_times:
            print(f"status polls meanwhile: n={len(poll_times)} p50 {pct(poll_times, 50) * 1000:.0f} ms")
    finally:
        srv.stop()
        if peer:
            peer.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
