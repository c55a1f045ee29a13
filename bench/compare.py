#!/usr/bin/python3
"""Times `fitsflow process` against the Python stack it replaces and against funpack, and prints
the ratios next to the targets of issues 2 and 3. A report, not a test: a missed target prints FAIL
and the exit status stays 0 (non-zero only when the benchmark itself could not run).

Usage: /usr/bin/python3 bench/compare.py --fitsflow BIN --input FILE.fits [--scratch DIR]
           [--runs 3] [--stage foundation|all|both|prep] [--results bench/out/results.txt]

--stage prep times the whole `fitsflow process` (every output, level 1.5 included) against
python_baseline.py --stage prep (the same outputs: level 1.5 and the session stacks added) and
says plainly when this fitsflow writes no level-1.5 outputs (the ratio is then N/A).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # Debian's, with astropy/numpy/pandas/Pillow/asdf

TARGET_PY_FOUNDATION = 15.0  # fitsflow at least this many times faster than Python (issue 2)
TARGET_PY_ALL = 25.0         # ... with PNGs and ASDF (issue 3)
TARGET_FUNPACK = 1.5         # fitsflow within this factor of funpack's decompression (issue 2)
TARGET_MEMORY = 4.0          # fitsflow peak RSS below this many uncompressed images (issue 2)
TARGET_NPY_FUNPACK = 0.6     # `--outputs npy` within this fraction of funpack's time (issue 17)
TARGET_PY_PREP = 30.0        # all outputs with level 1.5 against Python doing the same (issue 16)


# What each stage writes (fitsflow's layout); a comparison is only meaningful when fitsflow writes
# at least the baseline's outputs.
STAGE_OUTPUTS = {
    "foundation": ["header/{base}_header.txt", "header/{base}_header.json",
                   "data/{base}_data.csv", "data/{base}_data.npy"],
}
STAGE_OUTPUTS["all"] = STAGE_OUTPUTS["foundation"] + [
    "images/local/{base}_gray.png", "images/local/{base}_color.png", "asdf/{base}.asdf"]
STAGE_OUTPUTS["prep"] = STAGE_OUTPUTS["all"] + [
    "prep/{base}_lev15.fits", "prep/{base}_ml.npy",
    "session/stack.npy", "session/stack_index.csv", "session/channels.npz"]
BUSY_CORES = 0.25            # CPU used by other processes during a run above which it is flagged


class Measure:
    def __init__(self, name, seconds, cpu, rss_kib, ok, note="", other=0.0):
        self.name, self.seconds, self.cpu, self.rss_kib, self.ok, self.note, self.other = \
            name, seconds, cpu, rss_kib, ok, note, other


def busy_seconds():
    """CPU seconds spent busy by the whole machine since boot (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def run_once(cmd, outdir, log):
    """Runs cmd once into an empty outdir; returns (wall s, user+sys s, peak RSS KiB, exit ok,
    cores used meanwhile by other processes)."""
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    with open(log, "wb") as err:
        b0 = busy_seconds()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # wait4 gives this child's own rusage: its peak RSS, not the maximum over all children.
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        b1 = busy_seconds()
    p.returncode = os.waitstatus_to_exitcode(status)
    cpu = ru.ru_utime + ru.ru_stime
    other = max(0.0, (b1 - b0 - cpu) / wall) if b0 is not None and b1 is not None else 0.0
    return wall, cpu, ru.ru_maxrss, p.returncode == 0, other


def measure(name, cmd, outdir, runs, warmups=1):
    """One warm-up (page cache warm, lazy caches filled), then runs timed runs; the median wall
    time, the median CPU time and the largest peak RSS."""
    log = outdir.rstrip("/") + ".stderr"
    print(f"  timing {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    results = []
    for i in range(warmups + runs):
        r = run_once(cmd, outdir, log)
        if not r[3]:
            with open(log, errors="replace") as f:
                tail = f.read()[-600:].strip()
            print(f"  {name} failed (exit status non-zero):\n    {tail}", file=sys.stderr)
            return Measure(name, None, None, None, False, "failed: " + tail.splitlines()[-1]
                           if tail else "failed")
        if i >= warmups:
            results.append(r)
    m = Measure(name, statistics.median(r[0] for r in results),
                statistics.median(r[1] for r in results), max(r[2] for r in results), True,
                other=max(r[4] for r in results))
    m.runs = [r[0] for r in results]
    print(f"    median {m.seconds:.3f} s of {[round(r[0], 3) for r in results]}", file=sys.stderr)
    return m


def image_bytes(path):
    from astropy.io import fits
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.header.get("NAXIS", 0) > 0:
                h = hdu.header
                n = abs(h["BITPIX"]) // 8
                for i in range(1, h["NAXIS"] + 1):
                    n *= h[f"NAXIS{i}"]
                return n
    raise SystemExit(f"{path}: no image HDU")


def outputs_of(outdir):
    found = []
    for root, _, files in os.walk(outdir):
        for f in files:
            found.append(os.path.relpath(os.path.join(root, f), outdir))
    return sorted(found)


def short(rel, base):
    return rel.replace(base, "{base}")


def agreement(ff_dir, py_dir, base):
    """Checks that fitsflow and the baseline did the same work: the outputs both wrote, compared
    as their readers see them. Returns lines for the report."""
    lines = []
    ff, py = set(outputs_of(ff_dir)), set(outputs_of(py_dir))
    for rel in sorted(ff & py):
        a, b = os.path.join(ff_dir, rel), os.path.join(py_dir, rel)
        if rel.endswith(".txt"):
            same = _same_lines(a, b)
        elif rel.endswith(".csv"):
            same = _same_bytes(a, b)
        elif rel.startswith(("prep/", "session/")):
            same = _prep_agreement(rel, a, b)
        elif rel.endswith(".npy"):
            import numpy as np
            x, y = np.load(a), np.load(b)
            # byte order aside: astropy gives a funpacked file's big-endian data as it is
            same = x.dtype.newbyteorder("=") == y.dtype.newbyteorder("=") and \
                x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
            if same and x.dtype.byteorder != y.dtype.byteorder:
                same = f"same values (byte order {x.dtype.str} vs {y.dtype.str})"
        elif rel.endswith(".json"):
            import json
            with open(a) as fa, open(b) as fb:
                ja, jb = json.load(fa), json.load(fb)
            same = ja == jb or _json_diff(ja, jb)
        elif rel.endswith(".png"):
            from PIL import Image
            import numpy as np
            x, y = np.asarray(Image.open(a).convert("RGB")), np.asarray(Image.open(b).convert("RGB"))
            if x.shape != y.shape:
                same = f"different size {x.shape} vs {y.shape}"
            else:
                d = np.abs(x.astype(int) - y.astype(int))
                same = True if d.max() == 0 else (
                    f"same size; pixels differ by up to {d.max()} levels, mean {d.mean():.1f} "
                    "(the stretches differ by design: log here, fitsflow its own)")
        elif rel.endswith(".asdf"):
            import asdf
            import numpy as np
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with asdf.open(a, copy_arrays=True) as fa, asdf.open(b, copy_arrays=True) as fb:
                    x, y = _asdf_array(fa.tree), _asdf_array(fb.tree)
                    if x is None or y is None:
                        same = "no image array found under 'data'"
                    else:
                        same = (x.dtype.newbyteorder("=") == y.dtype.newbyteorder("=")
                                and x.shape == y.shape
                                and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")) or \
                            "image arrays differ"
                        if same is True and x.dtype.byteorder != y.dtype.byteorder:
                            same = f"same image array (byte order {x.dtype.str} vs {y.dtype.str})"
        else:
            continue
        verdict = "same" if same is True else ("DIFFERENT" if same is False else same)
        lines.append(f"  {short(rel, base)}: {verdict}")
    only_ff = sorted(ff - py)
    if only_ff:
        lines.append(f"  fitsflow only (extra work, not in the baseline): {', '.join(short(r, base) for r in only_ff)}")
    only_py = sorted(py - ff)
    if only_py:
        lines.append(f"  baseline only (fitsflow did not write these): {', '.join(short(r, base) for r in only_py)}")
    return lines


def _close(x, y):
    """Two level-1.5 arrays: shape, NaN masks and the largest difference relative to the
    reference's (python's) 0.1-99.9 percentile range. FitsFlow's registration equals sunpy's to a
    tolerance (bench/prep), not bit for bit."""
    import numpy as np
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        return f"different shape {x.shape} vs {y.shape}"
    fx, fy = np.isfinite(x), np.isfinite(y)
    both = fx & fy
    if not both.any():
        return "no pixel finite in both"
    lo, hi = np.nanpercentile(y, [0.1, 99.9])
    rng = float(hi - lo) or 1.0
    d = float(np.abs(x[both] - y[both]).max()) / rng
    return f"max difference {d:.2e} of the 0.1-99.9 percentile range, NaN masks agree on {np.mean(fx == fy):.4%}"


def _prep_agreement(rel, a, b):
    import numpy as np
    try:
        if rel.endswith(".npy"):
            return _close(np.load(a), np.load(b))
        if rel.endswith(".npz"):
            with np.load(a) as za, np.load(b) as zb:
                ka, kb = set(za.files), set(zb.files)
                if ka != kb:
                    return f"DIFFERENT arrays: fitsflow {sorted(ka)}, python {sorted(kb)}"
                return "; ".join(f"{k}: {_close(za[k], zb[k])}" for k in sorted(ka) if not k.endswith("_time"))
        if rel.endswith(".fits"):
            from astropy.io import fits
            return _close(fits.getdata(a), fits.getdata(b))
        if rel.endswith(".csv"):
            import pandas as pd
            x, y = pd.read_csv(a), pd.read_csv(b)
            return True if len(x) == len(y) else f"DIFFERENT row counts {len(x)} vs {len(y)}"
    except Exception as e:  # a report, not a test: say what could not be read
        return f"could not compare ({e})"
    return True


def _asdf_array(tree):
    """The image array of an ASDF tree: tree["data"] itself (baseline) or the first array inside
    the tree["data"] mapping (fitsflow: data/image)."""
    import numpy as np
    d = tree.get("data")
    if isinstance(d, dict):
        d = next((v for v in d.values() if hasattr(v, "shape")), None)
    return np.asarray(d) if d is not None and hasattr(d, "shape") else None


def _same_lines(a, b):
    with open(a, errors="replace") as fa, open(b, errors="replace") as fb:
        la, lb = fa.read().splitlines(), fb.read().splitlines()
    if la == lb:
        return True
    i = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
    x = la[i] if i < len(la) else "<end>"
    y = lb[i] if i < len(lb) else "<end>"
    return f"DIFFERENT from line {i + 1}: fitsflow {x!r}, python {y!r}"


def _json_diff(a, b, path=""):
    """A short description of the first difference between two parsed JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        extra, lack = [k for k in a if k not in b], [k for k in b if k not in a]
        if extra or lack:
            return f"DIFFERENT at {path or '/'}: keys only in fitsflow {extra}, only in python {lack}"
        for k in a:
            if a[k] != b[k]:
                return _json_diff(a[k], b[k], f"{path}/{k}")
    return f"DIFFERENT at {path or '/'}: fitsflow {str(a)[:80]}, python {str(b)[:80]}"


def _same_bytes(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return f"sizes differ ({os.path.getsize(a)} vs {os.path.getsize(b)} bytes)"
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fitsflow", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--scratch", default=os.path.join(HERE, "out", "run"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stage", choices=["foundation", "all", "both", "prep"], default="both")
    ap.add_argument("--results", default=os.path.join(HERE, "out", "results.txt"))
    ap.add_argument("--target-all", type=float, default=TARGET_PY_ALL,
                    help="speed-up over python all to hold fitsflow to (issue 3: 25; issue 17: 35 "
                         "for AIA, 30 for HMI)")
    ap.add_argument("--target-prep", type=float, default=TARGET_PY_PREP,
                    help="speed-up over python prep (all outputs with level 1.5) (issue 16: 30)")
    ap.add_argument("--target-npy", type=float, default=TARGET_NPY_FUNPACK,
                    help="`--outputs npy` time as a fraction of funpack's (issue 17: 0.6)")
    args = ap.parse_args()

    inp = os.path.abspath(args.input)
    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    img_bytes = image_bytes(inp)
    base = os.path.basename(inp)
    base = base[:-5] if base.endswith(".fits") else base
    stages = ["foundation", "all"] if args.stage == "both" else [args.stage]

    rows = []    # (name, seconds, ratio text, target text, verdict)
    notes = []

    def fmt_s(m):
        return f"{m.seconds:.3f}" if m.ok else "-"

    def ratio_row(label, value, target_text, passed, stage=None):
        missing = [short(o, base) for o in STAGE_OUTPUTS.get(stage, [])
                   if o.format(base=base) not in ff_outputs]
        if missing:
            notes.append(f"{label.strip()}: N/A, fitsflow does not write {', '.join(missing)} yet, "
                         "so it did less work than the baseline.")
        verdict = "N/A" if missing else ("PASS" if passed else "FAIL")
        rows.append((label, "", value, target_text, verdict))

    # fitsflow, once per stage with the same outputs as that stage's baseline: `--outputs npy,csv`
    # (the header and manifest are always written) for the foundation, `--outputs
    # npy,csv,png,asdf` for "all" (the baseline's "all" predates level 1.5), everything for
    # "prep".
    ff_runs = {}
    for st in stages:
        d = os.path.join(scratch, f"fitsflow_{st}")
        cmd = [os.path.abspath(args.fitsflow), "process", "--offline", "-q", "-o", d, inp]
        if st == "foundation":
            cmd[2:2] = ["--outputs", "npy,csv"]
        elif st == "all":
            cmd[2:2] = ["--outputs", "npy,csv,png,asdf"]
        if os.access(cmd[0], os.X_OK):
            m = measure(f"fitsflow process ({st})", cmd, d, args.runs)
        else:
            m = Measure(f"fitsflow process ({st})", None, None, None, False, f"{cmd[0]} not built")
        outs = [o for o in outputs_of(d) if o != "manifest.json"] if m.ok else []
        ff_runs[st] = (m, d, outs)
    ff, ff_dir, ff_outputs = ff_runs[stages[-1]]
    npy_dir = os.path.join(scratch, "fitsflow_npy")
    npy = measure("fitsflow process --outputs npy",
                  [os.path.abspath(args.fitsflow), "process", "--offline", "-q", "--outputs", "npy",
                   "-o", npy_dir, inp], npy_dir, args.runs) if os.access(args.fitsflow, os.X_OK) else \
        Measure("fitsflow npy", None, None, None, False, "not built")

    fun_dir = os.path.join(scratch, "funpack")
    fun = measure("funpack", ["funpack", "-O", os.path.join(fun_dir, "image.fits"), inp], fun_dir,
                  args.runs) if shutil.which("funpack") else \
        Measure("funpack", None, None, None, False, "funpack not installed (libcfitsio-bin)")

    py = {}
    for st in stages:
        d = os.path.join(scratch, f"python_{st}")
        py[st] = measure(f"python {st}",
                         [PY, os.path.join(HERE, "python_baseline.py"), "--stage", st, "-o", d, inp],
                         d, args.runs)

    def add_measure(m, label, ratio="", target="", verdict=""):
        rows.append((label, fmt_s(m), ratio if m.ok else m.note, target, verdict))

    if "foundation" in stages:
        add_measure(py["foundation"], "python foundation: astropy+pandas (txt,json,csv,npy)",
                    "baseline")
    add_measure(fun, "funpack -O (decompress + write, the floor)", "floor")
    if "all" in stages:
        add_measure(py["all"], "python all: + Pillow PNGs, asdf zlib", "baseline")
    if "prep" in stages:
        add_measure(py["prep"], "python prep: all + sunpy register, lev15, ML, stacks", "baseline")
    for st in stages:
        m, _, outs = ff_runs[st]
        add_measure(m, f"fitsflow process, {st} ({len(outs)} outputs + manifest)")
    add_measure(npy, "fitsflow process --outputs npy (header, NPY, manifest)")
    if npy.ok and fun.ok:
        r = npy.seconds / fun.seconds
        rows.append(("  npy vs funpack (time ratio)", "", f"{r:.2f}x", f"<= {args.target_npy:g}x",
                     "PASS" if r <= args.target_npy else "FAIL"))
    if "foundation" in stages:
        ff, ff_dir, ff_outputs = ff_runs["foundation"]
        if ff.ok and py["foundation"].ok:
            r = py["foundation"].seconds / ff.seconds
            ratio_row("  foundation vs python foundation (speed-up)", f"{r:.1f}x",
                      f">= {TARGET_PY_FOUNDATION:g}x", r >= TARGET_PY_FOUNDATION, "foundation")
        if ff.ok and fun.ok:
            r = ff.seconds / fun.seconds
            ratio_row("  foundation vs funpack (time ratio)", f"{r:.2f}x", f"<= {TARGET_FUNPACK:g}x",
                      r <= TARGET_FUNPACK)
    if "all" in stages:
        ff, ff_dir, ff_outputs = ff_runs["all"]
        if ff.ok and py["all"].ok:
            r = py["all"].seconds / ff.seconds
            ratio_row("  all vs python all (speed-up)", f"{r:.1f}x", f">= {args.target_all:g}x",
                      r >= args.target_all, "all")
    if "prep" in stages:
        ff, ff_dir, ff_outputs = ff_runs["prep"]
        has_prep = any(o.startswith("prep/") for o in ff_outputs)
        notes.insert(0, "level 1.5: fitsflow process wrote " + (
            ", ".join(short(o, base) for o in ff_outputs if o.startswith(("prep/", "session/")))
            if has_prep else "NO level-1.5 outputs (prep/, session/): this build's pipeline has no level 1.5, "
            "so it did less work than python prep and the ratio below is N/A"))
        if ff.ok and py["prep"].ok:
            r = py["prep"].seconds / ff.seconds
            ratio_row("  prep vs python prep (speed-up)", f"{r:.1f}x", f">= {args.target_prep:g}x",
                      r >= args.target_prep, "prep")
    for st in stages:
        m = ff_runs[st][0]
        if m.ok:
            mib = m.rss_kib / 1024
            r = m.rss_kib * 1024 / img_bytes
            rows.append((f"  peak memory, {st} (max RSS)", f"{mib:.0f} MiB", f"{r:.2f}x image",
                         f"< {TARGET_MEMORY:g}x", "PASS" if r < TARGET_MEMORY else "FAIL"))

    # The same work? Compare what both sides wrote, as their readers see it.
    for st in stages:
        m, d, _ = ff_runs[st]
        if m.ok and py[st].ok:
            notes.append(f"fitsflow vs python {st} outputs:")
            notes.extend(agreement(d, os.path.join(scratch, f"python_{st}"), base))

    cpu = []
    for m in [py.get("foundation"), fun, py.get("all"), npy] + [ff_runs[st][0] for st in stages]:
        if m is not None and m.ok:
            cpu.append(f"  {m.name}: wall {m.seconds:.3f} s (runs {', '.join(f'{t:.3f}' for t in m.runs)}), "
                       f"cpu {m.cpu:.3f} s, "
                       f"peak RSS {m.rss_kib / 1024:.0f} MiB, other processes used up to "
                       f"{m.other:.2f} cores")

    w = max(len(r[0]) for r in rows)
    head = (f"FitsFlow benchmark: {os.path.basename(inp)} ({img_bytes / 2**20:.0f} MiB uncompressed, "
            f"{os.path.getsize(inp) / 2**20:.1f} MiB on disk), {os.cpu_count()} cores, "
            f"median of {args.runs} runs after 1 warm-up, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"load average {os.getloadavg()[0]:.2f} at the end")
    lines = [head, "",
             f"{'name':<{w}}  {'seconds':>8}  {'ratio':<16}  {'target':<8}  result",
             "-" * (w + 48)]
    for name, secs, ratio, target, verdict in rows:
        lines.append(f"{name:<{w}}  {secs:>8}  {ratio:<16}  {target:<8}  {verdict}".rstrip())
    lines += ["", "wall and CPU time (user+sys), medians; peak RSS, max over runs:"] + cpu
    if notes:
        lines += [""] + notes
    if ff.ok and ff_outputs:
        lines += ["", "fitsflow wrote: " + ", ".join(short(o, base) for o in ff_outputs)]
    busy = [m.name for m in [py.get("foundation"), fun, py.get("all"), npy] + [ff_runs[st][0] for st in stages]
            if m is not None and m.ok and m.other > BUSY_CORES]
    if busy:
        lines += ["", f"WARNING: other processes used more than {BUSY_CORES} core during: "
                  f"{', '.join(busy)}; those wall times are inflated, rerun on an idle machine."]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as f:
        f.write(text)
    print(f"(written to {args.results})")
    return 0 if all(m.ok for m in [ff, fun] + list(py.values())) else 1


if __name__ == "__main__":
    sys.exit(main())
