"""A full disk under `fitsflow serve`: the data folder is a small tmpfs (mount needs root; without
it the check is skipped with a message). Checks: an upload that does not fit is answered 507 with
the reason and leaves no object and no temporary; a session processed while outputs do not fit
reports each file's failure in its logs and summary and leaves no partial output; once there is
room again the same upload succeeds, triggering the session again retries the failed files, and
every output is complete and correct (manifest sha256, NPY equal to astropy).

Returns (or prints) a list of findings; raises AssertionError on a broken promise."""
import json
import os
import subprocess
import sys
import time

from faultlib import SOURCES, check_session, presign, put_presigned, req, stray_temporaries, trigger, upload
from fftest import scratch, sha256
from serve_harness import Server

SID = "disk-full-session"


def fill(path, leave):
    """Writes path so that about `leave` bytes stay free on its filesystem."""
    st = os.statvfs(os.path.dirname(path))
    free = st.f_bavail * st.f_frsize
    with open(path, "ab") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
        except OSError:
            pass


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def wait_summary_with(port, sid, needle, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, b = req(port, "GET", f"/temp/{sid}/logs/summary_log_2.txt")
        if st == 200 and needle in b.decode():
            return b.decode()
        time.sleep(0.1)
    raise AssertionError(f"{sid}: no summary with {needle!r} within {timeout} s")


def logs_of(data, sid):
    d = os.path.join(data, "temp", sid, "logs")
    return {n: open(os.path.join(d, n), encoding="utf-8").read() for n in sorted(os.listdir(d))}


def main(log=print):
    mnt = os.path.join(scratch("faults-disk"), "mnt")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], capture_output=True, text=True)
    if p.returncode != 0:
        log(f"SKIP full-disk check: cannot mount a tmpfs here ({p.stderr.strip() or 'not permitted'}); "
            "run as root to include it")
        return None
    srv = Server("faults-disk", data=os.path.join(mnt, "data"), env={"FITSFLOW_WORKERS": "1"})
    srv.log_path = mnt + ".log"  # outside the small filesystem
    filler = os.path.join(mnt, "filler")
    try:
        srv.start()
        port = srv.port
        for name, kind in (("a_aia.fits", "aia"), ("b_hmi.fits", "hmi")):
            assert upload(port, SID, name, SOURCES[kind]) == 200, name

        # 1. No room for an upload: 507 (found when the room is set aside, before the body is
        # read; a file system without fallocate finds it on the write), nothing stored, no
        # temporary.
        fill(filler, 16 * 1024)
        st, pr = presign(port, SID, "c_aia.fits")
        assert st == 200, pr
        st, h, body = put_presigned(port, pr["url"], SOURCES["aia"])
        assert st == 507, (st, body)
        assert b"not enough disk space for" in body or b"No space left on device" in body, body
        assert req(port, "GET", f"/temp/{SID}/fits/c_aia.fits")[0] == 404, "a failed upload is visible"
        assert not stray_temporaries(srv.data), stray_temporaries(srv.data)
        log(f"upload on a full disk: {st} {body.decode()}")
        # Triggering may be refused (503, the queue cannot write) or queued; either way clearly.
        st, _, body = req(port, "GET", f"/FitsFlow-2-Trigger?session_id={SID}")
        assert st in (200, 503), (st, body)
        log(f"trigger on a full disk: {st} {body.decode()}")
        time.sleep(1.5)
        assert req(port, "GET", f"/temp/{SID}/logs/summary_log_2.txt")[0] == 404, "done with no room?"

        # 2. Room for the queue, not for the outputs: each file fails with the reason.
        # (shrunk in place: removing it first would let the waiting job run with room to spare)
        os.truncate(filler, os.path.getsize(filler) - (300 * 1024 - free_bytes(mnt)))
        if st != 200:
            assert trigger(port, SID) == 200
        # Either the logs fit and say which files failed and why, or not even a log fits and the
        # job fails with the reason in the server's log; no partial output either way.
        deadline, summary = time.time() + 60, None
        while time.time() < deadline and summary is None:
            st, _, b = req(port, "GET", f"/temp/{SID}/logs/summary_log_2.txt")
            if st == 200:
                summary = b.decode()
            elif "No space left on device" in "".join(l for l in srv.read_log().splitlines()
                                                        if "job 1 failed" in l):
                break
            time.sleep(0.1)
        if summary is not None:
            logs = logs_of(srv.data, SID)
            failed = [n for n, t in logs.items() if "No space left on device" in t and "failed:" in t]
            assert "failed: each file's logs say why; start the session again" in summary, summary
            assert failed, logs
            for base in ("a_aia", "b_hmi"):
                assert f"{base}_log_7.txt" in logs, "every step must report even after a failure"
            log("processing on a full disk: " + " | ".join(logs[n].strip() for n in failed))
            log("summary: " + summary.strip().replace("\n", " | "))
        else:
            line = [l for l in srv.read_log().splitlines() if "job 1 failed" in l][0]
            log("processing on a full disk, not even a log fits: " + line)
        for d, _, fs in os.walk(os.path.join(srv.data, "temp", SID, "processed")):
            for n in fs:
                if n == "manifest.json":
                    continue
                # whatever output stayed must belong to a file the manifest calls processed
                st, _, b = req(port, "GET", f"/temp/{SID}/processed/manifest.json")
                assert st == 200, f"output {n} left without a manifest"
                listed = {o["path"]: o for f in json.loads(b)["files"] if f["status"] == "processed"
                          for o in f["outputs"]}
                rel = os.path.relpath(os.path.join(d, n), os.path.join(srv.data, "temp", SID, "processed"))
                assert rel in listed, f"failed processing left {rel} behind"
                assert sha256(os.path.join(d, n)) == listed[rel]["sha256"], rel
        assert not stray_temporaries(srv.data), stray_temporaries(srv.data)

        # 3. Room again: the upload works, a new trigger retries the failed files, all correct.
        os.unlink(filler)
        st, h, body = put_presigned(port, pr["url"], SOURCES["aia"])
        assert st == 200, (st, body)
        assert trigger(port, SID) == 200
        wait_summary_with(port, SID, "3 processed, 0 skipped, 0 failed")
        sent = {"a_aia.fits": SOURCES["aia"], "b_hmi.fits": SOURCES["hmi"], "c_aia.fits": SOURCES["aia"]}
        check_session(port, SID, set(sent), sent)
        assert not stray_temporaries(srv.data)
        log(f"after freeing space ({free_bytes(mnt) // 1024} KiB free): upload 200, 3 files processed "
            "and checked")
        assert srv.stop() == 0
        return True
    finally:
        srv.stop()
        subprocess.run(["umount", "-l", mnt])


if __name__ == "__main__":
    sys.exit(0 if main() is not False else 1)
