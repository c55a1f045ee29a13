#!/usr/bin/python3
"""bench/prep: level-1.5 registration of a 4096x4096 file by FitsFlow (core/prep.h through
tests/tools/ff_prep_tool, every core) against sunpy 4.1's rotate + crop (bench/prep/peer.py) on the
same file in the same run, and the same comparison for the whole file-to-outputs step (level-1.5
FITS + ML array). Also checks, in the same run, that the two results agree to the stated tolerance.
A report, not a test: a missed target prints FAIL; the exit status is non-zero only when the
benchmark could not run.

Usage: /usr/bin/python3 bench/prep/compare.py --tool build/tests/ff_prep_tool --input F.fits
           [--input G.fits ...] [--scratch DIR] [--runs 3] [--results FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from astropy.io import fits

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
import prepsun  # noqa: E402

PY = "/usr/bin/python3"
TARGET = 20.0  # registration at least this many times faster than sunpy (issue 16)
TOL = 1e-6     # max |ours - sunpy| / the 0.1-99.9 percentile range


def busy_seconds():
    """CPU seconds the whole machine spent busy since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def timed(cmd):
    """Runs cmd; returns (stdout, wall s, own CPU s, cores used meanwhile by other processes)."""
    b0, t0 = busy_seconds(), time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    b1 = busy_seconds()
    out, err = p.stdout.read(), p.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out}\n{err}")
    cpu = ru.ru_utime + ru.ru_stime
    other = max(0.0, (b1 - b0 - cpu) / wall) if b0 is not None and b1 is not None else 0.0
    return out, wall, cpu, other


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def bench_one(tool, path, scratch, runs, lines):
    name = os.path.basename(path)
    base = os.path.join(scratch, os.path.splitext(name)[0])
    lev15, ml = base + "_lev15.fits", base + "_ml.npy"
    print(f"bench/prep: {name}", file=sys.stderr, flush=True)

    # Registration alone, in memory. Warm: one process, one scratch kept from call to call (as a
    # worker going through a session), the first call a warm-up. Cold: every call allocates its
    # own memory, none discarded.
    out, _, _, other_c = timed([tool, "--repeat", str(runs + 1), path, lev15, ml])
    ours = last_json(out)
    c_warm = statistics.median(ours["register_s"][1:])
    c_warm_cpu = statistics.median(ours["register_cpu_s"][1:])
    out, _, _, other_cold = timed([tool, "--cold", "--repeat", str(runs), path])
    cold = last_json(out)
    c_cold = statistics.median(cold["register_s"])
    c_cold_cpu = statistics.median(cold["register_cpu_s"])
    ref_npy = base + "_sunpy.npy"
    out, _, _, other_p = timed([PY, os.path.join(HERE, "peer.py"), "register", "--input", path,
                                "--runs", str(runs), "--save", ref_npy])
    peer = last_json(out)
    p_reg = statistics.median(peer["register_s"])
    p_cpu = statistics.median(peer["register_cpu_s"])

    # The same result?
    a = fits.getdata(lev15)
    b = np.load(ref_npy)
    if a.shape != b.shape:
        cmp = None
        agree = f"SHAPES DIFFER {a.shape} vs {b.shape}"
    else:
        cmp = prepsun.compare(a, b, peer["r_sun"], tuple(peer["crpix"]))
        agree = (f"max |diff|/range {cmp['max_rel']:.1e} (disk {cmp['max_rel_disk']:.1e}), "
                 f"NaN masks agree {100 * cmp['nan_agree']:.4f}%")
    ok_tol = cmp is not None and cmp["max_rel"] < TOL and cmp["nan_agree"] == 1.0

    # The whole file -> level-1.5 FITS + ML array, each side's best of `runs`.
    c_e2e, p_e2e = [], []
    for _ in range(runs):
        _, wall, _, _ = timed([tool, path, lev15, ml])
        c_e2e.append(wall)
        out, _, _, _ = timed([PY, os.path.join(HERE, "peer.py"), "e2e", "--input", path,
                              "--lev15", base + "_py_lev15.fits", "--ml", base + "_py_ml.npy"])
        p_e2e.append(last_json(out)["e2e_s"])
    c_e2e, p_e2e = statistics.median(c_e2e), statistics.median(p_e2e)

    ratio = p_reg / c_cold
    verdict = "ok" if ratio >= TARGET and ok_tol else "FAIL"
    lines.append(f"{name} ({'x'.join(str(s) for s in ours['shape'])} out, roll "
                 f"{ours['roll_deg']:.3f} deg, scale {ours['scale']:.5f})")
    lines.append(f"  registration, cold  fitsflow {c_cold:7.3f} s   sunpy rotate+crop {p_reg:7.3f} s   "
                 f"ratio {ratio:6.1f}x  (target >= {TARGET:.0f}x)  {verdict}")
    lines.append(f"  registration, warm  fitsflow {c_warm:7.3f} s   (scratch kept between files)"
                 f"          ratio {p_reg / c_warm:6.1f}x")
    lines.append(f"  CPU time            fitsflow {c_cold_cpu:7.3f} s cold, {c_warm_cpu:.3f} s warm (all "
                 f"threads)   sunpy {p_cpu:7.3f} s   ratio {p_cpu / c_cold_cpu:6.1f}x cold, "
                 f"{p_cpu / c_warm_cpu:.1f}x warm")
    lines.append(f"  file -> lev15 FITS + ML  fitsflow {c_e2e:7.3f} s   python {p_e2e:7.3f} s   "
                 f"ratio {p_e2e / c_e2e:6.1f}x  (python timed after its imports)")
    lines.append(f"  agreement: {agree}  (tolerance {TOL:g}) {'ok' if ok_tol else 'FAIL'}")
    lines.append(f"  machine: other processes used {other_cold:.2f} cores during fitsflow's cold "
                 f"timing, {other_c:.2f} during the warm one, {other_p:.2f} during sunpy's "
                 f"({os.cpu_count()} cores)")
    return verdict == "ok"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--input", action="append", required=True)
    ap.add_argument("--scratch", default=os.path.join(HERE, "..", "out", "prep"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--results")
    a = ap.parse_args()
    os.makedirs(a.scratch, exist_ok=True)
    lines = ["level 1.5 (issue 16): fitsflow vs sunpy 4.1 + aiapy register, median of "
             f"{a.runs} runs"]
    try:
        for path in a.input:
            bench_one(a.tool, path, a.scratch, a.runs, lines)
    except (RuntimeError, OSError) as e:
        print(f"bench/prep: could not run: {e}", file=sys.stderr)
        return 1
    text = "\n".join(lines)
    print(text)
    if a.results:
        with open(a.results, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
