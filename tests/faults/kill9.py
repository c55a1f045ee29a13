"""kill -9 of `fitsflow serve` at random moments while clients upload and sessions are processed,
then a restart on the same data folder. After every restart: each acknowledged upload (PUT
answered 200) is stored whole (sha256), each session whose trigger was acknowledged completes
without being triggered again (durable queue), sessions whose trigger was lost complete when the
client triggers again, and every output matches its manifest sha256 and the NPY equals astropy.

Usage: kill9.py [ROUNDS] (default: FF_FAULT_ROUNDS, else 20 with FF_LONG=1, else 5); exit 0 when
every round held. Seed with FF_FAULT_SEED to replay a run."""
import os
import random
import signal
import sys
import threading
import time

from faultlib import SOURCES, check_session, stray_temporaries, trigger, upload
from serve_harness import Server

FILES_PER_SESSION = 3
CLIENTS = 4


class Client(threading.Thread):
    """Makes sessions one after another until the server dies: uploads, then triggers."""

    def __init__(self, port, tag, stop):
        super().__init__(daemon=True)
        self.port, self.tag, self.stop = port, tag, stop
        self.sessions = {}  # sid -> {"sent": {name: bytes}, "acked": set(), "triggered": bool}

    def run(self):
        n = 0
        while not self.stop.is_set():
            sid = f"{self.tag}-s{n:03d}"
            n += 1
            s = self.sessions[sid] = {"sent": {}, "acked": set(), "triggered": False}
            try:
                for i in range(FILES_PER_SESSION):
                    kind = ("aia", "hmi")[(n + i) % 2]
                    name = f"f{i}_{kind}.fits"
                    s["sent"][name] = SOURCES[kind]
                    if upload(self.port, sid, name, SOURCES[kind], timeout=20) == 200:
                        s["acked"].add(name)
                s["triggered"] = trigger(self.port, sid, timeout=20) == 200
            except OSError:
                return  # the server is gone


def one_round(srv, rnd, rng, log):
    srv.start()
    stop = threading.Event()
    clients = [Client(srv.port, f"kill-r{rnd:02d}-c{i}", stop) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    delay = rng.uniform(0.2, 2.5)
    time.sleep(delay)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv.proc = None
    srv.log.close()
    stop.set()
    for c in clients:
        c.join(timeout=30)
    sessions = {sid: s for c in clients for sid, s in c.sessions.items() if s["acked"]}
    done_at_kill = sum(os.path.exists(os.path.join(srv.data, "temp", sid, "logs", "summary_log_2.txt"))
                       for sid in sessions)
    srv.start()  # a new port: nothing depends on the old one
    resumed = retriggered = 0
    for sid, s in sessions.items():
        if not s["triggered"]:
            assert trigger(srv.port, sid) == 200, f"{sid}: trigger after restart refused"
            retriggered += 1
        else:
            resumed += 1
    for sid, s in sessions.items():
        check_session(srv.port, sid, s["acked"], s["sent"], summary_timeout=180)
    acked = sum(len(s["acked"]) for s in sessions.values())
    srv.stop()
    log(f"round {rnd}: killed after {delay:.2f} s; {len(sessions)} sessions ({done_at_kill} finished before the "
        f"kill, {resumed} with an acknowledged trigger, {retriggered} triggered again), {acked} acknowledged uploads: all intact and processed")
    return len(sessions), acked


def main(rounds=None, log=print):
    if rounds is None:
        rounds = int(os.environ.get("FF_FAULT_ROUNDS") or (20 if os.environ.get("FF_LONG") == "1" else 5))
    seed = int(os.environ.get("FF_FAULT_SEED") or time.time())
    log(f"kill -9 rounds: {rounds}, seed {seed}")
    rng = random.Random(seed)
    srv = Server("faults-kill9", env={"FITSFLOW_WORKERS": "2", "FITSFLOW_PNG_MAX": "256"})
    total_s = total_u = 0
    try:
        for rnd in range(rounds):
            s, u = one_round(srv, rnd, rng, log)
            total_s += s
            total_u += u
    finally:
        srv.stop()
    strays = stray_temporaries(srv.data)
    log(f"survived {rounds} kill -9 rounds: {total_s} sessions, {total_u} acknowledged uploads checked; "
        f"{len(strays)} hidden temporaries left by kills mid-upload (never listed or served)")
    return rounds, total_s, total_u, strays


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else None)
