"""ASDF bundles written by ff_asdf_write (through tests/tools/ff_asdf_dump) read back with
Debian's python3-asdf: opened with every warning an error, schema-validated, block checksums
verified, arrays equal to the input (dtype, shape, values, NaN), tree nodes of the right types,
FITS header values equal to astropy's, HEK JSON round-tripped. Real SDO/SOHO files come from
sunpy's test data. Plain script: prints "N passed, 0 failed" and exits 0 only when all pass."""
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import traceback
import warnings

import numpy as np

import asdf
from astropy.io import fits

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_asdf_dump")
TMP = os.path.join(os.environ.get("FF_TEST_TMP") or tempfile.mkdtemp(), "asdf_interop")
os.makedirs(TMP, exist_ok=True)
SUNPY_TEST = "/usr/lib/python3/dist-packages/sunpy/data/test"

# python3-sunpy registers an asdf plugin that cannot load here (asdf_astropy is not packaged),
# and asdf warns about that once, when it first lists its extensions. That warning is about this
# machine, not about our file: load the extension list once with it silenced; every warning
# raised while reading our files after that is an error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    asdf.get_config().extensions

passed = failed = 0
_counter = [0]


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
    except Exception:
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc()


def run_tool(arr, compress=True, threads=2, cards=None, header_text=None, hek=None,
             extra=(), expect_ok=True):
    _counter[0] += 1
    base = os.path.join(TMP, f"case{_counter[0]}")
    arr = np.ascontiguousarray(arr)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    le.tofile(base + ".bin")
    args = [TOOL, "--data", base + ".bin", "--dtype", arr.dtype.name,
            "--shape", ",".join(str(s) for s in arr.shape), "--out", base + ".asdf",
            "--threads", str(threads)]
    if not compress:
        args.append("--raw")
    if cards is not None:
        with open(base + ".cards", "wb") as f:
            f.write(cards)
        args += ["--cards", base + ".cards"]
    if header_text is not None:
        with open(base + ".txt", "wb") as f:
            f.write(header_text.encode("utf-8") if isinstance(header_text, str) else header_text)
        args += ["--header-text", base + ".txt"]
    if hek is not None:
        with open(base + ".hek.json", "wb") as f:
            f.write(hek.encode("utf-8") if isinstance(hek, str) else hek)
        args += ["--hek", base + ".hek.json"]
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if expect_ok:
        assert r.returncode == 0, f"tool failed: {r.stderr}"
    return base + ".asdf"


def open_checked(path):
    """asdf.open with warnings as errors, checksums verified, schema validated; returns the tree
    as plain Python objects and the array (copied out of the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with asdf.open(path, validate_checksums=True, lazy_load=False, copy_arrays=True) as af:
            af.validate()
            arr = np.array(af["data"]["image"])
            tree = {k: af.tree[k] for k in af.tree if k != "data"}
            tree["data"] = {k: v for k, v in af["data"].items() if k != "image"}
            return tree, arr


def raw_block(path):
    """The block header fields and the index offset, read by hand from the bytes."""
    b = open(path, "rb").read()
    off = b.index(b"\n...\n") + 5
    assert b[off:off + 4] == b"\xd3BLK"
    (hsize,) = struct.unpack(">H", b[off + 4:off + 6])
    flags, comp, alloc, used, dsize, md5 = struct.unpack(">I4sQQQ16s", b[off + 6:off + 54])
    idx = b.rindex(b"#ASDF BLOCK INDEX\n")
    lines = b[idx:].decode("ascii").splitlines()
    assert lines[:3] == ["#ASDF BLOCK INDEX", "%YAML 1.1", "---"], lines
    assert lines[-1] == "..."
    offsets = [int(x[2:]) for x in lines[3:-1]]
    assert idx == off + 6 + hsize + alloc, "index must follow the block"
    return dict(off=off, hsize=hsize, flags=flags, comp=comp, alloc=alloc, used=used,
                dsize=dsize, md5=md5, offsets=offsets, file=b)


def assert_same_array(got, want):
    assert got.dtype == want.dtype.newbyteorder("="), (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind == "f":
        assert np.array_equal(got, want, equal_nan=True)
        # bit-exact, so -0.0 and NaN payloads survive too
        assert got.tobytes() == want.astype(got.dtype).tobytes()
    else:
        assert np.array_equal(got, want)


def roundtrip(arr, compress=True, threads=2, **kw):
    path = run_tool(arr, compress=compress, threads=threads, **kw)
    tree, got = open_checked(path)
    assert_same_array(got, arr)
    blk = raw_block(path)
    assert blk["hsize"] == 48 and blk["flags"] == 0
    assert blk["comp"] == (b"zlib" if compress else b"\0\0\0\0")
    assert blk["dsize"] == arr.nbytes
    assert blk["offsets"] == [blk["off"]]
    assert blk["md5"] == hashlib.md5(np.ascontiguousarray(arr).astype(
        arr.dtype.newbyteorder("<")).tobytes()).digest(), "checksum is MD5 of the array bytes"
    return tree, path


DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float32", "float64"]
rng = np.random.default_rng(20260101)


def make(dtype, shape):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind == "f":
        a = rng.normal(0, 1000, n).astype(dt)
        if n >= 4:
            a[:4] = [np.nan, np.inf, -np.inf, -0.0]
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        if n >= 2:
            a[:2] = [info.min, info.max]
    return a.reshape(shape)


for dt in DTYPES:
    for comp in (True, False):
        check(f"dtype {dt} compress={comp}", lambda dt=dt, comp=comp: roundtrip(
            make(dt, (37, 53)), compress=comp))

for shape in [(1000,), (13, 17), (3, 20, 30), (1, 1), (1,), (0,), (0, 5), (2, 0, 3)]:
    for comp in (True, False):
        check(f"shape {shape} compress={comp}", lambda s=shape, c=comp: roundtrip(
            make("float32", s), compress=c))


def all_nan():
    for dt in ("float32", "float64"):
        for comp in (True, False):
            roundtrip(np.full((7, 9), np.nan, dtype=dt), compress=comp)


check("all-NaN arrays", all_nan)


def many_chunks():
    # ~5 MB: many 256 KiB blocks of the fast encoder, with a flat band (runs) across the
    # middle; the bytes must not depend on the thread count (the MD5 runs beside or after).
    a = np.cumsum(rng.integers(-3, 4, (1500, 1700)), axis=1).astype(np.int16)
    a[600:800] = 7
    paths = []
    for t in (1, 2, 3, 4):
        _, p = roundtrip(a, compress=True, threads=t)
        paths.append(p)
    blobs = [open(p, "rb").read() for p in paths]
    assert all(b == blobs[0] for b in blobs), "the thread count changes the file"
    blk = raw_block(paths[0])
    assert blk["used"] < a.nbytes * 0.8, "zlib block does not compress"


check("zlib block over many deflate blocks", many_chunks)


def corrupted_block_is_detected():
    # the checks above could only pass vacuously if asdf did not look: flip one data byte
    a = make("int32", (10, 10))
    path = run_tool(a, compress=False)
    blk = raw_block(path)
    b = bytearray(blk["file"])
    b[blk["off"] + 54 + 17] ^= 0x40
    bad = path + ".bad.asdf"
    open(bad, "wb").write(bytes(b))
    try:
        open_checked(bad)
    except ValueError as e:
        assert "checksum" in str(e)
    else:
        raise AssertionError("a corrupted block passed validate_checksums")


check("corrupted block detected", corrupted_block_is_detected)


# ---- real FITS files ----

def first_image_hdu(hdul):
    for i in ([1, 0] + list(range(2, len(hdul)))) if len(hdul) > 1 else [0]:
        h = hdul[i]
        if h.is_image and h.data is not None and 1 <= h.data.ndim <= 3 and h.data.size:
            return h
    return None


# Differences that belong to the header parser (src/core/fits/header.c), not to the ASDF writer; they
# are reported, printed here, and must be removed from this list once header.c is fixed.
# resampled_hmi.fits SOURCE: the last CONTINUE piece ends in '&'; astropy drops it, we keep it.
KNOWN_PARSER_DIFFS = set()


def astropy_header_checks(tree_header, header, fname=""):
    seen = set()
    for card in header.cards:
        k = card.keyword
        if k in ("COMMENT", "HISTORY", ""):
            want = [str(v) for v in header[k]]
            assert tree_header[k] == want, (k, tree_header[k][:3], want[:3])
            continue
        if k in seen:
            continue
        seen.add(k)
        want, got = header[k], tree_header[k]
        if (fname, k) in KNOWN_PARSER_DIFFS and got != want:
            print(f"note: known header.c difference {fname} {k}: {got!r} vs astropy {want!r}")
            continue
        if isinstance(want, bool):
            assert got is want, (k, got, want)
        elif isinstance(want, int):
            assert type(got) is int and got == want, (k, got, want)
        elif isinstance(want, float):
            assert type(got) is float and (got == want or (math.isnan(got) and math.isnan(want))), (k, got, want)
        elif isinstance(want, str):
            assert type(got) is str and got == want, (k, repr(got), repr(want))
        elif want is None or type(want).__name__ == "Undefined":
            assert got is None, (k, got)


def real_file(path):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy's own notes about these headers
            with fits.open(path) as hdul:
                hdu = first_image_hdu(hdul)
                assert hdu is not None
                data = np.array(hdu.data)
                header = hdu.header.copy()
        cards = header.tostring().encode("ascii")
        text = "\n".join(f"{k} = {v}" for k, v in header.items())
        name = os.path.basename(path)
        tele = str(header.get("TELESCOP", ""))
        extra = ["--source", name, "--npy", f"data/{name}_data.npy", "--csv",
                 f"data/{name}_data.csv", "--image", f"images/local/{name}_gray.png",
                 "--image", f"images/local/{name}_color.png",
                 "--obs", f"observatory={tele.split('/')[0]}",
                 "--obs", f"instrument={str(header.get('INSTRUME', ''))[:3]}",
                 "--obs", f"wavelength={int(header.get('WAVELNTH', 0) or 0)}",
                 "--obs", "source_id=10",
                 "--obs", f"time={header.get('DATE-OBS', '')}",
                 "--meta", "creator=A. Researcher", "--meta", "institution=Université",
                 "--meta", "created=2026-01-02T03:04:05.000Z"]
        for comp in (True, False):
            tree, _ = roundtrip(data, compress=comp, cards=cards, header_text=text, extra=extra)
            f = tree["fits"]
            assert f["source_name"] == name
            assert f["header_text"] == text
            astropy_header_checks(f["header"], header, name)
            for k, c in f["comments"].items():
                assert c == header.comments[k], (k, c)
            o = tree["observation"]
            assert o["observatory"] == tele.split("/")[0]
            assert type(o["source_id"]) is int and o["source_id"] == 10
            assert o["time"] == header.get("DATE-OBS", "") and type(o["time"]) is str
            m = tree["meta"]
            assert m["creator"] == "A. Researcher" and m["institution"] == "Université"
            assert m["pipeline"]["name"] == "FitsFlow" and isinstance(m["pipeline"]["version"], str)
            assert m["created"] == "2026-01-02T03:04:05.000Z"
            assert tree["data"]["npy"] == f"data/{name}_data.npy"
            assert tree["data"]["csv"] == f"data/{name}_data.csv"
            assert tree["images"] == [f"images/local/{name}_gray.png",
                                      f"images/local/{name}_color.png"]
            assert tree["hek"] == {} and isinstance(tree["hek_note"], str)
            assert tree["asdf_library"]["name"] == "FitsFlow"
    return run


for p in ["aia_171_level1.fits", "resampled_hmi.fits", "EIT/efz20040301.000010_s.fits"]:
    full = os.path.join(SUNPY_TEST, p)
    if os.path.exists(full):
        check(f"real file {p}", real_file(full))


# ---- header values that YAML could mistype ----

def card(key, value_text, comment=None):
    s = f"{key:<8}= {value_text:>20}" if not value_text.startswith("'") else f"{key:<8}= {value_text}"
    if comment:
        s += f" / {comment}"
    return s[:80].ljust(80).encode("latin-1")


def tricky_header():
    h = fits.Header()
    h["SIMPLE"] = True
    h["STRT"] = "T"
    h["STRF"] = "F"
    h["STRNUM"] = "1e5"
    h["STRNULL"] = "null"
    h["STRNAN"] = "nan"
    h["STRYES"] = "yes"
    h["STRTILDE"] = "~"
    h["STREMPTY"] = ""
    h["STRSPACE"] = " lead"
    h["STRQUOT"] = "it's \"x\": {y} # z"
    h["FLT1E5"] = 1e5
    h["FLTBIG"] = 1.5e300
    h["FLTSMALL"] = -2.5e-300
    h["FLTINT"] = 3.0
    h["INTBIG"] = 9007199254740993
    h["INTNEG"] = -42
    h["BOOLF"] = False
    h["ON"] = "key that YAML 1.1 reads as a boolean"
    h["NULL"] = 1
    h["LONGSTR"] = "x" * 150 + " end"  # CONTINUE cards
    h["COMMENT"] = "first comment"
    h["HISTORY"] = "step 1"
    h["COMMENT"] = "second: comment"
    h["UNDEF"] = None
    cards = h.tostring().encode("ascii")
    text = "\n".join(f"{k} = {v}" for k, v in h.items())

    def run():
        tree, _ = roundtrip(make("uint16", (4, 4)), cards=cards, header_text=text)
        astropy_header_checks(tree["fits"]["header"], h)
        assert tree["fits"]["header"]["COMMENT"] == ["first comment", "second: comment"]
        assert tree["fits"]["header_text"] == text
    return run


check("header values keep their types", tricky_header())


def nonfinite_header_floats():
    # floats YAML must write as .inf/-.inf, and exponent forms it must keep as floats
    raw = [b"SIMPLE  =                    T", b"FBIG    =                1E999",
           b"FNEG    =               -1D999", b"FSUB    =               1E-320",
           b"FEXP    =               1.5D+3", b"FINT    =                 1E5", b"END"]
    cards = b"".join(x.ljust(80) for x in raw)
    h = fits.Header.fromstring(cards.decode("ascii"))
    tree, _ = roundtrip(make("int8", (2, 3)), cards=cards)
    got = tree["fits"]["header"]
    assert got["FBIG"] == math.inf and got["FNEG"] == -math.inf
    astropy_header_checks(got, h)


check("non-finite and exponent header floats", nonfinite_header_floats)


def non_ascii_header():
    cards = b"".join([card("SIMPLE", "T"), card("OBSERVER", "'M\xfcller  '"),
                      card("NOTE", "'bad \xc0\xaf end'"), card("WEIRD", "'\x01ctl\x7f'"),
                      b"END".ljust(80)])
    text = b"OBSERVER = M\xfcller\nNOTE = bad \xc0\xaf end\nWEIRD = \x01ctl\x7f\n"
    tree, path = roundtrip(make("int16", (3, 3)), cards=cards, header_text=text)
    hdr = tree["fits"]["header"]
    # card values pass through ff_header_parse first, which decides how to replace such bytes;
    # here they must simply arrive as text around the replaced bytes
    assert hdr["OBSERVER"].startswith("M") and hdr["OBSERVER"].endswith("ller"), repr(hdr["OBSERVER"])
    assert hdr["NOTE"].startswith("bad ") and hdr["NOTE"].endswith(" end"), repr(hdr["NOTE"])
    assert hdr["WEIRD"].endswith("ctl\x7f") or hdr["WEIRD"].endswith("ctl"), repr(hdr["WEIRD"])
    assert tree["fits"]["header_text"] == text.decode("utf-8", "replace")
    tree_bytes = open(path, "rb").read().split(b"\n...\n")[0]
    tree_bytes.decode("utf-8")  # strict


check("non-ASCII header bytes", non_ascii_header)


def long_strings():
    t = "A" * 200000 + "\n" + "B " * 5000
    tree, _ = roundtrip(make("uint8", (2, 2)), header_text=t,
                        extra=["--source", "s" * 5000, "--meta", "description=" + "d" * 10000])
    assert tree["fits"]["header_text"] == t
    assert tree["fits"]["source_name"] == "s" * 5000
    assert tree["meta"]["description"] == "d" * 10000


check("long strings", long_strings)


# ---- HEK ----

HEK = {
    "result": [
        {"event_type": "FL", "fl_goescls": "M1.0", "hpc_x": -512.25, "hpc_y": 1e5,
         "event_starttime": "2011-06-07T06:16:00", "frm_name": "SSW Latest Events",
         "T": "T", "null_str": "null", "nan_str": "nan", "none": None, "yes": True, "no": False,
         "big": 2 ** 62, "tiny": 5e-324, "huge": 1.7976931348623157e308, "neg0": -0.0,
         "unicode": "Müller — ☀", "empty": "", "list": [1, 2.5, "3", [], {}],
         "nested": {"a": {"b": {"c": [{"d": "e"}]}}}},
        {"event_type": "AR", "ar_noaanum": 11226, "obs_observatory": "SDO"},
    ],
    "overmax": False,
}


def hek_roundtrip():
    text = json.dumps(HEK, ensure_ascii=False)
    tree, _ = roundtrip(make("int16", (5, 5)), hek=text)
    assert tree["hek"] == HEK, tree["hek"]
    assert math.copysign(1, tree["hek"]["result"][0]["neg0"]) == -1
    assert "hek_note" not in tree


def hek_empty_events():
    tree, _ = roundtrip(make("int16", (5, 5)), hek='{"result": []}')
    assert tree["hek"] == {"result": []}


def hek_invalid():
    for bad in ['{"result": [1, 2,', "not json at all", "", b'{"a": "\xff\xfe"}']:
        tree, _ = roundtrip(make("int16", (5, 5)), hek=bad)
        assert tree["hek"] == {}, tree["hek"]
        assert "could not be parsed" in tree["hek_note"], tree["hek_note"]


def hek_absent():
    tree, _ = roundtrip(make("int16", (5, 5)))
    assert tree["hek"] == {} and tree["hek_note"]


def hek_too_deep():
    deep = "[" * 200 + "]" * 200
    tree, _ = roundtrip(make("int16", (5, 5)), hek=deep)
    assert tree["hek"] == {} and "deeper" in tree["hek_note"]


def random_doubles():
    # any finite double through JSON (jansson) and our float text must come back bit-exact
    bits = rng.integers(0, 2 ** 63, 3000, dtype=np.uint64) | (
        rng.integers(0, 2, 3000, dtype=np.uint64) << np.uint64(63))
    vals = [float(v) for v in bits.view(np.float64) if np.isfinite(v)]
    vals += [1e16, 1e15, 123456789012345678.0, 1e-4, 1e-5, 0.1, 2.0 ** -1074, 2.0 ** 1023]
    tree, _ = roundtrip(make("int16", (2, 2)), hek=json.dumps({"v": vals}))
    got = tree["hek"]["v"]
    assert all(type(g) is float for g in got)
    assert np.array(got).tobytes() == np.array(vals).tobytes()


check("HEK round-trip", hek_roundtrip)
check("random doubles round-trip", random_doubles)
check("HEK empty result", hek_empty_events)
check("HEK invalid JSON", hek_invalid)
check("HEK absent", hek_absent)
check("HEK too deep", hek_too_deep)

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
