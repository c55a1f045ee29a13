"""The NPY, CSV and header writers checked with the readers users hold: numpy.load, np.save's
bytes, pandas to_csv / read_csv, json.load and astropy headers (real SDO files from sunpy).

Drives tests/tools/ff_writers_dump (FF_TOOLS_DIR). Plain script: prints "N passed, 0 failed" and
exits 0 only when every check passed."""
import glob
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings

import numpy as np
import pandas as pd
from astropy.io import fits

warnings.simplefilter("ignore")
TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_writers_dump")
if os.environ.get("FF_TEST_TMP"):
    os.makedirs(os.environ["FF_TEST_TMP"], exist_ok=True)
TMP = tempfile.mkdtemp(prefix="writers-", dir=os.environ.get("FF_TEST_TMP") or None)
SUNPY_TEST = "/usr/lib/python3/dist-packages/sunpy/data/test"
rng = np.random.default_rng(20240611)
results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print("ok  ", name)
    except Exception:
        results["failed"] += 1
        print("FAIL", name)
        traceback.print_exc()


def dump_array(a, name, nthreads=2):
    raw = os.path.join(TMP, name + ".raw")
    npy = os.path.join(TMP, name + ".npy")
    csv = os.path.join(TMP, name + ".csv")
    np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tofile(raw)
    shape = "x".join(str(s) for s in a.shape)
    subprocess.run([TOOL, "array", raw, a.dtype.name, shape, npy, csv, str(nthreads)], check=True)
    return npy, csv


def same_values(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind == "f":
        # bit-exact, NaN included (all our NaNs come from numpy, so payloads match too)
        assert np.array_equal(got.view(f"u{want.itemsize}"), want.view(f"u{want.itemsize}"))
    else:
        assert np.array_equal(got, want)


def check_array(a, name, nthreads=2):
    npy, csv = dump_array(a, name, nthreads)
    # NPY: numpy reads it back, and the file is byte for byte what np.save writes
    got = np.load(npy)
    same_values(got, a)
    buf = io.BytesIO()
    np.save(buf, a.astype(a.dtype.newbyteorder("<")))
    with open(npy, "rb") as f:
        ours = f.read()
    assert ours == buf.getvalue(), "npy bytes differ from np.save"
    # CSV: byte for byte what pandas writes, and read_csv gives the values back
    with open(csv, "r", newline="") as f:
        text = f.read()
    want_text = pd.DataFrame(a).to_csv(index=False)
    if text != want_text:
        ol, wl = text.split("\n"), want_text.split("\n")
        for i, (x, y) in enumerate(zip(ol, wl)):
            if x != y:
                for j, (u, v) in enumerate(zip(x.split(","), y.split(","))):
                    if u != v:
                        raise AssertionError(f"csv line {i} field {j}: ours {u!r}, pandas {v!r}")
        raise AssertionError(f"csv differs in length: {len(text)} vs {len(want_text)}")
    if a.size:
        df = pd.read_csv(csv, float_precision="round_trip")
        back = df.to_numpy()
        if a.ndim == 1:
            back = back[:, 0]
        back = back.astype(a.dtype)  # float32: compare after casting back to float32
        if a.dtype.kind == "f":
            # read_csv turns "-0.0" into -0.0 and "" into NaN: compare values and signs of zero
            assert np.array_equal(np.isnan(back), np.isnan(a))
            m = ~np.isnan(a)
            assert np.array_equal(back[m], a[m])
            assert np.array_equal(np.signbit(back[m]), np.signbit(a[m]))
        else:
            assert np.array_equal(back, a)


def random_float_bits(dtype, shape):
    it = np.dtype(dtype).itemsize
    bits = rng.integers(0, 2 ** (8 * it), size=shape, dtype=f"u{it}")
    a = bits.view(dtype).copy()
    a[~np.isfinite(a)] = 1.5
    return a


def float_specials(dtype):
    fi = np.finfo(dtype)
    vals = [0.0, -0.0, np.nan, np.inf, -np.inf, fi.max, -fi.max, fi.tiny, fi.smallest_subnormal,
            -fi.smallest_subnormal, fi.eps, 0.1, 1e-4, 1e-5, 1e15, 1e16, 1e17, 2.0 ** 24,
            123456789.0, 1 / 3, 2 / 3, 9.999999e15, 0.00010001]
    return np.array(vals, dtype=dtype)


def test_all_int_dtypes():
    for dt in ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=(37, 53), dtype=dt, endpoint=True)
        a[0, :4] = [info.min, info.max, 0, 1 if info.min == 0 else -1]
        check_array(a, "int_" + dt, nthreads=3)
        check_array(a[5], "int1d_" + dt)


def test_float_specials():
    for dt in ["float32", "float64"]:
        check_array(float_specials(dt).reshape(1, -1), "spec_" + dt)
        check_array(float_specials(dt), "spec1d_" + dt)


def test_random_float_bits():
    for dt in ["float32", "float64"]:
        a = random_float_bits(dt, (300, 400))
        a[::7, ::5] = np.nan
        check_array(a, "bits_" + dt, nthreads=2)


def test_random_float_values():
    # realistic pixel values: what calibrated solar images hold
    for dt in ["float32", "float64"]:
        a = (rng.standard_normal((256, 256)) * 300 + 250).astype(dt)
        a[rng.random(a.shape) < 0.01] = np.nan
        check_array(a, "vals_" + dt, nthreads=1)
        b = np.exp(rng.uniform(-700, 700, size=(64, 64))).astype("float64")
        check_array(b, "wide_float64")
        c = (rng.integers(-10 ** 6, 10 ** 6, size=(64, 64)) / 10.0 ** rng.integers(0, 12, size=(64, 64))).astype(dt)
        check_array(c, "decimal_" + dt)


def test_empty_shapes():
    check_array(np.zeros((0, 3)), "empty_rows")
    check_array(np.zeros((2, 0)), "empty_cols")
    check_array(np.zeros((0,), dtype=np.int16), "empty_1d")


def test_3d_refused():
    a = np.zeros((2, 3, 4), dtype=np.float32)
    raw = os.path.join(TMP, "cube.raw")
    a.tofile(raw)
    npy = os.path.join(TMP, "cube.npy")
    r = subprocess.run([TOOL, "array", raw, "float32", "2x3x4", npy, os.path.join(TMP, "cube.csv")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "(2, 3, 4)" in r.stderr, r.stderr
    same_values(np.load(npy), a)  # NPY still takes 3-D data


def raw_primary_cards(path):
    with open(path, "rb") as f:
        data = f.read(2880 * 200)
    cards = []
    for i in range(0, len(data), 80):
        c = data[i:i + 80]
        cards.append(c)
        if c[:8] == b"END     ":
            break
    return b"".join(cards)


def text_header_cards(path):
    # sunpy's *.header fixtures: one card per line (what Header.fromtextfile reads)
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return b"".join(l[:80].ljust(80) for l in lines if l.strip())


def dump_header(cards, name):
    cpath = os.path.join(TMP, name + ".cards")
    with open(cpath, "wb") as f:
        f.write(cards)
    txt, js = os.path.join(TMP, name + ".txt"), os.path.join(TMP, name + ".json")
    subprocess.run([TOOL, "header", cpath, txt, js], check=True)
    with open(txt, "r", newline="") as f:
        t = f.read()
    with open(js) as f:
        j = json.load(f)
    return t, j


# Keywords whose long-string (CONTINUE) value or comment src/core/fits/header.c does not yet read as
# astropy does (trailing '&' of the last piece kept; comments of CONTINUE cards not joined).
# Reported, not hidden: each is printed as KNOWN; every other difference fails.
def continue_keys(hdr):
    return {c.keyword for c in hdr.cards if "CONTINUE" in c.image[80:]}


def known(name, k, detail):
    raise AssertionError(f"header.c CONTINUE difference, {name} {k}: {detail}")


def check_header(cards, name):
    hdr = fits.Header.fromstring(cards.decode("ascii"))
    cont = continue_keys(hdr)
    ours_txt, ours_json = dump_header(cards, name)
    want_lines = [f"{k} = {v}" for k, v in hdr.items()]
    ours_lines = ours_txt.split("\n")
    assert ours_lines[-1] == "" and len(ours_lines) == len(want_lines) + 1, name
    for (k, _), x, y in zip(hdr.items(), ours_lines, want_lines):
        if x != y and k in cont:
            known(name, k, f"ours {x!r}, astropy {y!r}")
            continue
        assert x == y, f"{name}: ours {x!r}, astropy {y!r}"
    h, comments = ours_json["header"], ours_json["comments"]
    keys = []
    for k in hdr.keys():
        if k not in keys:
            keys.append(k)
    assert list(h.keys()) == keys, (list(h.keys()), keys)
    for k in keys:
        if k in ("COMMENT", "HISTORY", ""):
            want = [str(c.value) for c in hdr.cards if c.keyword == k]
            assert h[k] == want, (k, h[k], want)
            continue
        want = hdr[k]
        got = h[k]
        if isinstance(want, complex):
            assert got == str(want), (k, got, want)
            continue
        if want is None or type(want).__name__ == "Undefined":
            assert got is None, (k, got)
            continue
        assert type(got) is type(want), (k, type(got), type(want), got, want)
        c = hdr.comments[k]
        if k in cont and (got != want or comments.get(k, "") != c):
            known(name, k, f"value {got!r} / {want!r}, comment {comments.get(k)!r} / {c!r}")
            continue
        assert got == want, (k, got, want)
        assert comments.get(k, "") == c, (k, comments.get(k), c)


def test_header_sdo_files():
    for f in ["aia_171_level1.fits", "resampled_hmi.fits"]:
        check_header(raw_primary_cards(os.path.join(SUNPY_TEST, f)), f)


def test_header_text_fixtures():
    n = 0
    for path in sorted(glob.glob(os.path.join(SUNPY_TEST, "*.header"))):
        cards = text_header_cards(path)
        if any(b < 32 or b > 126 for b in cards):
            # header.c turns bytes FITS forbids in cards (a tab here) into spaces; astropy keeps them
            print("skip (non-ASCII-printable bytes in cards):", os.path.basename(path))
            continue
        try:
            hdr = fits.Header.fromstring(cards.decode("ascii"))
            list(hdr.items())
        except Exception:
            continue  # a fixture astropy itself cannot read
        check_header(cards, os.path.basename(path))
        n += 1
    assert n >= 10, n


def test_header_edge_cards():
    cards = ["SIMPLE  =                    T / c", "UNDEF   =", "UNDEF2  =                      / only a comment",
             "        blank keyword text", "BIG     = 123456789012345678901234", "BIGN    = -9223372036854775809",
             "I64     = 9223372036854775807", "CPX     = (1.5, -2)", "CPX2    = (1, 2)", "CPX3    = (0, 1E16)",
             "DEXP    = 1.5D3", "E1      = 1E5", "F1      = 1E16", "F2      = -0.0", "F3      = 0.00001",
             "INTP    = +007", "HIERARCH ESO DET X = 5 / hh", "STR     = 'a''b  '", "EMPTY   = ''",
             "SP      = '   '", "LEAD    = '  x'", "F4      = 1.0e308", "F5      = 1.0E-320", "F6      = .5",
             "F7      = 5.", "F9      = 123456789012345678.0", "NOEQ    this has no equals",
             "HISTORY   spaced history  ", "COMMENT", "BOOLF   =                    F",
             "NOEQ2      x  ", "NOEQ3   =x", "EQ9     =  5", "LONG    = 'abc&'", "CONTINUE  'def&'",
             "CONTINUE  'ghi'", "AFTER   = 1 / c2", 'DQ      = \'say "hi" \\ back\' / a "quoted" \\ comment',
             "BITPIX  =                    8", "BITPIX  =                   16 / second"]
    check_header("".join(c.ljust(80) for c in cards).encode(), "edge")


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        check(name, fn)

if results["failed"] == 0:
    shutil.rmtree(TMP, ignore_errors=True)  # keep the files of a failed run for a look
print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(0 if results["failed"] == 0 and results["passed"] > 0 else 1)
