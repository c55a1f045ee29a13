"""Writes the seed corpora of the fuzz harnesses from the project's test fixtures (tests/e2e/fitsgen.py,
which also copies sunpy's real SDO files) and sunpy's header samples. Seeds are generated, not
committed: run with Debian's /usr/bin/python3 (astropy, numpy).

    /usr/bin/python3 fuzz/make_seeds.py fuzz/corpus
"""
import glob
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import warnings

import numpy as np
from astropy.io import fits

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import fitsgen  # noqa: E402

warnings.simplefilter("ignore")
MAX_SEED = 256 * 1024


def put(outdir, data):
    os.makedirs(outdir, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def header_cards(path):
    """The raw card images of every HDU header in a FITS file, END included."""
    out = []
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    with fits.open(path, disable_image_compression=True) as hdul:
        for h in hdul:
            out.append(h.header.tostring().encode("ascii", "replace"))
    return out


def rice_tiles(path):
    """(bytepix, blocksize, npix, bytes) of each RICE_1 tile in a file."""
    tiles = []
    with fits.open(path, disable_image_compression=True) as hdul:
        for h in hdul[1:]:
            hd = h.header
            if hd.get("ZCMPTYPE") != "RICE_1":
                continue
            blocksize = int(hd.get("ZVAL1", 32))
            bytepix = int(hd.get("ZVAL2", 4))
            n = hd["ZNAXIS"]
            axes = [hd["ZNAXIS%d" % (i + 1)] for i in range(n)]
            tile = [hd.get("ZTILE%d" % (i + 1), axes[0] if i == 0 else 1) for i in range(n)]
            counts = [(a + t - 1) // t for a, t in zip(axes, tile)]
            col = h.data["COMPRESSED_DATA"]
            for row in range(min(len(col), 40)):
                idx, r, npix = row, [], 1
                for a, t, c in zip(axes, tile, counts):
                    k = idx % c
                    idx //= c
                    npix *= min(t, a - k * t)
                tiles.append((bytepix, blocksize, npix, bytes(np.asarray(col[row], np.uint8))))
    return tiles


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    tmp = tempfile.mkdtemp(prefix="ff-seeds-")
    try:
        good = fitsgen.write_good(tmp)
        bad = fitsgen.write_bad(tmp)
        for name in good + bad:
            p = os.path.join(tmp, name)
            data = open(p, "rb").read()
            if len(data) <= MAX_SEED:
                put(os.path.join(out, "fuzz_fits_core"), data)
            try:
                for cards in header_cards(p):
                    put(os.path.join(out, "fuzz_header"), cards)
            except Exception:
                pass
            try:
                for bytepix, blocksize, npix, tile in rice_tiles(p):
                    sel = {1: 0, 2: 1, 4: 2}.get(bytepix, 2) | (4 if blocksize == 16 else 0)
                    put(os.path.join(out, "fuzz_rice"),
                        bytes([sel, ((npix - 1) >> 8) & 0xFF, (npix - 1) & 0xFF]) + tile)
            except Exception:
                pass
        # header samples of many instruments shipped with sunpy
        for p in sorted(glob.glob(os.path.join(fitsgen.SUNPY_TEST, "*.header")) +
                        glob.glob(os.path.join(fitsgen.SUNPY_TEST, "*", "*.header"))):
            try:
                h = fits.Header.fromtextfile(p)
                put(os.path.join(out, "fuzz_header"), h.tostring().encode("ascii", "replace"))
            except Exception:
                pass
        for t in ["2011-06-07T06:33:02.880Z", "2011-06-07 06:33:02", "07/06/11", "2014.03.01_00:01:25_TAI",
                  "2016-12-31T23:59:60.5", "01-JAN-98 12:00", "2011-06-07 06:33:02.88 TAI",
                  "1990/01/31T01:02:03.123456789_TT"]:
            put(os.path.join(out, "fuzz_header"), t.encode())
        nums = [0.1, 1e-05, 1e16, 5e-324, 1.7976931348623157e308, 123456789.0, -0.0, 2.0 ** -1074,
                9007199254740993.0, 1.0 / 3.0, float("nan"), float("inf")]
        put(os.path.join(out, "fuzz_numfmt"), b"".join(struct.pack("<d", v) for v in nums))
        put(os.path.join(out, "fuzz_numfmt"), b"".join(struct.pack("<ff", v, -v) for v in [0.1, 1e-05, 3.4e38, 1e-45, 16777217.0, 1.0 / 3.0]))
        for s in ["0.1", "1e23", "8.589973e9", "2.2250738585072011e-308", "4.35e-5", "1e+16"]:
            put(os.path.join(out, "fuzz_numfmt"), s.encode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for d in sorted(os.listdir(out)):
        print("%-16s %d seeds" % (d, len(os.listdir(os.path.join(out, d)))))


if __name__ == "__main__":
    main()
