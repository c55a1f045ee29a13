"""End-to-end: `fitsflow process` on every good FITS fixture; the NPY it writes must equal what
astropy.io.fits gives as the chosen HDU's .data (dtype up to byte order, shape, values, NaNs).

The HDU is chosen here independently: HDU 1 when it holds an image, else the primary, else the
first HDU that does. Plain script: exit status 0 means every case passed."""
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
from astropy.io import fits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitsgen  # noqa: E402

warnings.simplefilter("ignore")


def holds_image(hdu):
    if not hdu.is_image:
        return False
    d = hdu.data
    return d is not None and 1 <= d.ndim <= 3 and all(n > 0 for n in d.shape)


def expected(path, with_header=False):
    with fits.open(path) as hl:
        order = ([1] if len(hl) > 1 else []) + [0] + list(range(2, len(hl)))
        for k in order:
            if holds_image(hl[k]):
                if with_header:
                    return k, np.array(hl[k].data), hl[k].header.copy()
                return k, np.array(hl[k].data)
    raise AssertionError("fixture %s has no image" % path)


def find_npy(out, name):
    cands = {fitsgen.base_name(name), name[: -len(".fits")] if name.endswith(".fits") else name,
             name.split(".")[0]}
    for b in cands:
        p = os.path.join(out, "data", b + "_data.npy")
        if os.path.exists(p):
            return p
    return None


def same_dtype(a, b):
    return a.kind == b.kind and a.itemsize == b.itemsize


def main():
    binary = os.environ.get("FITSFLOW_BIN")
    assert binary and os.path.exists(binary), "set FITSFLOW_BIN to the fitsflow binary"
    tmp = os.path.join(os.environ.get("FF_TEST_TMP", "/tmp"), "fits_formats")
    shutil.rmtree(tmp, ignore_errors=True)
    src = os.path.join(tmp, "in")
    out = os.path.join(tmp, "out")
    names = fitsgen.write_good(src)

    r = subprocess.run([binary, "process", "-o", out] + [os.path.join(src, n) for n in names],
                       capture_output=True, text=True, timeout=300)
    passed = failed = 0
    if r.returncode != 0:
        print("FAIL: fitsflow process exited %d on good files; stderr:\n%s" % (r.returncode, r.stderr[-3000:]))
        failed += 1

    for name in names:
        try:
            hdu, want = expected(os.path.join(src, name))
            p = find_npy(out, name)
            assert p, "no NPY written for %s" % name
            got = np.load(p)
            assert same_dtype(got.dtype, want.dtype), "dtype %s, astropy %s" % (got.dtype, want.dtype)
            assert got.shape == want.shape, "shape %s, astropy %s" % (got.shape, want.shape)
            eq = np.array_equal(got, want, equal_nan=got.dtype.kind == "f")
            if not eq:
                bad = ~((got == want) | (np.isnan(got) & np.isnan(want))) if got.dtype.kind == "f" \
                    else got != want
                i = np.argwhere(bad)[0]
                raise AssertionError("%d of %d values differ, first at %s: %r vs astropy %r"
                                     % (bad.sum(), got.size, tuple(i), got[tuple(i)], want[tuple(i)]))
            # The header text is the original's f"{key} = {value}" over astropy's header.items(),
            # for compressed HDUs too (astropy shows the image header, not the table's).
            # The header as stored in the file: read before astropy touches the data (reading
            # scaled data makes astropy rewrite BITPIX and drop BSCALE/BZERO in its header).
            with fits.open(os.path.join(src, name)) as hl:
                header = hl[hdu].header.copy()
            txt = p.replace(os.sep + "data" + os.sep, os.sep + "header" + os.sep)[: -len("_data.npy")] + "_header.txt"
            with open(txt) as f:
                got_lines = f.read().splitlines()
            want_lines = [f"{k} = {v}" for k, v in header.items()]
            assert got_lines == want_lines, "header text differs from astropy's: first difference %r" % (
                next(((a, b) for a, b in zip(got_lines, want_lines) if a != b), (len(got_lines), len(want_lines))),)
            passed += 1
            print("ok   %-28s HDU %d %s %s" % (name, hdu, got.dtype, got.shape))
        except AssertionError as e:
            failed += 1
            print("FAIL %-28s %s" % (name, e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
