"""The header scan and the cost estimate the budgets rely on (src/core/fits/fits_scan.c,
src/pipeline/budget.c), against what really happens:
- on every good fixture (every BITPIX, scaling, unsigned conventions, 1-3 axes, HDU choices, every
  tile compression, gzip, the real SDO files) the scan finds an image at least as costly as the
  one astropy gives for the HDU FitsFlow reads, and `fitsflow process` writes no more bytes of
  outputs than estimated;
- on full-size 4096x4096 images (int16, float32, float64; an AIA-like RICE file) the peak memory
  of `fitsflow process` (ru_maxrss, one file at a time) stays under the memory estimate, and
  the outputs under their estimate;
- the scan of a gzip bomb (as the reproducer mkbomb.py makes: 2048 x 2048 float64 zeros) takes
  constant memory. The scan never fails on the bad fixtures."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import warnings
import zlib

import numpy as np
from astropy.io import fits

from fftest import BIN, check, run_checks, scratch
import fitsgen
from test_fits_formats import expected

warnings.simplefilter("ignore")
TOOLS = os.environ.get("FF_TOOLS_DIR", os.path.join(os.path.dirname(__file__), "../../build/tests"))
DUMP = os.path.join(TOOLS, "ff_fits_scan_dump")
TMP = scratch("fits-scan")
ENV = dict(os.environ, FITSFLOW_OFFLINE="1")
ASAN = "libasan" in subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout


def scan(paths, env=ENV):
    p = subprocess.run([DUMP, *paths], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout
    return {os.path.basename(d["file"]): d for d in map(json.loads, p.stdout.splitlines())}


def peak_rss(cmd, env=ENV):
    """Runs cmd; returns (exit status, its peak RSS in bytes, stdout). Started from a small
    Python of its own: a child's ru_maxrss counts the memory of the process it was forked from,
    which here holds full-size arrays."""
    code = ("import resource, subprocess, sys, json\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
            "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
            " p.stdout.decode()]))")
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env,
                       timeout=600)
    rc, kib, out = json.loads(p.stdout)
    return rc, kib * 1024, out


def output_bytes(outdir):
    with open(os.path.join(outdir, "manifest.json")) as f:
        m = json.load(f)
    return {e["input"]: sum(o["bytes"] for o in e["outputs"]) for e in m["files"]}


def mkbomb(path, n1, n2, bitpix):
    """What the reproducer mkbomb.py writes: a valid gzip FITS of zeros."""
    cards = ["SIMPLE  =                    T", f"BITPIX  = {bitpix:>20d}", "NAXIS   =                    2",
             f"NAXIS1  = {n1:>20d}", f"NAXIS2  = {n2:>20d}", "TELESCOP= 'SDO/AIA'", "INSTRUME= 'AIA_3'",
             "WAVELNTH=                  171", "T_OBS   = '2011-02-15T00:00:01.34Z'", "END"]
    hdr = "".join(c.ljust(80) for c in cards)
    hdr = hdr.ljust((len(hdr) + 2879) // 2880 * 2880).encode()
    nbytes = (n1 * n2 * abs(bitpix) // 8 + 2879) // 2880 * 2880
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(c.compress(hdr))
        z = b"\0" * (4 << 20)
        left = nbytes
        while left:
            k = min(left, len(z))
            f.write(c.compress(z[:k]))
            left -= k
        f.write(c.flush())
    return len(hdr) + nbytes


@check
def scan_covers_what_the_reader_reads_and_outputs_stay_under_the_estimate():
    d = os.path.join(TMP, "good")
    os.makedirs(d)
    names = fitsgen.write_good(d)
    paths = [os.path.join(d, n) for n in names]
    found = scan(paths)
    for n, p in zip(names, paths):
        _, data = expected(p)
        s = found[n]
        assert s["pixels"] >= data.size, (n, s, data.shape)
        assert s["pixels"] * s["elem_bytes"] >= data.nbytes, (n, s, data.dtype, data.shape)
        assert s["complete"] == 1, (n, s)
    out = os.path.join(TMP, "good-out")
    subprocess.run([BIN, "process", "-q", "-j", "2", "-o", out, *paths], env=ENV, timeout=600,
                   capture_output=True)
    written = output_bytes(out)
    for n in names:
        assert written[n] <= found[n]["cost_output_bytes"], (n, written[n], found[n])
    bad = os.path.join(TMP, "bad")
    os.makedirs(bad)
    bad_names = fitsgen.write_bad(bad)
    scan([os.path.join(bad, n) for n in bad_names])  # exit 0, a line each


@check
def full_size_files_stay_under_their_memory_and_output_estimates():
    d = os.path.join(TMP, "full")
    os.makedirs(d)
    rng = np.random.default_rng(7)
    files = {}
    for dtype in ("int16", "float32", "float64"):
        a = (rng.standard_normal((4096, 4096)) * 1000).astype(dtype)
        files[dtype] = os.path.join(d, f"full_{dtype}.fits")
        fits.PrimaryHDU(a).writeto(files[dtype])
        del a
    src = os.path.join(os.environ.get("FF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                       "bench", "gen_aia.py")
    files["aia"] = os.path.join(d, "aia_like.fits")
    subprocess.run([sys.executable, src, files["aia"]], check=True, capture_output=True, timeout=300)
    files["gz"] = os.path.join(d, "full_int16.fits.gz")
    with open(files["int16"], "rb") as f, gzip.open(files["gz"], "wb", compresslevel=1) as g:
        shutil.copyfileobj(f, g)
    found = scan(list(files.values()))
    for kind, path in files.items():
        out = os.path.join(TMP, f"full-out-{kind}")
        rc, rss, _ = peak_rss([BIN, "process", "-q", "-j", "1", "-o", out, path])
        assert rc == 0, (kind, rc)
        s = found[os.path.basename(path)]
        if not ASAN:  # AddressSanitizer's shadow memory and quarantine are no part of the estimate
            assert rss <= s["cost_memory_bytes"], (kind, rss, s["cost_memory_bytes"])
        written = output_bytes(out)[os.path.basename(path)]
        assert written <= s["cost_output_bytes"], (kind, written, s["cost_output_bytes"])
        print(f"  {kind}: peak RSS {rss >> 20} MiB (estimate {s['cost_memory_bytes'] >> 20}), outputs "
              f"{written >> 20} MiB (estimate {s['cost_output_bytes'] >> 20})")
        shutil.rmtree(out)


@check
def a_gzip_bomb_is_scanned_in_constant_memory():
    path = os.path.join(TMP, "bomb.fits.gz")
    content = mkbomb(path, 2048, 2048, -64)
    assert os.path.getsize(path) < content // 100
    rc, rss, out = peak_rss([DUMP, path])
    s = json.loads(out)
    assert rc == 0
    assert s["content_bytes"] == content and s["pixels"] == 2048 * 2048 and s["elem_bytes"] == 8, s
    assert rss < 24 << 20, rss  # the content is 32 MiB; the scan holds 128 KiB of it


run_checks()
