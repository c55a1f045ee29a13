#!/usr/bin/python3
"""A whole session through `fitsflow serve` on loopback, against the Python stack doing the same
outputs for the same files one after another (the original's Main Lambda), in the same run.

The session: 12 files, the two full-size 4096x4096 benchmark inputs (AIA int16 RICE_1, HMI float32
GZIP_2 with NaN off the disk) and ten small real files from sunpy's and astropy's test data. Each
file is presigned and PUT as the browser client does, then the trigger starts the session; the
figure is the time from the trigger until `temp/S/logs/summary_log_2.txt` exists (also the upload
time and the whole, first presign to done). The Python peer is `bench/python_baseline.py --stage
prep` over the same 12 files in one process (imports paid once, as in one Lambda invocation):
serve's default outputs include level 1.5 and the session stacks, and so do its.
Then the files per second the server sustains when SESSIONS such sessions arrive at once: every
session uploaded first, the triggers sent together, timed until every summary exists.

A report, not a test: a missed target prints FAIL and the exit status stays 0.

    /usr/bin/python3 bench/session/session.py --fitsflow build/fitsflow --aia A.fits --hmi H.fits
        [--scratch DIR] [--runs 3] [--sessions 8] [--results FILE]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
sys.path.insert(0, os.path.join(HERE, ".."))
from serve_harness import Server  # noqa: E402
from compare import busy_seconds  # noqa: E402

PY = "/usr/bin/python3"
SUNPY = "/usr/lib/python3/dist-packages/sunpy/data/test"
ASTROPY = "/usr/lib/python3/dist-packages/astropy/io/fits/tests/data"
SMALL = [os.path.join(SUNPY, f) for f in (
    "aia_171_level1.fits", "EIT/efz20040301.000010_s.fits", "EIT/efz20040301.010016_s.fits",
    "resampled_hmi.fits", "hsi_image_20101016_191218.fits", "heliographic_phase_map.fits.gz")] + \
    [os.path.join(ASTROPY, f) for f in ("comp.fits", "o4sp040b0_raw.fits", "fixed-1890.fits", "test0.fits")]
TARGET_SESSION = 25.0  # trigger to done, at least this many times faster than Python (issue 17)
DONE = "ALL FILES PROCESSED SUCCESSFULLY"


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Cpu:
    """Cores other processes kept busy while a measurement ran: the machine's busy CPU seconds
    minus those of the processes measured (the server, the Python peer)."""

    def __init__(self, pids=()):
        self.pids = list(pids)
        self.b0, self.own0, self.t0 = busy_seconds(), self.own(), time.perf_counter()

    def own(self):
        tot = 0.0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    v = f.read().rsplit(")", 1)[1].split()
                tot += (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return tot

    def other(self, child_cpu=0.0):
        b1, own1, wall = busy_seconds(), self.own(), time.perf_counter() - self.t0
        if self.b0 is None or b1 is None or wall <= 0:
            return 0.0
        return max(0.0, (b1 - self.b0 - (own1 - self.own0) - child_cpu) / wall)


def python_session(files, out):
    """The Python stack over the session's files, one after another in one process."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cmd = [PY, os.path.join(HERE, "..", "python_baseline.py"), "--stage", "prep", "-o", out] + files
    cpu = Cpu()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"session: the Python stack failed:\n{err[-3000:]}")
    other = cpu.other(ru.ru_utime + ru.ru_stime)
    shutil.rmtree(out, ignore_errors=True)
    return wall, ru.ru_utime + ru.ru_stime, other


def upload_all(srv, sid, files, blobs):
    for path in files:
        name = os.path.basename(path)
        ctype = "application/gzip" if name.endswith(".gz") else "application/fits"
        q = urllib.parse.urlencode({"session_id": sid, "filename": name, "contentType": ctype})
        st, _, body = srv.json("GET", "/FitsFlow-2-Trigger?" + q)
        if st != 200:
            raise SystemExit(f"session: presign of {name} answered {st}: {body}")
        u = urllib.parse.urlsplit(body["url"])
        st, _, body = srv.request("PUT", u.path + "?" + u.query, body=blobs[path],
                                  headers={"Content-Type": ctype}, timeout=300)
        if st != 200:
            raise SystemExit(f"session: upload of {name} answered {st}: {body[:300]}")


def summary_path(srv, sid):
    return os.path.join(srv.data, "temp", sid, "logs", "summary_log_2.txt")


def wait_done(srv, sids, timeout=900):
    """Waits (polling the data folder every 2 ms) until every session's summary exists; returns
    the time each appeared."""
    left, when = set(sids), {}
    deadline = time.perf_counter() + timeout
    while left and time.perf_counter() < deadline:
        for sid in list(left):
            if os.path.exists(summary_path(srv, sid)):
                when[sid] = time.perf_counter()
                left.discard(sid)
        time.sleep(0.002)
    if left:
        raise SystemExit(f"session: {len(left)} sessions not done within {timeout} s:\n"
                         f"{srv.read_log()[-3000:]}")
    for sid in sids:
        with open(summary_path(srv, sid)) as f:
            text = f.read()
        if DONE not in text:
            raise SystemExit(f"session: {sid} ended without '{DONE}': {text[:500]}")
    return when


def trigger(srv, sid):
    st, _, body = srv.json("GET", "/FitsFlow-2-Trigger?session_id=" + sid)
    if st != 200:
        raise SystemExit(f"session: trigger answered {st}: {body}")


def check_processed(srv, sid, files):
    """Every file got its ASDF bundle (the last step of a processed file)."""
    for path in files:
        name = os.path.basename(path)
        base = name[: -len(".fits.gz")] if name.endswith(".fits.gz") else name[: -len(".fits")]
        p = os.path.join(srv.data, "temp", sid, "processed", "asdf", base + ".asdf")
        if not os.path.exists(p):
            raise SystemExit(f"session: {sid}: no ASDF for {name}; log:\n{srv.read_log()[-2000:]}")


def drop(srv, sid):
    shutil.rmtree(os.path.join(srv.data, "temp", sid), ignore_errors=True)


def fitsflow_session(srv, files, blobs, n):
    sid = f"bench-{n}-{os.urandom(4).hex()}"
    cpu = Cpu([srv.proc.pid])
    t0 = time.perf_counter()
    upload_all(srv, sid, files, blobs)
    t1 = time.perf_counter()
    trigger(srv, sid)
    done = wait_done(srv, [sid])[sid]
    other = cpu.other()
    check_processed(srv, sid, files)
    drop(srv, sid)
    return {"upload": t1 - t0, "process": done - t1, "whole": done - t0, "other": other}


def many_sessions(srv, files, blobs, k):
    """k sessions uploaded (at once), then triggered together: files per second until all done."""
    sids = [f"burst-{i}-{os.urandom(4).hex()}" for i in range(k)]
    threads = [threading.Thread(target=upload_all, args=(srv, s, files, blobs)) for s in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = Cpu([srv.proc.pid])
    t0 = time.perf_counter()
    for s in sids:
        trigger(srv, s)
    when = wait_done(srv, sids)
    other = cpu.other()
    for s in sids:
        check_processed(srv, s, files)
        drop(srv, s)
    last = max(when.values()) - t0
    return len(files) * k / last, last, other


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fitsflow", required=True)
    ap.add_argument("--aia", required=True)
    ap.add_argument("--hmi", required=True)
    ap.add_argument("--scratch", default="/dev/shm/fitsflow-bench-session")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--results")
    a = ap.parse_args()

    files = [a.aia, a.hmi] + SMALL
    for f in files:
        if not os.path.exists(f):
            raise SystemExit(f"session: input missing: {f}")
    blobs = {f: open(f, "rb").read() for f in files}
    os.environ["FITSFLOW_BIN"] = os.path.abspath(a.fitsflow)
    shutil.rmtree(a.scratch, ignore_errors=True)
    os.makedirs(a.scratch)
    import serve_harness
    serve_harness.BIN = os.path.abspath(a.fitsflow)
    # serve's defaults (2 sessions at once, 2 files of a session at once, the access log), but
    # offline, no per-client rate limit, and full-size renders as `fitsflow process` makes them
    srv = Server("session", env={"FITSFLOW_PNG_MAX": "0"}, data=os.path.join(a.scratch, "data"))
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    say(f"bench/session: {len(files)} files ({sum(len(b) for b in blobs.values()) / 2**20:.1f} MiB), "
        f"{a.runs} runs, load average {loadavg()} at the start")
    py, ff = [], []
    try:
        srv.start()
        fitsflow_session(srv, files, blobs, 0)  # warm-up: page cache, lazy tables
        for r in range(a.runs):
            # alternate which side goes first, so that drifting load hits both alike
            order = ("py", "ff") if r % 2 == 0 else ("ff", "py")
            for side in order:
                if side == "py":
                    py.append(python_session(files, os.path.join(a.scratch, "py")))
                    say(f"  run {r + 1}: Python stack {py[-1][0]:.2f} s (CPU {py[-1][1]:.2f} s; other "
                        f"processes {py[-1][2]:.2f} cores; load {loadavg()})")
                else:
                    ff.append(fitsflow_session(srv, files, blobs, r + 1))
                    x = ff[-1]
                    say(f"  run {r + 1}: fitsflow upload {x['upload']:.2f} s, trigger to done "
                        f"{x['process']:.3f} s, whole {x['whole']:.2f} s (other processes "
                        f"{x['other']:.2f} cores; load {loadavg()})")
        fps, last, other = many_sessions(srv, files, blobs, a.sessions)
        say(f"  {a.sessions} sessions at once: {a.sessions * len(files)} files done {last:.2f} s after "
            f"the first trigger (other processes {other:.2f} cores; load {loadavg()})")
    finally:
        srv.stop()
        shutil.rmtree(a.scratch, ignore_errors=True)

    py_med = statistics.median(x[0] for x in py)
    proc_med = statistics.median(x["process"] for x in ff)
    ratio = py_med / proc_med
    say()
    say(f"{'what':<58} {'value':>9}  {'target':>8}  result")
    say(f"{'Python stack, the 12 files one after another (s)':<58} {py_med:>9.2f}")
    say(f"{'fitsflow serve: upload of the 12 files (s)':<58} "
        f"{statistics.median(x['upload'] for x in ff):>9.2f}")
    say(f"{'fitsflow serve: trigger to summary_log_2.txt (s)':<58} {proc_med:>9.3f}")
    say(f"{'fitsflow serve: first presign to summary_log_2.txt (s)':<58} "
        f"{statistics.median(x['whole'] for x in ff):>9.2f}")
    say(f"{'  speed-up, trigger to done (Python / fitsflow)':<58} {ratio:>8.1f}x  {'>= 25x':>8}  "
        f"{'ok' if ratio >= TARGET_SESSION else 'FAIL'}")
    say(f"{'  speed-up, whole session with uploads':<58} "
        f"{py_med / statistics.median(x['whole'] for x in ff):>8.1f}x")
    say(f"{f'{a.sessions} sessions at once: files per second':<58} {fps:>9.1f}")
    busy = max([x[2] for x in py] + [x["other"] for x in ff] + [other])
    if busy > 0.25:
        say(f"WARNING: other processes kept up to {busy:.2f} cores busy during the runs; wall times "
            f"are inflated, rerun on an idle machine before quoting numbers")
    if a.results:
        os.makedirs(os.path.dirname(a.results) or ".", exist_ok=True)
        with open(a.results, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
