"""FITS fixture generators for FitsFlow's tests: one file per case, written with astropy/numpy.

Good cases cover every BITPIX, the unsigned conventions, BSCALE/BZERO, BLANK, NaN, 1-3 axes, the
HDU choice rules, every tile compression CFITSIO writes and whole-file gzip. Bad cases are files
the reader must refuse with a clear reason. Seeds are fixed so every run writes the same bytes.

    good = write_good(dirpath)   # -> list of file names written
    bad = write_bad(dirpath)     # -> list of file names written
    BAD_REASONS[name]            # -> words the error message must contain (lower case)

Run with Debian's /usr/bin/python3 (astropy 5.2, numpy 1.24).
"""
import gzip
import os
import shutil
import warnings

import numpy as np
from astropy.io import fits

SUNPY_TEST = "/usr/lib/python3/dist-packages/sunpy/data/test"

warnings.simplefilter("ignore")  # astropy warns on the odd headers written on purpose


def _rng(seed):
    return np.random.default_rng(seed)


def _pad(n):
    return (-n) % 2880


def write_raw(path, cards, raw, extra_hdus=()):
    """Writes a primary HDU from `cards` (list of (key, value)) and the big-endian bytes of `raw`
    exactly as given: no scaling by astropy, so BSCALE/BZERO/BLANK reach the file untouched."""
    hdr = fits.Header()
    for k, v in cards:
        hdr.append((k, v), end=True)
    body = hdr.tostring().encode("ascii")
    data = raw.astype(raw.dtype.newbyteorder(">")).tobytes() if raw is not None else b""
    with open(path, "wb") as f:
        f.write(body)
        f.write(data)
        f.write(b"\0" * _pad(len(data)))
        for h in extra_hdus:
            h.writeto(f)


def _image_cards(bitpix, shape, extra=()):
    cards = [("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", len(shape))]
    for i, n in enumerate(reversed(shape)):
        cards.append(("NAXIS%d" % (i + 1), n))
    return cards + list(extra)


def _ints(seed, dtype, shape, lo=None, hi=None):
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    return _rng(seed).integers(lo, hi, size=shape, endpoint=True, dtype=np.int64 if lo < 0 or hi < 2**63 else np.uint64).astype(dtype)


def _smooth16(seed, shape, scale=900):
    """A sun-like int16 image: smooth disk plus noise, so lossy/lossless codecs behave as on AIA."""
    ny, nx = shape[-2], shape[-1]
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(x - nx / 2, y - ny / 2) / (0.4 * min(nx, ny))
    base = scale * np.exp(-r * r) + 50
    noise = _rng(seed).normal(0, 8, size=shape)
    return np.clip(base + noise, -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------------- good

def _plain(dtype_name, seed):
    def w(path):
        if dtype_name.startswith("float"):
            a = _rng(seed).normal(0, 1e3, size=(37, 53)).astype(dtype_name)
        else:
            a = _ints(seed, np.dtype(dtype_name), (37, 53))
        fits.PrimaryHDU(a).writeto(path, overwrite=True)
    return w


def _scaled(bitpix, bscale, bzero, seed, blank=None, nblank=0):
    dt = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32, -64: np.float64}[bitpix]

    def w(path):
        shape = (29, 41)
        if bitpix < 0:
            raw = _rng(seed).normal(0, 50, size=shape).astype(dt)
        else:
            raw = _ints(seed, dt, shape)
        if blank is not None and nblank:
            idx = _rng(seed + 1).choice(raw.size, nblank, replace=False)
            raw.flat[idx] = blank
        extra = []
        if bscale is not None:
            extra.append(("BSCALE", bscale))
        if bzero is not None:
            extra.append(("BZERO", bzero))
        if blank is not None:
            extra.append(("BLANK", blank))
        write_raw(path, _image_cards(bitpix, shape, extra), raw)
    return w


def _nan_float(dtype_name, seed):
    def w(path):
        a = _rng(seed).normal(0, 10, size=(31, 17)).astype(dtype_name)
        a[3, :] = np.nan
        a[5, 2] = np.inf
        a[6, 3] = -np.inf
        fits.PrimaryHDU(a).writeto(path, overwrite=True)
    return w


def _dims(shape, seed):
    def w(path):
        fits.PrimaryHDU(_ints(seed, np.dtype(np.int16), shape)).writeto(path, overwrite=True)
    return w


def _hdu1_empty_primary(path):
    a = _rng(11).normal(size=(20, 30)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(a, name="IMG")]).writeto(path, overwrite=True)


def _primary_and_hdu1(path):
    # both hold images: HDU 1 wins
    p = _ints(12, np.dtype(np.int16), (8, 9))
    e = _ints(13, np.dtype(np.int32), (10, 11))
    fits.HDUList([fits.PrimaryHDU(p), fits.ImageHDU(e)]).writeto(path, overwrite=True)


def _primary_then_table(path):
    # HDU 1 is a table: the primary image is chosen
    p = _ints(14, np.dtype(np.uint8), (12, 7))
    t = fits.BinTableHDU.from_columns([fits.Column(name="A", format="J", array=np.arange(5))])
    fits.HDUList([fits.PrimaryHDU(p), t]).writeto(path, overwrite=True)


def _hdu2_only(path):
    t = fits.BinTableHDU.from_columns([fits.Column(name="A", format="E", array=np.arange(4.0))])
    img = _rng(15).normal(size=(6, 5, 4)).astype(np.float64)
    fits.HDUList([fits.PrimaryHDU(), t, fits.ImageHDU(img)]).writeto(path, overwrite=True)


def _comp(data, ctype, seed=0, **kw):
    def w(path):
        a = data() if callable(data) else data
        h = fits.CompImageHDU(a, compression_type=ctype, **kw)
        fits.HDUList([fits.PrimaryHDU(), h]).writeto(path, overwrite=True)
    return w


def _qfloat(seed, shape=(64, 80), nans=True):
    def make():
        a = _smooth16(seed, shape).astype(np.float32) * np.float32(0.37)
        if nans:
            a[2, 5:9] = np.nan
        return a
    return make


def _comp_scaled16(path):
    # int16 raw values with BSCALE/BZERO, tile-compressed
    raw = _smooth16(21, (40, 50))
    h = fits.CompImageHDU(raw, compression_type="RICE_1")
    h.header["BSCALE"] = 0.25
    h.header["BZERO"] = 10.0
    fits.HDUList([fits.PrimaryHDU(), h]).writeto(path, overwrite=True)
    # astropy stores the unscaled ints; make sure the keywords arrived
    with fits.open(path) as f:
        assert f[1].header.get("BSCALE") == 0.25, "fixture: BSCALE not stored"


def _comp_blank(kind):
    # BLANK on a tile-compressed integer image: astropy applies it only when the data are scaled,
    # and an unsigned image with BLANK comes back as float64 (np.where promotes it)
    def w(path):
        if kind == "u16":
            a = (np.arange(600, dtype=np.uint16).reshape(20, 30) * 100).astype(np.uint16)
            blank = 600
        else:
            a = _smooth16(22, (20, 30))
            a[3, 4:9] = -999
            blank = -999
        h = fits.CompImageHDU(a, compression_type="RICE_1")
        h.header["BLANK"] = blank
        if kind == "scaled":
            h.header["BSCALE"] = 0.5
            h.header["BZERO"] = 2.0
        fits.HDUList([fits.PrimaryHDU(), h]).writeto(path, overwrite=True)
    return w


def _gzip_of(writer):
    def w(path):
        tmp = path + ".tmp.fits"
        writer(tmp)
        with open(tmp, "rb") as f, gzip.open(path, "wb", compresslevel=6) as g:
            shutil.copyfileobj(f, g)
        os.remove(tmp)
    return w


def _copy(src):
    def w(path):
        shutil.copyfile(os.path.join(SUNPY_TEST, src), path)
    return w


GOOD = {
    # every BITPIX, plain
    "bitpix8.fits": _plain("uint8", 1),
    "bitpix16.fits": _plain("int16", 2),
    "bitpix32.fits": _plain("int32", 3),
    "bitpix64.fits": _plain("int64", 4),
    "bitpix-32.fits": _plain("float32", 5),
    "bitpix-64.fits": _plain("float64", 6),
    # unsigned conventions (astropy writes BZERO itself)
    "int8.fits": _plain("int8", 7),
    "uint16.fits": _plain("uint16", 8),
    "uint32.fits": _plain("uint32", 9),
    "uint64.fits": _plain("uint64", 10),
    # BSCALE/BZERO scaling to floats
    "scaled8.fits": _scaled(8, 0.5, -3.25, 31),
    "scaled16.fits": _scaled(16, 0.1, 100.3, 32),
    "scaled16_int.fits": _scaled(16, 3, 7, 33),
    "scaled16_bzero_only.fits": _scaled(16, None, 1000.5, 34),
    "scaled32.fits": _scaled(32, 1e-3, 5.0, 35),
    "scaled64.fits": _scaled(64, 2.0, 0.5, 36),
    "scaled-32.fits": _scaled(-32, 2.5, 1.0, 37),
    "scaled-64.fits": _scaled(-64, 0.3, -7.0, 38),
    "uint16_float_bzero.fits": _scaled(16, 1.0, 32768.0, 39),
    # BLANK
    "blank16_unscaled.fits": _scaled(16, None, None, 41, blank=-32768, nblank=20),
    "blank16_scaled.fits": _scaled(16, 0.1, 3.0, 42, blank=-999, nblank=20),
    "blank8_scaled.fits": _scaled(8, 2.0, 1.0, 43, blank=255, nblank=10),
    "blank32_scaled.fits": _scaled(32, 0.5, 0.0, 44, blank=-2147483648, nblank=10),
    "blank0_unscaled.fits": _scaled(16, None, None, 45, blank=0, nblank=10),
    "blank_uint16.fits": _scaled(16, 1, 32768, 46, blank=7, nblank=5),
    # NaN and infinities in floats
    "nan-32.fits": _nan_float("float32", 51),
    "nan-64.fits": _nan_float("float64", 52),
    # dimensions
    "dim1.fits": _dims((300,), 61),
    "dim3.fits": _dims((3, 20, 25), 62),
    # HDU choice
    "hdu1_empty_primary.fits": _hdu1_empty_primary,
    "primary_and_hdu1.fits": _primary_and_hdu1,
    "primary_then_table.fits": _primary_then_table,
    "hdu2_only.fits": _hdu2_only,
    # tile compression
    "rice_i16.fits": _comp(lambda: _smooth16(71, (96, 128)), "RICE_1"),
    "rice_i16_tiles.fits": _comp(lambda: _smooth16(72, (100, 90)), "RICE_1", tile_size=(32, 30)),
    "rice_u8.fits": _comp(lambda: _ints(73, np.dtype(np.uint8), (40, 60)), "RICE_1"),
    "rice_i32.fits": _comp(lambda: _ints(74, np.dtype(np.int32), (40, 60), -10**6, 10**6), "RICE_1"),
    "rice_u16.fits": _comp(lambda: _ints(75, np.dtype(np.uint16), (50, 40)), "RICE_1"),
    "rice_cube.fits": _comp(lambda: _smooth16(76, (3, 40, 50)), "RICE_1"),
    "gzip1_i16.fits": _comp(lambda: _smooth16(77, (70, 80)), "GZIP_1"),
    "gzip1_i32.fits": _comp(lambda: _ints(78, np.dtype(np.int32), (30, 40)), "GZIP_1"),
    "gzip2_i16.fits": _comp(lambda: _smooth16(79, (70, 80)), "GZIP_2"),
    "gzip2_f64_lossless.fits": _comp(lambda: _rng(80).normal(size=(30, 40)), "GZIP_2",
                                     quantize_level=0.0),
    "hcompress_i16.fits": _comp(lambda: _smooth16(81, (64, 64)), "HCOMPRESS_1"),
    "hcompress_i16_lossy.fits": _comp(lambda: _smooth16(82, (64, 96)), "HCOMPRESS_1",
                                      hcomp_scale=2.5, tile_size=(16, 96)),
    "plio_i16.fits": _comp(lambda: _ints(83, np.dtype(np.int16), (50, 60), 0, 4000), "PLIO_1"),
    "rice_f32_quantized.fits": _comp(_qfloat(84), "RICE_1", quantize_level=16.0),
    "rice_f32_dither2.fits": _comp(_qfloat(85), "RICE_1", quantize_level=8.0,
                                   quantize_method=2, dither_seed=1234),
    "gzip1_f32_nodither.fits": _comp(_qfloat(86), "GZIP_1", quantize_level=4.0, quantize_method=-1),
    "hcompress_f32.fits": _comp(_qfloat(87, nans=False), "HCOMPRESS_1", quantize_level=16.0),
    "rice_f64_quantized.fits": _comp(lambda: _qfloat(88)().astype(np.float64), "RICE_1"),
    "rice_scaled16.fits": _comp_scaled16,
    "rice_blank16.fits": _comp_blank("plain"),
    "rice_blank16_scaled.fits": _comp_blank("scaled"),
    "rice_blank_u16.fits": _comp_blank("u16"),
    # whole-file gzip
    "gzipped_i16.fits.gz": _gzip_of(_dims((40, 70), 91)),
    "gzipped_scaled.fits.gz": _gzip_of(_scaled(16, 0.1, 100.3, 92, blank=-5, nblank=4)),
    # real SDO files shipped with sunpy
    "aia_171_level1.fits": _copy("aia_171_level1.fits"),
    "resampled_hmi.fits": _copy("resampled_hmi.fits"),
    "gzip_test.fits.gz": _copy("gzip_test.fits.gz"),
}


# ----------------------------------------------------------------------------------------- bad

def _not_fits(path):
    with open(path, "wb") as f:
        f.write(b"This is a plain text file, not FITS.\n" * 100)


def _empty(path):
    open(path, "wb").close()


def _truncated(path):
    tmp = path + ".tmp"
    fits.PrimaryHDU(_ints(101, np.dtype(np.int16), (200, 300))).writeto(tmp, overwrite=True)
    with open(tmp, "rb") as f:
        b = f.read()
    os.remove(tmp)
    with open(path, "wb") as f:
        f.write(b[: 2880 + 50000])


def _oversized(path):
    # header claims a 4096x4096 int16 image (32 MiB); one block of data follows
    write_raw(path, _image_cards(16, (4096, 4096)), np.zeros(1440, np.int16))


def _table_only(path):
    t = fits.BinTableHDU.from_columns([fits.Column(name="X", format="D", array=np.arange(10.0))])
    fits.HDUList([fits.PrimaryHDU(), t]).writeto(path, overwrite=True)


def _random_groups(path):
    data = fits.GroupData(np.arange(40, dtype=np.float32).reshape(5, 2, 4), parnames=["U", "V"],
                          pardata=[np.arange(5.0, dtype=np.float32)] * 2, bitpix=-32)
    fits.HDUList([fits.GroupsHDU(data)]).writeto(path, overwrite=True)


def _zero_axis(path):
    write_raw(path, _image_cards(16, (0, 10)), None)


def _missing_end(path):
    hdr = fits.Header([("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 2), ("NAXIS1", 10),
                       ("NAXIS2", 10)])
    text = hdr.tostring().encode("ascii")
    end = text.find(b"END" + b" " * 77)
    text = text[:end] + b" " * (len(text) - end)
    with open(path, "wb") as f:
        f.write(text)
        f.write(np.zeros(100, ">i2").tobytes())
        f.write(b"\0" * _pad(200))


def _naxis4(path):
    fits.PrimaryHDU(np.zeros((2, 2, 3, 4), np.int16)).writeto(path, overwrite=True)


def _header_cut(path):
    fits.PrimaryHDU(np.zeros((10, 10), np.int16)).writeto(path + ".tmp", overwrite=True)
    with open(path + ".tmp", "rb") as f:
        b = f.read()
    os.remove(path + ".tmp")
    with open(path, "wb") as f:
        f.write(b[:200])


def _gzip_garbage(path):
    with gzip.open(path, "wb") as g:
        g.write(b"not fits at all " * 500)


BAD = {
    "not_fits.fits": _not_fits,
    "empty.fits": _empty,
    "truncated.fits": _truncated,
    "oversized_claim.fits": _oversized,
    "table_only.fits": _table_only,
    "random_groups.fits": _random_groups,
    "zero_axis.fits": _zero_axis,
    "missing_end.fits": _missing_end,
    "naxis4.fits": _naxis4,
    "header_cut.fits": _header_cut,
    "gzip_not_fits.fits.gz": _gzip_garbage,
}

# words each refusal must contain (lower case), so tests know the reason was understood
BAD_REASONS = {
    "not_fits.fits": ["not a fits file"],
    "empty.fits": ["empty"],
    "truncated.fits": ["truncated"],
    "oversized_claim.fits": ["truncated", "33554432"],
    "table_only.fits": ["no image", "table"],
    "random_groups.fits": ["random-groups"],
    "zero_axis.fits": ["zero-length axis"],
    "missing_end.fits": ["end card"],
    "naxis4.fits": ["4 axes"],
    "header_cut.fits": ["end card"],
    "gzip_not_fits.fits.gz": ["not a fits file"],
}


def _write(table, dirpath, names=None):
    os.makedirs(dirpath, exist_ok=True)
    out = []
    for name, writer in table.items():
        if names is not None and name not in names:
            continue
        writer(os.path.join(dirpath, name))
        out.append(name)
    return out


def write_good(dirpath, names=None):
    """Writes every good case (or those in `names`) into dirpath; returns the file names."""
    return _write(GOOD, dirpath, names)


def write_bad(dirpath, names=None):
    """Writes every bad case (or those in `names`) into dirpath; returns the file names."""
    return _write(BAD, dirpath, names)


def base_name(name):
    """FitsFlow's {base}: the upload's name without its .fits ending (and .gz before it)."""
    for ext in (".fits.gz", ".fits", ".fit.gz", ".fts.gz", ".fit", ".fts"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


if __name__ == "__main__":
    import sys
    d = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    print("good:", " ".join(write_good(os.path.join(d, "good"))))
    print("bad:", " ".join(write_bad(os.path.join(d, "bad"))))
