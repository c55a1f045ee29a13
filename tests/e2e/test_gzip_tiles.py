"""End-to-end: GZIP_1 and GZIP_2 tile-compressed images read by FitsFlow's own decoder
(src/core/fits/gzip_tile.c, src/core/fits/quantize.c) give exactly CFITSIO's values.

Files come from the two writers users meet: astropy 5.2 (CompImageHDU) and CFITSIO's fpack (how
JSOC-style and most archive float images are made: quantised, dithered, NaN stored as ZBLANK).
They cover every ZBITPIX, GZIP_1 and GZIP_2, lossless and quantised floats (NO_DITHER,
SUBTRACTIVE_DITHER_1 and _2, several ZDITHER0 seeds), NaN, infinities, -0.0 and subnormals,
constant and all-NaN rows, tiles of one and of several rows, cubes, and odd tile shapes that stay
with CFITSIO.

For each file tests/tools/ff_fits_compare reads it with the own decoder (1 and 3 threads) and with
CFITSIO alone and demands the same bytes (and that the own decoder read the whole-row cases);
then `fitsflow process` writes its NPY, which must equal astropy's data where astropy applies the
file's blanks, and funpack's output (CFITSIO with NaN for blanks) for fpack's files."""
import os
import subprocess
import sys
import warnings

import numpy as np
from astropy.io import fits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fftest import check, run, run_checks, scratch  # noqa: E402

warnings.simplefilter("ignore")
TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_fits_compare")
TMP = scratch("gzip_tiles")


def rng(seed):
    return np.random.default_rng(seed)


def smooth(seed, shape, scale=400.0):
    r = rng(seed)
    a = np.cumsum(r.normal(0, 1, size=shape), axis=-1)
    return a * scale / max(1.0, np.abs(a).max())


def odd_floats(seed, shape, dtype):
    """Noisy floats with NaN, +-inf, -0.0, subnormals, an all-NaN row and a constant row."""
    a = (rng(seed).normal(0, 50, size=shape)).astype(dtype)
    flat = a.reshape(-1, a.shape[-1])
    flat[1, 3:9] = np.nan
    flat[2, 0] = np.inf
    flat[2, 1] = -np.inf
    flat[3, 2] = -0.0
    flat[3, 4] = np.finfo(dtype).tiny / 4
    flat[4, :] = np.nan
    flat[5, :] = 7.25
    return a


def astropy_file(name, data, ctype, **kw):
    path = os.path.join(TMP, name)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type=ctype, **kw)]).writeto(
        path, overwrite=True)
    return path


def fpack_file(name, data, *opts):
    ORIGINAL[name] = data
    raw = os.path.join(TMP, name + ".raw.fits")
    path = os.path.join(TMP, name)
    for p in (raw, path):
        if os.path.exists(p):
            os.remove(p)
    fits.PrimaryHDU(data).writeto(raw)
    subprocess.run(["fpack", "-C", *opts, "-O", path, raw], check=True, capture_output=True)
    os.remove(raw)
    return path


# (file, whole-row tiles: the own decoder must read it)
ASTROPY = []
FPACK = []
ORIGINAL = {}


def build():
    shape = (60, 70)
    for ctype in ("GZIP_1", "GZIP_2"):
        g = ctype[-1]
        ASTROPY.append((astropy_file(f"a{g}_u8.fits", rng(1).integers(0, 256, shape).astype(np.uint8), ctype), 1))
        ASTROPY.append((astropy_file(f"a{g}_i16.fits", smooth(2, shape).astype(np.int16), ctype), 1))
        ASTROPY.append((astropy_file(f"a{g}_i32.fits", rng(3).integers(-2**31, 2**31 - 1, shape, dtype=np.int64)
                                     .astype(np.int32), ctype), 1))
        ASTROPY.append((astropy_file(f"a{g}_u16.fits", rng(4).integers(0, 65536, shape).astype(np.uint16), ctype), 1))
        ASTROPY.append((astropy_file(f"a{g}_i16_rows4.fits", smooth(5, shape).astype(np.int16), ctype,
                                     tile_size=(70, 4)), 1))
        ASTROPY.append((astropy_file(f"a{g}_i16_odd_tiles.fits", smooth(6, shape).astype(np.int16), ctype,
                                     tile_size=(32, 30)), 0))
        ASTROPY.append((astropy_file(f"a{g}_i16_cube.fits", smooth(7, (3, 20, 30)).astype(np.int16), ctype), 1))
        ASTROPY.append((astropy_file(f"a{g}_f32_lossless.fits", odd_floats(8, shape, np.float32), ctype,
                                     quantize_level=0.0), 1))
        ASTROPY.append((astropy_file(f"a{g}_f64_lossless.fits", odd_floats(9, shape, np.float64), ctype,
                                     quantize_level=0.0), 1))
        for m, seed in ((-1, None), (1, 17), (2, 9999)):
            kw = dict(quantize_level=8.0, quantize_method=m)
            if seed:
                kw["dither_seed"] = seed
            data = smooth(10 + m, shape).astype(np.float32)
            data[7, :5] = 0.0  # exact zeros: SUBTRACTIVE_DITHER_2 keeps them
            ASTROPY.append((astropy_file(f"a{g}_f32_q{m}.fits", data, ctype, **kw), 1))
            ASTROPY.append((astropy_file(f"a{g}_f64_q{m}.fits", data.astype(np.float64), ctype, **kw), 1))
        ASTROPY.append((astropy_file(f"a{g}_f32_q_nan.fits", odd_floats(14, shape, np.float32), ctype,
                                     quantize_level=4.0), 1))

    img = smooth(20, (64, 50)).astype(np.float32)
    img[10:14, :] = np.nan
    img[20, 5:40] = np.nan
    img[30, :] = 3.5          # a constant row
    img[40, :] = 0.0          # zeros, for -qz
    img[50, 7] = np.inf
    for g in ("-g1", "-g2"):
        FPACK.append((fpack_file(f"f{g}_q4.fits", img, g, "-q", "4"), 1))
        FPACK.append((fpack_file(f"f{g}_qz.fits", img, g, "-qz", "8"), 1))
        FPACK.append((fpack_file(f"f{g}_q0.fits", img, g, "-q0", "4"), 1))
        FPACK.append((fpack_file(f"f{g}_seed.fits", img, g, "-q1234", "16"), 1))
        FPACK.append((fpack_file(f"f{g}_seed10000.fits", img, g, "-q10000", "16"), 1))
        FPACK.append((fpack_file(f"f{g}_lossless.fits", img, g, "-q", "0"), 1))
        FPACK.append((fpack_file(f"f{g}_rows5.fits", img, g, "-t", "50,5", "-q", "4"), 1))
        FPACK.append((fpack_file(f"f{g}_tiles.fits", img, g, "-t", "25,16", "-q", "4"), 0))
        FPACK.append((fpack_file(f"f{g}_f64.fits", img.astype(np.float64), g, "-q", "8"), 1))
        FPACK.append((fpack_file(f"f{g}_i16.fits", smooth(21, (64, 50)).astype(np.int16), g), 1))
        FPACK.append((fpack_file(f"f{g}_i32.fits", (smooth(22, (64, 50)) * 1e5).astype(np.int32), g), 1))
        FPACK.append((fpack_file(f"f{g}_u8.fits", rng(23).integers(0, 256, (64, 50)).astype(np.uint8), g), 1))


def compare_all(files):
    p = subprocess.run([TOOL] + [f for f, _ in files], capture_output=True, text=True, timeout=300)
    lines = p.stdout.splitlines()
    assert len(lines) == len(files), p.stdout + p.stderr
    for (path, own), line in zip(files, lines):
        assert " same " in line, line
        if own:
            assert "own=1" in line, "the own decoder did not read it: " + line


def npy_of(out, path):
    base = os.path.basename(path)[: -len(".fits")]
    return np.load(os.path.join(out, "data", base + "_data.npy"))


def same(a, b):
    if a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a.shape == b.shape and np.array_equal(a, b)


@check
def astropy_files_equal_cfitsio():
    compare_all(ASTROPY)


@check
def fpack_files_equal_cfitsio():
    compare_all(FPACK)


@check
def astropy_files_equal_astropy():
    """astropy-written files carry no ZBLANK (a NaN tile gets ZSCALE = NaN): astropy's data."""
    out = os.path.join(TMP, "out_astropy")
    run("process", "--offline", "-q", "--outputs", "npy", "-o", out, *[f for f, _ in ASTROPY], check_status=0)
    for path, _ in ASTROPY:
        want = fits.getdata(path, 1)
        got = npy_of(out, path)
        assert got.dtype.kind == want.dtype.kind and got.dtype.itemsize == want.dtype.itemsize, path
        assert same(got, want.astype(got.dtype)), path


@check
def fpack_files_equal_funpack():
    """fpack's files: funpack's values, NaN where the file's ZBLANK says the pixel is undefined,
    and within the quantisation step of the data fpack was given. (funpack 1.7.0 with CFITSIO 4.2
    restores tiles narrower than the image with the wrong dither offsets; those files are held
    against the original data only.)"""
    out = os.path.join(TMP, "out_fpack")
    run("process", "--offline", "-q", "--outputs", "npy", "-o", out, *[f for f, _ in FPACK], check_status=0)
    nblank = 0
    for path, whole_rows in FPACK:
        got = npy_of(out, path)
        orig = ORIGINAL[os.path.basename(path)]
        if got.dtype.kind == "f":
            assert np.array_equal(np.isnan(got), ~np.isfinite(orig)), path
            ok = np.isfinite(orig)
            assert np.abs(got[ok] - orig[ok]).max() <= 0.02 * np.abs(orig[ok]).max(), path
        else:
            assert np.array_equal(got, orig), path
        if not whole_rows:
            continue
        ref = path + ".funpacked.fits"
        if os.path.exists(ref):
            os.remove(ref)
        subprocess.run(["funpack", "-O", ref, path], check=True, capture_output=True)
        want = fits.getdata(ref)
        assert same(got, want.astype(got.dtype)), path
        with fits.open(path, disable_image_compression=True) as h:
            if "ZBLANK" in h[1].header and got.dtype.kind == "f":
                nblank += 1
                assert np.isnan(got[10:14, :]).all(), path
    assert nblank >= 10, "too few fpack files with ZBLANK: %d" % nblank


if __name__ == "__main__":
    build()
    run_checks()
