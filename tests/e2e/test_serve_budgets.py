"""Budgets a user cannot get around by compressing, under `fitsflow serve`: gzip bombs as the
reproducer mkbomb.py makes them (a valid FITS of float64 zeros: here 2048 x 2048, 33.6 MB of
content in about 34 KB), generated in the test. Each server has one budget made small so that a
few bombs reach it; the real SDO file of each session is processed whatever happens.
- pixels per session (FITSFLOW_SESSION_MAX_PIXELS): the bomb that would pass is skipped before
  work starts, with the reason in its logs, skipped_log_1.txt and the manifest;
- output bytes per session (FITSFLOW_SESSION_MAX_OUTPUT_MB): the estimate of the next bomb's
  outputs does not fit beside what the first one stored;
- memory (FITSFLOW_MEMORY_MB): a bomb that could never fit is skipped at once, and the server's
  peak memory stays far below what the bomb would take; bombs that fit one at a time wait for
  each other instead of being skipped."""
import json
import os
import re
import subprocess
import zlib

from fftest import AIA_171, BIN, check, run_checks
from serve_harness import Server, upload, wait_for

AIA = open(AIA_171, "rb").read()
ASAN = "libasan" in subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout


def bomb(n1=2048, n2=2048, bitpix=-64):
    """The bytes mkbomb.py writes: a valid gzip-compressed FITS of zeros."""
    cards = ["SIMPLE  =                    T", f"BITPIX  = {bitpix:>20d}", "NAXIS   =                    2",
             f"NAXIS1  = {n1:>20d}", f"NAXIS2  = {n2:>20d}", "TELESCOP= 'SDO/AIA'", "INSTRUME= 'AIA_3'",
             "WAVELNTH=                  171", "T_OBS   = '2011-02-15T00:00:01.34Z'", "END"]
    hdr = "".join(c.ljust(80) for c in cards)
    hdr = hdr.ljust((len(hdr) + 2879) // 2880 * 2880).encode()
    nbytes = (n1 * n2 * abs(bitpix) // 8 + 2879) // 2880 * 2880
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(hdr) + c.compress(b"\0" * nbytes) + c.flush()


BOMB = bomb()
# What a bomb costs: its pixels, or at least its content / 8 (2880 bytes of header, the data in
# whole 2880-byte blocks).
BOMB_PIXELS = (2880 + (2048 * 2048 * 8 + 2879) // 2880 * 2880) // 8


def run_session(srv, sid, names):
    for n in names:
        upload(srv, sid, n, AIA if n.startswith("aia") else BOMB)
    st, _, body = srv.json("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
    assert st == 200, (st, body)
    summary = wait_for(srv, f"/temp/{sid}/logs/summary_log_2.txt", timeout=300).decode()
    st, _, body = srv.request("GET", f"/temp/{sid}/processed/manifest.json")
    return summary, {f["input"]: f for f in json.loads(body)["files"]}


def log2(srv, sid, base):
    st, _, body = srv.request("GET", f"/temp/{sid}/logs/{base}_log_2.txt")
    assert st == 200, (sid, base, st)
    return body.decode()


def vm_hwm(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) << 10


def start(name, **env):
    base = {"FITSFLOW_FILES_AT_ONCE": "1"}
    base.update(env)
    return Server(name, env=base).start()


@check
def pixel_budget_skips_the_bomb_that_would_pass_it():
    assert len(BOMB) < 64 * 1024, len(BOMB)
    srv = start("budget-pixels", FITSFLOW_SESSION_MAX_PIXELS="10000000")
    try:
        sid = "budget-pixels-1"
        summary, files = run_session(srv, sid, ["aia.fits", "b1.fits.gz", "b2.fits.gz", "b3.fits.gz"])
        assert [files[n]["status"] for n in ("aia.fits", "b1.fits.gz", "b2.fits.gz", "b3.fits.gz")] == \
            ["processed", "processed", "processed", "skipped"], files
        assert "FITSFLOW_SESSION_MAX_PIXELS" in files["b3.fits.gz"]["reason"], files["b3.fits.gz"]
        assert files["b3.fits.gz"]["outputs"] == []
        assert log2(srv, sid, "b3").startswith(f"Skipping: b3 \u2014 it has {BOMB_PIXELS} pixels to "
                                               "decode and the session's pixel budget has"), log2(srv, sid, "b3")
        assert summary.splitlines()[0] == "NOT ALL FILES PROCESSED SUCCESSFULLY: 0 of 4 failed, 1 skipped", summary
        st, _, body = srv.request("GET", f"/temp/{sid}/logs/skipped_log_1.txt")
        assert st == 200 and f"b3.fits.gz: it has {BOMB_PIXELS} pixels" in body.decode(), body
    finally:
        srv.stop()


@check
def output_budget_skips_the_bomb_whose_outputs_would_not_fit():
    srv = start("budget-outputs", FITSFLOW_SESSION_MAX_OUTPUT_MB="200")
    try:
        sid = "budget-outputs-1"
        summary, files = run_session(srv, sid, ["aia.fits", "b1.fits.gz", "b2.fits.gz"])
        assert files["b1.fits.gz"]["status"] == "processed", files["b1.fits.gz"]
        assert files["b2.fits.gz"]["status"] == "skipped", files["b2.fits.gz"]
        reason = files["b2.fits.gz"]["reason"]
        assert reason.startswith("its outputs could take up to ") and "FITSFLOW_SESSION_MAX_OUTPUT_MB" in reason, reason
        stored = sum(o["bytes"] for f in files.values() for o in f["outputs"])
        assert stored <= 200 << 20, stored
    finally:
        srv.stop()


@check
def memory_budget_skips_what_never_fits_and_queues_what_fits_alone():
    srv = start("budget-memory", FITSFLOW_MEMORY_MB="100")
    try:
        sid = "budget-memory-1"
        summary, files = run_session(srv, sid, ["aia.fits", "b1.fits.gz"])
        assert files["aia.fits"]["status"] == "processed", files
        assert files["b1.fits.gz"]["status"] == "skipped", files
        reason = files["b1.fits.gz"]["reason"]
        assert "more than the whole memory budget of 100 MiB (FITSFLOW_MEMORY_MB)" in reason, reason
        hwm = vm_hwm(srv)
        # The bomb would hold 67 MB of content and image at once, beside the server's own.
        assert hwm < (160 if ASAN else 64) << 20, hwm
    finally:
        srv.stop()
    # Two bombs fit one at a time (about 190 MiB each, level 1.5 of a 2048x2048 SDO image
    # included): the second waits, then runs.
    srv = start("budget-memory-wait", FITSFLOW_MEMORY_MB="300", FITSFLOW_FILES_AT_ONCE="2")
    try:
        sid = "budget-memory-2"
        summary, files = run_session(srv, sid, ["b1.fits.gz", "b2.fits.gz"])
        assert summary.splitlines()[0] == "ALL FILES PROCESSED SUCCESSFULLY", summary
        assert re.search(r'"message":"waited [0-9.]+ s for \d+ MiB of the memory budget"', srv.read_log()), \
            srv.read_log()[-3000:]
    finally:
        srv.stop()


run_checks()
