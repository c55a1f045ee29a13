"""The catalogue of bad input for FitsFlow: files and CLI configuration that are damaged, hostile or
merely odd, each with the outcome FitsFlow must give. tests/e2e/test_badinput_catalogue.py runs
every case against the real binary (also the ASan build, so a crash or leak fails the case).

A case is Case(name, what, build, expect):
  kind "file": build(dirpath) writes the file(s) and returns the path to process;
               the driver runs `fitsflow process -q -o OUT <file> <a good file>`; a file case
               marked serve=True is also uploaded with a good file to one session of a real
               `fitsflow serve` (serve_cases.py): the session must end with the file skipped for
               the same reason, the good file processed, and the server still answering.
  kind "cli":  build(dirpath) returns (argv after `fitsflow`, extra environment).
  expect:      Refused(words...)  the file is skipped: exit 1, one stderr line naming it with
                                  every word (lower case), no outputs for it, the good file done
               Processed(words...) the file is processed (exit 0; words, if any, must appear in
                                  its manifest notes)
               Usage(status, words...) the command exits with status, stderr holding the words,
                                  nothing processed
  kind "request": build(ctx) gives one HTTP request sent to a real `fitsflow serve`; Expect gives
               its status and JSON error (serve_cases.py); kind "serve": bad FITSFLOW_* settings
               that must stop `fitsflow serve` with exit 2.
Seeds and builders are deterministic. Run with Debian's /usr/bin/python3 (astropy, numpy).
"""
import gzip
import io
import json
import os
import struct
import warnings
import zlib

import numpy as np
from astropy.io import fits

warnings.simplefilter("ignore")
BLOCK = 2880


class Refused:
    kind = "refused"

    def __init__(self, *words):
        self.words = [w.lower() for w in words]


class Processed:
    kind = "processed"

    def __init__(self, *words):
        self.words = [w.lower() for w in words]


class Usage:
    kind = "usage"

    def __init__(self, status, *words):
        self.status = status
        self.words = [w.lower() for w in words]


class Case:
    def __init__(self, name, what, build, expect, kind="file", serve=False):
        self.name, self.what, self.build, self.expect, self.kind = name, what, build, expect, kind
        self.serve = serve


CASES = []


def case(name, what, expect, kind="file", serve=False):
    def deco(fn):
        CASES.append(Case(name, what, fn, expect, kind, serve))
        return fn
    return deco


# ---------------------------------------------------------------------------------- helpers

def card(key, value=None, comment=""):
    """One 80-character card; value is the literal text after '= ' (None: a commentary card)."""
    if value is None:
        text = "%-8s%s" % (key, comment)
    else:
        text = "%-8s= %20s" % (key, value)
        if comment:
            text += " / " + comment
    return text[:80].ljust(80)


def header(cards, end=True):
    body = "".join(cards) + (card("END") if end else "")
    body += " " * ((-len(body)) % BLOCK)
    return body.encode("latin-1")


def pad(b):
    return b + b"\0" * ((-len(b)) % BLOCK)


def image_cards(bitpix, shape, extra=()):
    cs = [card("SIMPLE", "T"), card("BITPIX", str(bitpix)), card("NAXIS", str(len(shape)))]
    for i, n in enumerate(reversed(shape)):
        cs.append(card("NAXIS%d" % (i + 1), str(n)))
    return cs + list(extra)


def raw_image(bitpix, shape, extra=(), data=None, seed=1):
    dt = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
    if data is None:
        rng = np.random.default_rng(seed)
        data = (rng.normal(500, 100, size=shape)).astype(dt)
    return header(image_cards(bitpix, shape, extra)) + pad(np.asarray(data, dt).tobytes())


def writer(name, data_fn):
    def build(d):
        p = os.path.join(d, name)
        data = data_fn() if callable(data_fn) else data_fn
        with open(p, "wb") as f:
            f.write(data)
        return p
    return build


def smooth16(shape, seed=5):
    ny, nx = shape[-2], shape[-1]
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(x - nx / 2, y - ny / 2) / (0.4 * min(nx, ny))
    a = 900 * np.exp(-r * r) + 50 + np.random.default_rng(seed).normal(0, 8, size=shape)
    return np.clip(a, -32768, 32767).astype(np.int16)


def compressed(ctype, data, **kw):
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type=ctype, **kw)]).writeto(buf)
    return bytearray(buf.getvalue())


def table_layout(b):
    """(header start, data start, NAXIS1, NAXIS2, heap start) of HDU 1 of a compressed file."""
    hstart = BLOCK  # empty primary HDU
    pos = hstart
    keys = {}
    while True:
        c = bytes(b[pos:pos + 80]).decode("latin-1")
        pos += 80
        k = c[:8].strip()
        if k == "END":
            break
        if c[8:10] == "= ":
            keys[k] = c[10:].split("/")[0].strip()
    dstart = hstart + ((pos - hstart + BLOCK - 1) // BLOCK) * BLOCK
    n1, n2 = int(keys["NAXIS1"]), int(keys["NAXIS2"])
    theap = int(keys.get("THEAP", n1 * n2))
    return hstart, dstart, n1, n2, dstart + theap


def descriptors(b):
    """[(count, offset)] of COMPRESSED_DATA (first column, 1PB) for each row, and the layout."""
    hs, ds, n1, n2, heap = table_layout(b)
    out = [struct.unpack(">ii", bytes(b[ds + r * n1: ds + r * n1 + 8])) for r in range(n2)]
    return out, (hs, ds, n1, n2, heap)


def set_descriptor(b, row, count, offset):
    _, (hs, ds, n1, n2, heap) = descriptors(b)
    b[ds + row * n1: ds + row * n1 + 8] = struct.pack(">ii", count, offset)


def tile_bytes(b, row):
    desc, (hs, ds, n1, n2, heap) = descriptors(b)
    n, off = desc[row]
    return heap + off, n


def set_card(b, key, value, start=BLOCK):
    """Replaces the value of the first card `key` at or after `start` (in place, 80 bytes)."""
    pos = start
    while pos + 80 <= len(b):
        c = bytes(b[pos:pos + 80])
        if c[:8].decode("latin-1").strip() == key:
            b[pos:pos + 80] = card(key, value).encode("latin-1")
            return b
        if c[:8] == b"END     ":
            break
        pos += 80
    raise KeyError(key)


def drop_card(b, key, start=BLOCK):
    pos = start
    while pos + 80 <= len(b):
        c = bytes(b[pos:pos + 80])
        if c[:8].decode("latin-1").strip() == key:
            # shift the rest of the header up one card, blank the last slot before END's block end
            end = pos
            while bytes(b[end:end + 8]) != b"END     ":
                end += 80
            b[pos:end + 80] = bytes(b[pos + 80:end + 80]) + b" " * 80
            return b
        pos += 80
    raise KeyError(key)


def rice16():
    return compressed("RICE_1", smooth16((64, 80)))


def corrupt_tile(b, row, fn):
    start, n = tile_bytes(b, row)
    t = bytearray(b[start:start + n])
    fn(t)
    b[start:start + n] = t
    return b


def gz(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


GOOD16 = raw_image(16, (20, 30))


# ------------------------------------------------------------------ A. not FITS / containers

for _name, _what, _data, _words in [
    ("empty.fits", "zero bytes", b"", ["empty"]),
    ("one_byte.fits", "a single byte", b"S", ["not a fits file"]),
    ("short_simple.fits", "the first 9 bytes of a SIMPLE card only", b"SIMPLE  =", ["end card"]),
    ("zeros.fits", "one block of NUL bytes", b"\0" * BLOCK, ["not a fits file"]),
    ("text.fits", "a text file", b"hello, world\n" * 300, ["not a fits file"]),
    ("html.fits", "an HTML error page saved as .fits", b"<html><body>404 Not Found</body></html>\n" * 80,
     ["not a fits file"]),
    ("png.fits", "a PNG signature", b"\x89PNG\r\n\x1a\n" + b"\0" * 3000, ["not a fits file"]),
    ("jp2.fits", "a JPEG 2000 signature", b"\0\0\0\x0cjP  \r\n\x87\n" + b"\0" * 3000, ["not a fits file"]),
    ("hdf5.fits", "an HDF5 signature", b"\x89HDF\r\n\x1a\n" + b"\0" * 3000, ["not a fits file"]),
    ("zip.fits", "a ZIP archive signature", b"PK\x03\x04" + b"\0" * 3000, ["not a fits file"]),
    ("bzip2.fits", "a bzip2 signature", b"BZh91AY&SY" + b"\0" * 3000, ["not a fits file"]),
    ("unix_compress.fits.Z", "Unix compress (.Z) data", b"\x1f\x9d\x90" + b"\0" * 100, ["compress"]),
    ("simple_lowercase.fits", "'simple  =' in lower case", b"simple  = " + GOOD16[10:], ["not a fits file"]),
    ("leading_space.fits", "a blank before SIMPLE", b" " + GOOD16[:-1], ["not a fits file"]),
    ("utf16.fits", "a FITS header encoded as UTF-16", GOOD16[:1440].decode("latin-1").encode("utf-16"),
     ["not a fits file"]),
]:
    case(_name, _what, Refused(*_words))(writer(_name, _data))

# gzip wrappers
case("gzip_empty_member.fits.gz", "a gzip stream of zero bytes", Refused("empty"))(
    writer("gzip_empty_member.fits.gz", lambda: gz(b"")))
case("gzip_text.fits.gz", "gzip of a text file", Refused("not a fits file"))(
    writer("gzip_text.fits.gz", lambda: gz(b"not fits\n" * 1000)))
case("gzip_truncated.fits.gz", "a gzip file cut in half", Refused("gzip", "cut short"))(
    writer("gzip_truncated.fits.gz", lambda: gz(raw_image(16, (60, 60)))[:900]))
case("gzip_bad_crc.fits.gz", "a gzip file whose CRC trailer is wrong", Refused("gzip", "corrupt"))(
    writer("gzip_bad_crc.fits.gz", lambda: (lambda g: g[:-8] + bytes(x ^ 0xFF for x in g[-8:-4]) + g[-4:])(
        gz(raw_image(16, (30, 30))))))
case("gzip_corrupt_deflate.fits.gz", "gzip whose deflate data are overwritten mid-stream",
     Refused("gzip", "corrupt"))(
    writer("gzip_corrupt_deflate.fits.gz", lambda: (lambda g: g[:200] + b"\xff" * 64 + g[264:])(
        gz(raw_image(16, (60, 60), seed=3), level=1))))
case("gzip_header_only.fits.gz", "just the 10-byte gzip header", Refused("gzip"))(
    writer("gzip_header_only.fits.gz", lambda: gz(GOOD16)[:10]))
case("gzip_two_bytes.fits.gz", "only the gzip magic", Refused())(
    writer("gzip_two_bytes.fits.gz", b"\x1f\x8b"))
def _bomb():
    """gzip of a header and 300 MiB of zeros, streamed (about 300 KB on disk)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(header(image_cards(8, (8, 8))))]
    zeros = b"\0" * (1 << 20)
    for _ in range(300):
        out.append(c.compress(zeros))
    out.append(c.flush())
    return b"".join(out)


case("gzip_bomb.fits.gz", "gzip inflating to 300 MiB, past the reader's limit (--max-pixels 1000)",
     Refused("over the size limit"))(lambda d: (writer("gzip_bomb.fits.gz", _bomb)(d), ["--max-pixels", "1000"]))
case("gzip_concatenated.fits.gz", "two gzip members that together hold one FITS file", Processed())(
    writer("gzip_concatenated.fits.gz", lambda: gz(GOOD16[:BLOCK]) + gz(GOOD16[BLOCK:])))
case("gzip_of_gzip.fits.gz", "a FITS file gzipped twice", Refused("not a fits file"))(
    writer("gzip_of_gzip.fits.gz", lambda: gz(gz(GOOD16))))

# ------------------------------------------------------------------ B. primary header structure

def _img(name, bitpix, shape, extra=(), data=None, trunc=None, drop=None):
    def make():
        cs = image_cards(bitpix, shape, extra)
        if drop:
            cs = [c for c in cs if c[:8].strip() != drop]
        n = 1
        for s in shape:
            n *= s
        nbytes = abs(bitpix) // 8 * n if isinstance(bitpix, int) and bitpix in (8, 16, 32, 64, -32, -64) else 0
        body = header(cs) + pad((data if data is not None else bytes(range(256)) * (nbytes // 256 + 1))[:nbytes])
        return body[:trunc] if trunc is not None else body
    return writer(name, make)


for _bp, _words in [("7", ["header"]), ("0", ["header"]), ("-16", ["header"]), ("128", ["header"]),
                    ("'16'", ["header"]), ("16.0", ["header"])]:
    _n = "bitpix_%s.fits" % _bp.replace("'", "q").replace("-", "m").replace(".", "p")
    case(_n, "BITPIX = %s" % _bp, Refused(*_words))(
        writer(_n, (lambda bp: lambda: header([card("SIMPLE", "T"), card("BITPIX", bp), card("NAXIS", "2"),
                                                card("NAXIS1", "10"), card("NAXIS2", "10")]) + pad(b"\0" * 800))(_bp)))

for _nx, _what, _words in [("-1", "NAXIS = -1", ["header"]), ("999", "NAXIS = 999", ["header"]),
                           ("4", "NAXIS = 4 (a 4-D image)", ["4 axes"]), ("'2'", "NAXIS as a string", ["header"])]:
    _n = "naxis_%s.fits" % _nx.replace("'", "q").replace("-", "m")
    _cards = [card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", _nx)] + \
        [card("NAXIS%d" % (i + 1), "2") for i in range(4)]
    case(_n, _what, Refused(*_words))(writer(_n, header(_cards) + pad(b"\0" * 16)))

case("naxis1_negative.fits", "NAXIS1 = -5", Refused("header"))(
    writer("naxis1_negative.fits", header(image_cards(16, (10, "-5"))) + pad(b"\0" * 100)))
case("naxis1_zero.fits", "NAXIS1 = 0", Refused("zero-length axis"))(
    writer("naxis1_zero.fits", header(image_cards(16, (10, 0)))))
case("naxis1_string.fits", "NAXIS1 = 'ten'", Refused("header"))(
    writer("naxis1_string.fits", header(image_cards(16, (10, "'ten'"))) + pad(b"\0" * 200)))
case("naxis2_missing.fits", "NAXIS = 2 but no NAXIS2 card", Refused("header"))(
    _img("naxis2_missing.fits", 16, (10, 10), drop="NAXIS2"))
case("axes_overflow.fits", "axes whose product overflows 64 bits", Refused("too large"))(
    writer("axes_overflow.fits", header(image_cards(8, (2 ** 40, 2 ** 40, 2 ** 40)))))
case("axes_huge.fits", "a 100000 x 100000 float64 image claimed by a small file", Refused("more than the limit"))(
    writer("axes_huge.fits", header(image_cards(-64, (100000, 100000)))))
case("end_missing.fits", "no END card anywhere", Refused("end card"))(
    writer("end_missing.fits", lambda: header(image_cards(16, (10, 10)), end=False) + pad(b"\0" * 200)))
case("end_after_data_start.fits", "END pushed into what should be the data block",
     Refused())(
    writer("end_after_data_start.fits", lambda: header(image_cards(16, (10, 10)) + [card("COMMENT", None, "x")] * 32)[:BLOCK]
           + header([]) + b""))
case("end_lowercase.fits", "'end' in lower case", Refused("end card"))(
    writer("end_lowercase.fits", lambda: GOOD16.replace(b"END" + b" " * 77, b"end" + b" " * 77, 1)))
case("header_nul_bytes.fits", "NUL bytes inside header cards", Refused("header"))(
    writer("header_nul_bytes.fits", lambda: GOOD16[:400] + b"\0" * 80 + GOOD16[480:]))
case("header_non_ascii.fits", "Latin-1 bytes in a comment card (tolerated, as astropy does)", Processed())(
    writer("header_non_ascii.fits", lambda: raw_image(16, (10, 10), [card("COMMENT", None, " caf\xe9 \xff\xfe")])))
case("header_tabs.fits", "tab characters in a card value (tolerated)", Processed())(
    writer("header_tabs.fits", lambda: raw_image(16, (10, 10), [("OBJECT  = 'a\tb'").ljust(80)])))
case("duplicate_bitpix.fits", "BITPIX given twice with different values", Processed())(
    writer("duplicate_bitpix.fits", lambda: header(image_cards(16, (10, 10)) + [card("BITPIX", "32")]) + pad(b"\0" * 200)))


def _aia_bad_wcs(key, value):
    """The real AIA level-1 test image sunpy ships (a full-disk SDO image level 1.5 registers)
    with one WCS card spoiled: the file is processed, level 1.5 is skipped with its reason."""
    def make():
        src = "/usr/lib/python3/dist-packages/sunpy/data/test/aia_171_level1.fits"
        with fits.open(src) as hdul:
            h, data = hdul[0].header.copy(), hdul[0].data.copy()
        h[key] = value
        out = io.BytesIO()
        fits.PrimaryHDU(data, header=h).writeto(out)
        return out.getvalue()
    return make


case("aia_cdelt_zero.fits", "a full-disk AIA image with CDELT1 = 0: every output but level 1.5",
     Processed("level 1.5 not made", "wcslib rejected the wcs", "singular"))(
    writer("aia_cdelt_zero.fits", _aia_bad_wcs("CDELT1", 0.0)))
case("aia_crpix_off.fits", "a full-disk AIA image with CRPIX1 far off the image",
     Processed("level 1.5 not made", "crpix1", "off the"))(
    writer("aia_crpix_off.fits", _aia_bad_wcs("CRPIX1", 5000.0)))
case("bscale_zero.fits", "BSCALE = 0", Processed())(
    _img("bscale_zero.fits", 16, (10, 10), [card("BSCALE", "0")]))
case("bscale_string.fits", "BSCALE = 'abc'", Processed())(
    _img("bscale_string.fits", 16, (10, 10), [card("BSCALE", "'abc'")]))
case("bzero_huge.fits", "BZERO = 1e308 (overflows float32 arithmetic)", Processed())(
    _img("bzero_huge.fits", 16, (10, 10), [card("BZERO", "1.0E308")]))
case("bscale_nan_text.fits", "BSCALE = NAN (not a FITS number)", Processed())(
    _img("bscale_nan_text.fits", 16, (10, 10), [card("BSCALE", "NAN")]))
case("blank_string.fits", "BLANK = 'none'", Processed())(
    _img("blank_string.fits", 16, (10, 10), [card("BLANK", "'none'")]))
case("blank_on_float.fits", "BLANK on a float image (ignored)", Processed())(
    lambda d: writer("blank_on_float.fits", raw_image(-32, (10, 10), [card("BLANK", "-999")]))(d))
case("blank_float_huge.fits", "BLANK = 1.0E19 on integer data (UB converting to int64; found by fuzz_header)",
     Processed())(_img("blank_float_huge.fits", 16, (10, 10), [card("BLANK", "1.0E19")]))
case("blank_float_nan_like.fits", "BLANK = -9.3E18, just below int64", Processed())(
    _img("blank_float_nan_like.fits", 16, (10, 10), [card("BLANK", "-9.3E18")]))
case("blank_out_of_range.fits", "BLANK = 99999 on 16-bit data", Processed())(
    _img("blank_out_of_range.fits", 16, (10, 10), [card("BLANK", "99999"), card("BSCALE", "2")]))
case("continue_storm.fits", "a string value continued over 3000 CONTINUE cards", Processed())(
    writer("continue_storm.fits", lambda: raw_image(16, (8, 8), [card("LONGSTR", "'x&'")] +
                                                     [("CONTINUE  'abcdefghijklmnopqrstuvwxyz&'").ljust(80)] * 3000 +
                                                     [("CONTINUE  'end'").ljust(80)])))
case("continue_orphan.fits", "CONTINUE cards with no string before them", Processed())(
    writer("continue_orphan.fits", lambda: raw_image(16, (8, 8), [("CONTINUE  'lost&'").ljust(80)] * 3)))
case("unterminated_string.fits", "a string value with no closing quote", Processed())(
    writer("unterminated_string.fits", lambda: raw_image(16, (8, 8), [("OBJECT  = 'never closed" + " " * 60)[:80]])))
case("hierarch_long.fits", "a HIERARCH keyword filling the whole card", Processed())(
    writer("hierarch_long.fits", lambda: raw_image(16, (8, 8), [("HIERARCH " + "A" * 60 + " = 1").ljust(80)[:80]])))
case("many_cards.fits", "60000 COMMENT cards", Processed())(
    writer("many_cards.fits", lambda: raw_image(16, (8, 8), [card("COMMENT", None, " %d" % i) for i in range(60000)])))
case("too_many_cards.fits", "120000 cards, over the 100000-card limit", Refused("100000"))(
    writer("too_many_cards.fits", lambda: raw_image(16, (8, 8), [card("HISTORY", None, " %d" % i) for i in range(120000)])))
case("keyword_lowercase.fits", "a keyword in lower case (tolerated)", Processed())(
    writer("keyword_lowercase.fits", lambda: raw_image(16, (8, 8), [card("object", "'sun'")])))
case("value_no_space.fits", "'KEY=value' without the blank FITS requires", Processed())(
    writer("value_no_space.fits", lambda: raw_image(16, (8, 8), [("EXPTIME =1.5").ljust(80)])))
case("complex_value.fits", "a complex-number value", Processed())(
    writer("complex_value.fits", lambda: raw_image(16, (8, 8), [card("CPLX", "(1.5, -2.0)")])))
case("int_beyond_int64.fits", "an integer value of 30 digits", Processed())(
    writer("int_beyond_int64.fits", lambda: raw_image(16, (8, 8), [card("BIGINT", "123456789012345678901234567890")])))
case("float_overflow.fits", "a float value of 1e999", Processed())(
    writer("float_overflow.fits", lambda: raw_image(16, (8, 8), [card("HUGE", "1.0E999")])))


# ------------------------------------------------------------------ C. data section

case("truncated_1byte.fits", "data one byte short of what the header says", Refused("truncated"))(
    writer("truncated_1byte.fits", lambda: header(image_cards(16, (30, 30))) + b"\0" * (1800 - 1)))
case("truncated_half.fits", "half the data missing", Refused("truncated"))(
    writer("truncated_half.fits", lambda: raw_image(32, (100, 100))[:BLOCK + 20000]))
case("data_absent.fits", "a header claiming data, and nothing after it", Refused("truncated"))(
    writer("data_absent.fits", lambda: header(image_cards(-32, (64, 64)))))
case("data_unpadded.fits", "data present but the last block not padded to 2880", Processed())(
    writer("data_unpadded.fits", lambda: header(image_cards(16, (10, 10))) + np.arange(100, dtype=">i2").tobytes()))
case("all_nan.fits", "a float image of NaN only", Processed())(
    writer("all_nan.fits", lambda: raw_image(-32, (16, 16), data=np.full((16, 16), np.nan))))
case("all_inf.fits", "a float image of +inf and -inf only", Processed())(
    writer("all_inf.fits", lambda: raw_image(-64, (16, 16), data=np.where(np.arange(256).reshape(16, 16) % 2, np.inf, -np.inf))))
case("constant.fits", "a constant image", Processed())(
    writer("constant.fits", lambda: raw_image(16, (16, 16), data=np.full((16, 16), 7))))
case("one_pixel.fits", "a 1 x 1 image", Processed())(
    writer("one_pixel.fits", lambda: raw_image(-32, (1, 1), data=np.ones((1, 1)))))
case("one_row.fits", "a 1 x 500 image", Processed())(writer("one_row.fits", lambda: raw_image(16, (1, 500))))
case("one_column.fits", "a 500 x 1 image", Processed())(writer("one_column.fits", lambda: raw_image(16, (500, 1))))
case("vector_len1.fits", "a 1-D image of one value", Processed())(
    writer("vector_len1.fits", lambda: raw_image(8, (1,), data=np.array([9]))))
case("cube_one_plane.fits", "a 1 x 20 x 20 cube", Processed("cube"))(writer("cube_one_plane.fits", lambda: raw_image(16, (1, 20, 20))))
case("denormals.fits", "float64 subnormal values only", Processed())(
    writer("denormals.fits", lambda: raw_image(-64, (8, 8), data=np.full((8, 8), 5e-324))))
case("float_extremes.fits", "float32 max/min, -0.0 and NaN payloads", Processed())(
    writer("float_extremes.fits", lambda: header(image_cards(-32, (2, 4))) + pad(
        struct.pack(">4f", 3.4028235e38, -3.4028235e38, 1e-45, -0.0) + b"\x7f\xc0\x00\x01\xff\xff\xff\xff\x7f\x80\x00\x01\x00\x00\x00\x00")))
case("int64_extremes.fits", "int64 minimum and maximum with BZERO scaling", Processed())(
    writer("int64_extremes.fits", lambda: raw_image(64, (1, 2), [card("BSCALE", "1.5")],
                                                     data=np.array([[-2 ** 63, 2 ** 63 - 1]]))))
case("over_max_pixels.fits", "a 100 x 100 image with --max-pixels 5000", Refused("more than the limit"))(
    lambda d: (writer("over_max_pixels.fits", raw_image(16, (100, 100)))(d), ["--max-pixels", "5000"]))
case("exact_max_pixels.fits", "a 50 x 100 image with --max-pixels 5000 (at the limit)", Processed())(
    lambda d: (writer("exact_max_pixels.fits", raw_image(16, (50, 100)))(d), ["--max-pixels", "5000"]))

# ------------------------------------------------------------------ D. HDU structure

case("table_only.fits", "a binary table and no image", Refused("no image", "table"))(
    writer("table_only.fits", lambda: (lambda b: (fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="X", format="D", array=np.arange(4.0))])]).writeto(b), b.getvalue())[1])(io.BytesIO())))
case("primary_empty_only.fits", "only an empty primary header", Refused("no image"))(
    writer("primary_empty_only.fits", lambda: header([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0")])))
case("random_groups.fits", "random-groups data", Refused("random-groups"))(
    writer("random_groups.fits", lambda: header([card("SIMPLE", "T"), card("BITPIX", "-32"), card("NAXIS", "2"),
                                                 card("NAXIS1", "0"), card("NAXIS2", "4"), card("GROUPS", "T"),
                                                 card("PCOUNT", "2"), card("GCOUNT", "3")]) + pad(b"\0" * 72)))
case("hdu1_garbage_primary_image.fits", "a primary image followed by a garbage extension",
     Processed())(writer("hdu1_garbage_primary_image.fits", lambda: GOOD16 + b"XTENSION= 'WHAT'" + b"\x01" * (BLOCK - 16)))
case("hdu1_truncated_primary_image.fits", "a primary image, then an image extension with no data: HDU 1 is chosen",
     Refused("truncated"))(writer("hdu1_truncated_primary_image.fits", lambda: GOOD16 + header(
         [card("XTENSION", "'IMAGE   '"), card("BITPIX", "16"), card("NAXIS", "2"), card("NAXIS1", "100"),
          card("NAXIS2", "100"), card("PCOUNT", "0"), card("GCOUNT", "1")])))
case("many_empty_hdus.fits", "1500 empty extensions, the image after them", Refused("no image"))(
    writer("many_empty_hdus.fits", lambda: header([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"),
                                                   card("EXTEND", "T")]) + header(
        [card("XTENSION", "'IMAGE   '"), card("BITPIX", "8"), card("NAXIS", "0"), card("PCOUNT", "0"),
         card("GCOUNT", "1")]) * 1500 + raw_image(16, (4, 4)).replace(b"SIMPLE  =                    T",
                                                                    b"XTENSION= 'IMAGE   '          ", 1)))
case("extension_bad_pcount.fits", "an extension whose PCOUNT is negative, after a good primary image",
     Processed())(writer("extension_bad_pcount.fits", lambda: GOOD16 + header(
         [card("XTENSION", "'BINTABLE'"), card("BITPIX", "8"), card("NAXIS", "2"), card("NAXIS1", "4"),
          card("NAXIS2", "1"), card("PCOUNT", "-100"), card("GCOUNT", "1"), card("TFIELDS", "1"),
          card("TFORM1", "'J'")]) + pad(b"\0" * 4)))


# ------------------------------------------------------------------ E. tile-compressed images

def _comp_case(name, what, expect, base, mutate):
    def build(d):
        b = base()
        mutate(b)
        return writer(name, bytes(b))(d)
    case(name, what, expect)(build)


def _zero_run(t):
    t[2:] = b"\x0f" + b"\0" * (len(t) - 3)  # FS code, then nothing but zero bits


def _flip_all(t):
    for i in range(3, len(t)):
        t[i] ^= 0x5A


_comp_case("rice_zero_run.fits", "a RICE_1 tile whose bit stream is a long run of zero bits (CFITSIO overread)",
           Refused("damaged", "rice_1", "runs past"), rice16, lambda b: corrupt_tile(b, 3, _zero_run))
_comp_case("rice_zero_run_last.fits", "the same corruption in the last tile",
           Refused("damaged", "runs past"), rice16, lambda b: corrupt_tile(b, 63, _zero_run))
_comp_case("rice_bytes_flipped.fits", "every byte of a RICE_1 tile XORed", Refused("damaged"), rice16,
           lambda b: corrupt_tile(b, 10, _flip_all))
_comp_case("rice_tile_short.fits", "a RICE_1 tile descriptor 10 bytes shorter than its data",
           Refused("damaged"), rice16,
           lambda b: set_descriptor(b, 5, descriptors(b)[0][5][0] - 10, descriptors(b)[0][5][1]))
_comp_case("rice_tile_one_byte.fits", "a RICE_1 tile of one byte", Refused("damaged", "too few"), rice16,
           lambda b: set_descriptor(b, 0, 1, descriptors(b)[0][0][1]))
_comp_case("rice_tile_beyond_heap.fits", "a tile descriptor pointing past the end of the file",
           Refused("beyond the end"), rice16, lambda b: set_descriptor(b, 2, 100, 10 ** 8))
_comp_case("rice_tile_negative_offset.fits", "a tile descriptor with a negative offset",
           Refused(), rice16, lambda b: set_descriptor(b, 2, 100, -5000))
_comp_case("rice_tile_empty.fits", "a tile descriptor of length 0 and no other column",
           Refused("damaged"), rice16, lambda b: set_descriptor(b, 4, 0, 0))
_comp_case("rice_blocksize_zero.fits", "ZVAL1 (BLOCKSIZE) = 0", Refused("block size"), rice16,
           lambda b: set_card(b, "ZVAL1", "0"))
_comp_case("rice_blocksize_negative.fits", "ZVAL1 (BLOCKSIZE) = -32", Refused("block size"), rice16,
           lambda b: set_card(b, "ZVAL1", "-32"))
_comp_case("rice_blocksize_16.fits", "ZVAL1 = 16 for tiles coded with 32", Refused("damaged"), rice16,
           lambda b: set_card(b, "ZVAL1", "16"))
_comp_case("rice_bytepix_4.fits", "ZVAL2 (BYTEPIX) = 4 for 2-byte tiles", Refused("damaged"), rice16,
           lambda b: set_card(b, "ZVAL2", "4"))
_comp_case("rice_bytepix_1.fits", "ZVAL2 (BYTEPIX) = 1 for 2-byte tiles: decodes in bounds to wrong values, as "
           "astropy would (RICE has no checksum)", Processed(), rice16,
           lambda b: set_card(b, "ZVAL2", "1"))
_comp_case("comp_ztile_zero.fits", "ZTILE1 = 0", Refused("ztile1"), rice16, lambda b: set_card(b, "ZTILE1", "0"))
_comp_case("comp_ztile_negative.fits", "ZTILE2 = -1", Refused(), rice16, lambda b: set_card(b, "ZTILE2", "-1"))
_comp_case("comp_ztile_huge.fits", "ZTILE1 = 2^40 (CFITSIO would allocate 2 TiB)", Refused("ztile"), rice16, lambda b: set_card(b, "ZTILE1", str(2 ** 40)))


def _ztile_string_duplicate(b):
    """ZNAME1 turned into a second ZTILE1 holding a string: CFITSIO searches onward from the card it
    read last, takes this one, reads it as 0 and divides by it (SIGFPE; found by fuzz_fits_core)."""
    set_card(b, "ZNAME1", "'BLOCKSIZE'")
    pos = b.find(b"ZNAME1  = ", BLOCK)
    b[pos:pos + 8] = b"ZTILE1  "


_comp_case("comp_ztile_string_duplicate.fits", "a second ZTILE1 card holding a string (CFITSIO divided by 0)",
           Refused("ztile1"), rice16, _ztile_string_duplicate)
_comp_case("comp_znaxis1_zero_no_ztile.fits", "ZNAXIS1 = 0 and no ZTILE1 (the default tile is the axis)",
           Refused(), rice16, lambda b: drop_card(set_card(b, "ZNAXIS1", "0"), "ZTILE1"))
_comp_case("rice_blocksize_string.fits", "ZVAL1 (BLOCKSIZE) = 'abc'", Refused("text where a number"), rice16,
           lambda b: set_card(b, "ZVAL1", "'abc'"))

# A string of 28 characters or more where CFITSIO reads a number overflows its error message
# buffer (ffc2j; Debian's fortified CFITSIO aborts). Found by fuzz_fits_core through ZNAXIS2.
_LONG_STRING = "'RICE_     40 / length of original image axis'"


def _add_card(key, value):
    def mutate(b):
        pos = b.find(b"EXTNAME ", BLOCK)
        b[pos:pos + 80] = card(key, value).encode("latin-1")
    return mutate


for _key in ("ZNAXIS2", "ZBITPIX", "ZVAL1"):
    _comp_case("comp_%s_long_string.fits" % _key.lower(), "%s holding a 46-character string" % _key,
               Refused("text where a number belongs"), rice16,
               (lambda k: lambda b: set_card(b, k, _LONG_STRING))(_key))
for _key in ("THEAP", "BLANK", "ZDITHER0"):
    _comp_case("comp_%s_long_string.fits" % _key.lower(), "%s card added holding a 46-character string" % _key,
               Refused("where a number belongs"), rice16, _add_card(_key, _LONG_STRING))
# The same overflow through text that is not quoted (found by fuzz_fits_core through ZVAL2).
_NOT_A_NUMBER = "1.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5.5"
for _key in ("ZVAL2", "ZNAXIS1"):
    _comp_case("comp_%s_not_a_number.fits" % _key.lower(), "%s = %s" % (_key, _NOT_A_NUMBER),
               Refused("text where a number belongs"), rice16,
               (lambda k: lambda b: set_card(b, k, _NOT_A_NUMBER))(_key))
_comp_case("comp_blank_not_a_number.fits", "BLANK card added holding %s" % _NOT_A_NUMBER,
           Refused("where a number belongs"), rice16, _add_card("BLANK", _NOT_A_NUMBER))
# CFITSIO copies an unquoted TTYPEn value of 70 characters into a 70-byte field (found by
# fuzz_fits_core): long unquoted text is refused in every header.
_comp_case("comp_ttype1_unquoted_70.fits", "TTYPE1 = 70 unquoted characters", Refused("unquoted text"), rice16,
           lambda b: set_card(b, "TTYPE1", "a" * 70))
_comp_case("comp_tform1_unquoted_long.fits", "TFORM1 = 65 unquoted digits", Refused("unquoted text"), rice16,
           lambda b: set_card(b, "TFORM1", "1" * 65))
case("object_unquoted_long.fits", "primary OBJECT = 60 unquoted characters", Refused("unquoted text"))(
    writer("object_unquoted_long.fits", lambda: raw_image(16, (16, 16), [card("OBJECT", "Q" * 60)])))
case("object_unquoted_short.fits", "primary OBJECT = 20 unquoted characters (read as astropy would, no crash)",
     Processed())(writer("object_unquoted_short.fits", lambda: raw_image(16, (16, 16), [card("OBJECT", "Q" * 20)])))
# CFITSIO also reads "ZNAXIS1 =0" (no space after the =) as a value (found by fuzz_fits_core):
# with no ZTILE1 it divided by 0 as above.
def _znaxis1_nospace_zero(b):
    drop_card(b, "ZTILE1")
    pos = b.find(b"ZNAXIS1 = ", BLOCK)
    b[pos:pos + 80] = b"ZNAXIS1 =0".ljust(80)


_comp_case("comp_znaxis1_nospace_zero.fits", "ZNAXIS1 =0 (no space) and no ZTILE1", Refused("znaxis1"), rice16,
           _znaxis1_nospace_zero)


def _data_like_cards():
    """A uint8 image whose pixels, read 80 bytes at a time, look like the header cards the checks
    refuse: only headers are judged, never a data unit."""
    rows = [card("TTYPE1", "a" * 70), card("ZTILE1", "0"), card("ZNAXIS2", "'" + "x" * 40 + "'"),
            card("BLANK", "1.5.5.5.5.5.5.5.5.5.5.5.5.5"), card("ZIMAGE", "T"), card("END")]
    data = ("".join(rows) * 40).encode("latin-1")[:96 * 100]
    return raw_image(8, (96, 100), data=np.frombuffer(data, np.uint8).reshape(96, 100))


case("data_like_cards.fits", "pixel bytes that read like refused header cards (they are data, not cards)",
     Processed())(writer("data_like_cards.fits", _data_like_cards))
# CFITSIO matches keywords whatever their case: "ZBItPIX" is ZBITPIX (found by fuzz_fits_core).
def _lowercase_zbitpix_text(b):
    pos = b.find(b"ZBITPIX = ", BLOCK)
    b[pos:pos + 80] = ("ZBItPIX = " + "Q" * 40 + " 16").ljust(80).encode("latin-1")


_comp_case("comp_zbitpix_lowercase_text.fits", "ZBItPIX (mixed case) holding 40 characters of text",
           Refused("zbitpix holds text"), rice16, _lowercase_zbitpix_text)
_comp_case("comp_zbitpix_lowercase_ok.fits", "zbitpix (lower case) = 16: read as CFITSIO reads it",
           Processed(), rice16, lambda b: b.__setitem__(slice(b.find(b"ZBITPIX = ", BLOCK), b.find(b"ZBITPIX = ", BLOCK) + 7), b"zbitpix"))
_comp_case("comp_zval1_fortran_exponent.fits", "ZVAL1 = 3.2D1 (a Fortran exponent is a number)", Processed(),
           rice16, lambda b: set_card(b, "ZVAL1", "3.2D1"))


def _zval1_duplicate_zero(b):
    """ZNAME2 turned into a second ZVAL1 = 0, after the good one."""
    set_card(b, "ZNAME2", "0")
    pos = b.find(b"ZNAME2  = ", BLOCK)
    b[pos:pos + 8] = b"ZVAL1   "


_comp_case("rice_blocksize_duplicate_zero.fits", "a second ZVAL1 card = 0 after the good one", Refused(), rice16,
           _zval1_duplicate_zero)
_comp_case("comp_fewer_rows.fits", "fewer table rows than tiles (ZNAXIS2 doubled)", Refused(), rice16,
           lambda b: set_card(b, "ZNAXIS2", "128"))
_comp_case("comp_znaxis_zero.fits", "ZNAXIS1 = 0", Refused(), rice16, lambda b: set_card(b, "ZNAXIS1", "0"))
_comp_case("comp_znaxis_big.fits", "ZNAXIS1 = 10^9 (more pixels than allowed)", Refused(), rice16,
           lambda b: set_card(b, "ZNAXIS1", str(10 ** 9)))
_comp_case("comp_zbitpix_bad.fits", "ZBITPIX = 12", Refused(), rice16, lambda b: set_card(b, "ZBITPIX", "12"))
_comp_case("comp_zcmptype_unknown.fits", "ZCMPTYPE = 'LZW_9'", Refused(), rice16,
           lambda b: set_card(b, "ZCMPTYPE", "'LZW_9   '"))
_comp_case("comp_tform_int.fits", "COMPRESSED_DATA declared as 1PJ instead of 1PB", Refused(), rice16,
           lambda b: set_card(b, "TFORM1", "'1PJ(300)'"))
_comp_case("comp_ttype_renamed.fits", "no COMPRESSED_DATA column (renamed)", Refused(), rice16,
           lambda b: set_card(b, "TTYPE1", "'DATA    '"))
_comp_case("comp_pcount_short.fits", "PCOUNT larger than the heap present", Refused("truncated"), rice16,
           lambda b: set_card(b, "PCOUNT", "99999999"))
def _theap(b):
    hs, ds, n1, n2, heap = table_layout(b)
    pos = hs
    while bytes(b[pos:pos + 8]) != b"END     ":
        pos += 80
    # END moves one card down if the block has room (it does for these headers)
    if (pos + 160 - hs) <= ((ds - hs)):
        b[pos:pos + 160] = card("THEAP", str(10 ** 7)).encode() + card("END").encode()
    return b


_comp_case("comp_theap_bad.fits", "THEAP pointing past the end of the file", Refused(), rice16, _theap)


def gzip16():
    return compressed("GZIP_1", smooth16((40, 50)))


def gzip2_f64_lossless():
    return compressed("GZIP_2", np.random.default_rng(4).normal(size=(30, 40)), quantize_level=0.0)


def _gzip_tile_garbage(t):
    t[10:] = b"\xa5" * (len(t) - 10)


def _gzip_wrong_size(b, row, data):
    start, n = tile_bytes(b, row)
    new = gzip.compress(data, mtime=0)
    assert len(new) <= n, "replacement tile too long"
    b[start:start + len(new)] = new
    set_descriptor(b, row, len(new), descriptors(b)[0][row][1])


_comp_case("gzip_tile_garbage.fits", "a GZIP_1 tile with garbage after its gzip header", Refused("damaged", "gzip"),
           gzip16, lambda b: corrupt_tile(b, 2, _gzip_tile_garbage))
_comp_case("gzip_tile_wrong_size.fits", "a GZIP_1 tile inflating to 3 bytes per pixel (CFITSIO leak)",
           Refused("damaged", "not a whole number", "bytes each"), gzip16, lambda b: _gzip_wrong_size(b, 1, b"\0" * 150))
_comp_case("gzip2_lossless_wrong_size.fits", "a lossless GZIP_2 float64 tile inflating to 2 bytes per pixel",
           Refused("damaged"), gzip2_f64_lossless, lambda b: _gzip_wrong_size(b, 0, b"\0" * 80))
_comp_case("gzip_tile_truncated.fits", "a GZIP_1 tile cut short by its descriptor", Refused("damaged"), gzip16,
           lambda b: set_descriptor(b, 3, descriptors(b)[0][3][0] // 2, descriptors(b)[0][3][1]))
# GZIP tiles read by FitsFlow's own decoder (src/core/fits/gzip_tile.c): the same refusals as when
# CFITSIO read them, nothing read past a tile, and quantisation keywords checked.
def gzip2_f32():
    """Quantised float32, GZIP_2, subtractive dithering (ZQUANTIZ, ZDITHER0 = 42)."""
    a = smooth16((40, 50)).astype(np.float32) * np.float32(0.37)
    return compressed("GZIP_2", a, quantize_level=16.0, quantize_method=1, dither_seed=42)


def gzip2_i16():
    return compressed("GZIP_2", smooth16((40, 50)))


def gzip_f64_q():
    """Quantised float64, GZIP_1: its table has a GZIP_COMPRESSED_DATA column (second, 1PB)."""
    return compressed("GZIP_1", smooth16((20, 30)).astype(np.float64) * 0.37, quantize_level=8.0)


def _gzip_replace(b, row, data):
    """Tile `row` of COMPRESSED_DATA replaced by the gzip of data (in its own bytes)."""
    _gzip_wrong_size(b, row, data)


def _gzip_field(b, row, fn):
    """fn(stream) -> new bytes of the same length, applied to tile row's gzip stream."""
    start, n = tile_bytes(b, row)
    b[start:start + n] = fn(bytes(b[start:start + n]))


def _to_alt_tile(b, row, data):
    """Tile `row` moved to GZIP_COMPRESSED_DATA as the gzip of data; COMPRESSED_DATA left empty."""
    hs, ds, n1, n2, heap = table_layout(b)
    assert b"TTYPE2  = 'GZIP_COMPRESSED_DATA'" in bytes(b[hs:ds]), "fixture: no GZIP_COMPRESSED_DATA column"
    start, n = tile_bytes(b, row)
    off = descriptors(b)[0][row][1]
    new = gzip.compress(data, mtime=0)
    assert len(new) <= n, "replacement tile too long"
    b[start:start + len(new)] = new
    set_descriptor(b, row, 0, 0)
    b[ds + row * n1 + 8: ds + row * n1 + 16] = struct.pack(">ii", len(new), off)


_comp_case("gzip2_tile_garbage.fits", "a quantised GZIP_2 float tile with garbage after its gzip header",
           Refused("damaged", "gzip", "corrupt"), gzip2_f32, lambda b: corrupt_tile(b, 2, _gzip_tile_garbage))
_comp_case("gzip2_tile_cut.fits", "a GZIP_2 float tile whose stream ends early (descriptor halved)",
           Refused("damaged", "gzip", "cut short"), gzip2_f32,
           lambda b: set_descriptor(b, 5, descriptors(b)[0][5][0] // 2, descriptors(b)[0][5][1]))
_comp_case("gzip2_tile_isize_lies.fits", "a GZIP_2 tile whose gzip trailer claims another inflated length",
           Refused("damaged", "gzip"), gzip2_f32,
           lambda b: _gzip_field(b, 1, lambda t: t[:-4] + struct.pack("<I", struct.unpack("<I", t[-4:])[0] + 4)))
_comp_case("gzip2_tile_crc_lies.fits", "a GZIP_2 tile whose CRC-32 trailer is wrong",
           Refused("damaged", "gzip"), gzip2_f32, lambda b: _gzip_field(b, 1, lambda t: t[:-8] + b"\0\0\0\0" + t[-4:]))
_comp_case("gzip2_tile_offset_mid_stream.fits", "a GZIP_2 tile descriptor whose offset lies (7 bytes into the stream)",
           Refused("damaged", "gzip"), gzip2_f32,
           lambda b: set_descriptor(b, 4, descriptors(b)[0][4][0] - 7, descriptors(b)[0][4][1] + 7))
_comp_case("gzip2_tile_offset_other_tile.fits", "a GZIP_2 tile descriptor pointing at another tile's whole stream: "
           "decoded (its values), as CFITSIO does", Processed(), gzip2_f32,
           lambda b: set_descriptor(b, 4, *descriptors(b)[0][6]))
_comp_case("gzip2_tile_beyond_file.fits", "a GZIP_2 tile descriptor whose offset points past the end of the file",
           Refused("beyond the end"), gzip2_f32, lambda b: set_descriptor(b, 3, descriptors(b)[0][3][0], 10 ** 8))
_comp_case("gzip2_tile_size_lies_long.fits", "a GZIP_2 tile descriptor longer than its stream (the next tile's "
           "bytes follow): the stream ends cleanly, the rest is ignored as CFITSIO ignores it", Processed(), gzip2_i16,
           lambda b: set_descriptor(b, 2, descriptors(b)[0][2][0] + descriptors(b)[0][3][0], descriptors(b)[0][2][1]))
_comp_case("gzip2_tile_bomb.fits", "a GZIP_2 tile inflating to 16000 bytes for 50 pixels",
           Refused("damaged", "more than"), gzip2_i16, lambda b: _gzip_replace(b, 1, b"\0" * 16000))
_comp_case("gzip2_tile_8_bytes_per_pixel.fits", "an int16 GZIP_2 tile inflating to 8 bytes per pixel (CFITSIO "
           "left such a tile unconverted and returned whatever its buffer held)", Refused("damaged", "bytes each"),
           gzip2_i16, lambda b: _gzip_replace(b, 1, b"\0" * 400))
_comp_case("gzip2_tile_4_bytes_per_pixel.fits", "an int16 GZIP_2 tile inflating to 4 bytes per pixel: CFITSIO "
           "converts it, so the own decoder hands that band to CFITSIO", Processed(), gzip2_i16,
           lambda b: _gzip_replace(b, 1, b"\0" * 200))
_comp_case("gzip_f64_alt_tile_4_bytes.fits", "a float64 image's GZIP_COMPRESSED_DATA tile inflating to 4 bytes per "
           "pixel (CFITSIO dereferenced a null buffer: SIGSEGV)", Refused("damaged", "gzip_compressed_data"),
           gzip_f64_q, lambda b: _to_alt_tile(b, 2, np.zeros(30, ">f4").tobytes()))
_comp_case("gzip_f64_alt_tile_ok.fits", "a float64 image with one lossless tile in GZIP_COMPRESSED_DATA",
           Processed(), gzip_f64_q, lambda b: _to_alt_tile(b, 2, np.arange(30, dtype=">f8").tobytes()))
_comp_case("gzip2_zquantiz_unknown.fits", "ZQUANTIZ = 'SUBTRACTIVE_DITHER_9' on a quantised float image",
           Refused("zquantiz", "no quantisation method"), gzip2_f32,
           lambda b: set_card(b, "ZQUANTIZ", "'SUBTRACTIVE_DITHER_9'"))
for _v in ("0", "-7", "10001", "2.5", "2147483648"):
    _comp_case("gzip2_zdither0_%s.fits" % _v, "ZDITHER0 = %s with subtractive dithering (CFITSIO read its random "
               "sequence at a negative index)" % _v, Refused("zdither0"), gzip2_f32,
               (lambda v: lambda b: set_card(b, "ZDITHER0", v))(_v))
_comp_case("gzip2_zdither0_10000.fits", "ZDITHER0 = 10000, the last seed the standard allows", Processed(),
           gzip2_f32, lambda b: set_card(b, "ZDITHER0", "10000"))
_comp_case("gzip2_zdither0_unused.fits", "ZDITHER0 = 0 with ZQUANTIZ = 'NO_DITHER' (no sequence is read)",
           Processed(), gzip2_f32, lambda b: (set_card(b, "ZQUANTIZ", "'NO_DITHER'"), set_card(b, "ZDITHER0", "0")))

_comp_case("hcompress_tile_flipped.fits", "an HCOMPRESS_1 tile with its bytes XORed",
           Refused("damaged"), lambda: compressed("HCOMPRESS_1", smooth16((64, 64))),
           lambda b: corrupt_tile(b, 0, _flip_all))
_comp_case("plio_tile_flipped.fits", "a PLIO_1 tile with its bytes XORed (CFITSIO's pl_l2pi overread)", Refused("damaged", "plio_1"),
           lambda: compressed("PLIO_1", np.random.default_rng(3).integers(0, 4000, (20, 30)).astype(np.int16)),
           lambda b: corrupt_tile(b, 1, _flip_all))


def _bad_xtension_cut(b):
    """XTENSION = %BINTABLE' (unquoted: CFITSIO reads the table as an image whose PCOUNT heap is pixel
    data) and the file cut inside the heap, not on a block boundary (so it is copied, not mapped)."""
    set_card(b, "XTENSION", "%BINTABLE'")
    hs, ds, n1, n2, heap = table_layout(b)
    del b[heap + 300:]
    assert len(b) % BLOCK


_comp_case("comp_bad_xtension_cut.fits", "malformed XTENSION value with ZIMAGE = T, heap cut short "
           "(CFITSIO's memfile read a 2880-byte record past the buffer; found by fuzz_fits_core)",
           Refused("truncated"), gzip16, _bad_xtension_cut)


# ------------------------------------------------------------------ E2. files that crashed CFITSIO or us
# One upload must never take the service down: each of these killed `fitsflow process` (SIGSEGV,
# SIGFPE) and, uploaded, `fitsflow serve`, whose queue then resumed the session at every restart.
# Every header is now judged on its raw bytes, the way CFITSIO reads cards, before CFITSIO opens
# the file (src/core/fits/prescan.c). Run against serve too.
REGRESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "regress", "fuzz_fits_core")


def _regress_file(name):
    with open(os.path.join(REGRESS, name), "rb") as f:
        return bytearray(f.read())


def _naxis_cards(n, first=None):
    return [card("SIMPLE", "T"), card("BITPIX", "-64"), card("NAXIS", str(n))] + \
        [card("NAXIS%d" % (i + 1), "1") for i in range(n)]


def _naxis104():
    """CFITSIO 4.2 frees a bad pointer while opening a header with NAXIS 104 or more."""
    return header(_naxis_cards(104)) + b"\0" * BLOCK


def _naxis104_extension():
    ext = [card("XTENSION", "'IMAGE   '"), card("BITPIX", "8"), card("NAXIS", "104")] + \
        [card("NAXIS%d" % (i + 1), "1") for i in range(104)] + [card("PCOUNT", "0"), card("GCOUNT", "1")]
    return GOOD16 + header(ext) + b"\0" * BLOCK


def _znaxis_neg():
    """A tile-compressed table with ZNAXIS = -1: CFITSIO gave -1 axes, fits.c divided by its empty
    first axis (SIGFPE)."""
    return header([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), card("EXTEND", "T")]) + \
        header([card("XTENSION", "'BINTABLE'"), card("BITPIX", "8"), card("NAXIS", "2"), card("NAXIS1", "8"),
                card("NAXIS2", "1"), card("PCOUNT", "0"), card("GCOUNT", "1"), card("TFIELDS", "1"),
                "TTYPE1  = 'COMPRESSED_DATA'".ljust(80), "TFORM1  = '1PB(0)'".ljust(80), card("ZIMAGE", "T"),
                "ZCMPTYPE= 'RICE_1'".ljust(80), card("ZBITPIX", "16"), card("ZNAXIS", "-1")]) + b"\0" * BLOCK


def _replace_card(b, key, text, start=BLOCK):
    pos = b.find(key.ljust(8).encode("latin-1"), start)
    assert pos >= 0 and (pos - start) % 80 == 0, key
    b[pos:pos + 80] = text.ljust(80).encode("latin-1")
    return b


def _plio_single_ztile(b):
    """plio-overread.fits without its first ZTILE2 card: CFITSIO and the checks now agree on 50
    one-row tiles, and tile 15's line list claims 2047 words in a 67-word tile."""
    pos = b.find(b"ZTILE2  =                   60", BLOCK)
    b[pos:pos + 80] = card("COMMENT", None, " was ZTILE2 = 60").encode("latin-1")
    return b


def plio16():
    return compressed("PLIO_1", np.random.default_rng(3).integers(0, 4000, (20, 30)).astype(np.int16))


def _plio_words(b, row):
    start, n = tile_bytes(b, row)  # n counts 16-bit words
    return start, n


def _plio_opcode1_last(b):
    """The last tile's list ends with opcode 1 ("set high value", two words): pl_l2pi reads the
    word after the tile."""
    desc, _ = descriptors(b)
    row = len(desc) - 1
    start, n = _plio_words(b, row)
    w = list(struct.unpack(">%dh" % n, bytes(b[start:start + 2 * n])))
    if w[2] > 0:
        w[2] = n
    else:
        w[3], w[4] = n % 32768, n // 32768
    w[n - 1] = 0x1000 | 5
    b[start:start + 2 * n] = struct.pack(">%dh" % n, *w)
    return b


def _plio_empty_list(b):
    """A tile whose list length is 0: pl_l2pi returns without writing a pixel, and CFITSIO hands
    on whatever its tile buffer held (memory of the process in the image)."""
    start, n = _plio_words(b, 2)
    w = list(struct.unpack(">%dh" % n, bytes(b[start:start + 2 * n])))
    if w[2] > 0:
        w[2] = 0
    else:
        w[3] = w[4] = 0
    b[start:start + 2 * n] = struct.pack(">%dh" % n, *w)
    return b


def hcomp16():
    return compressed("HCOMPRESS_1", smooth16((64, 64)))


def _hcompress_planes(t):
    """Bit-plane counts raised to 40 with nothing behind them: the decoder reads on past the tile."""
    t[22:25] = b"\x28\x28\x28"
    t[25:] = b"\xff" * (len(t) - 25)


for _name, _what, _build, _expect in [
    ("naxis104.fits", "NAXIS = 104 with its 104 axes (CFITSIO crashed opening it: free(0x1))",
     _naxis104, Refused("104 axes")),
    ("naxis200_all_axes.fits", "NAXIS = 200 with all its NAXISn cards", lambda: header(_naxis_cards(200)) + b"\0" * BLOCK,
     Refused("200 axes")),
    ("naxis104_extension.fits", "a good primary image, then an extension with NAXIS = 104 (CFITSIO crashed "
     "moving to it)", _naxis104_extension, Refused("hdu 1", "104 axes")),
    ("naxis104_xtension_space.fits", "the NAXIS = 104 extension written 'XTENSION = ' (a header CFITSIO reads "
     "that the checks did not see: SIGSEGV)", lambda: _naxis104_extension().replace(
         b"XTENSION= 'IMAGE   '", b"XTENSION = 'IMAGE   '", 1), Refused("hdu 1", "104 axes")),
    ("znaxis_neg.fits", "a compressed image with ZNAXIS = -1 (fits.c divided by zero)", _znaxis_neg,
     Refused("znaxis = -1")),
    ("plio-overread.fits", "a PLIO_1 image with two ZTILE2 cards: CFITSIO decoded 50 tiles, the checks one, and "
     "pl_l2pi read past tile 15 (found by fuzz_fits_core; SIGSEGV)", lambda: bytes(_regress_file("overread-plio-duplicate-ztile2")),
     Refused("two ztile2")),
    ("plio_overread_one_ztile2.fits", "the same file with one ZTILE2: tile 15's list claims 2047 of 67 words",
     lambda: bytes(_plio_single_ztile(_regress_file("overread-plio-duplicate-ztile2"))),
     Refused("damaged", "tile 15", "plio_1", "2047")),
]:
    case(_name, _what, _expect, serve=True)(writer(_name, _build))

for _name, _what, _expect, _base, _mutate in [
    ("plio_opcode1_last.fits", "a PLIO_1 list ending in the first word of a two-word instruction",
     Refused("damaged", "plio_1", "inside an instruction"), plio16, _plio_opcode1_last),
    ("plio_empty_list.fits", "a PLIO_1 list of length 0 (the decoder writes no pixel)",
     Refused("damaged", "plio_1", "empty"), plio16, _plio_empty_list),
    ("comp_znaxis_count_zero.fits", "a compressed image with ZNAXIS = 0", Refused("znaxis = 0"), rice16,
     lambda b: set_card(b, "ZNAXIS", "0")),
    ("comp_znaxis_count_four.fits", "a compressed image with ZNAXIS = 4", Refused("znaxis = 4"), rice16,
     lambda b: set_card(b, "ZNAXIS", "4")),
    ("comp_znaxis2_negative.fits", "ZNAXIS2 = -40", Refused("znaxis2", "positive"), rice16,
     lambda b: set_card(b, "ZNAXIS2", "-40")),
    ("comp_ztile1_equals_col7.fits", "'ZTILE1= 0' ('=' in column 7, which CFITSIO reads as ZTILE1 = 0: SIGFPE)",
     Refused("ztile1"), rice16, lambda b: _replace_card(b, "ZTILE1", "ZTILE1= 0")),
    ("comp_ztile1_equals_col11.fits", "'ZTILE1    = 0' ('=' in column 11, read by CFITSIO as a value)",
     Refused("ztile1"), rice16, lambda b: _replace_card(b, "ZTILE1", "ZTILE1    = 0")),
    ("comp_ztile1_hierarch.fits", "'HIERARCH ZTILE1 = 0' added (CFITSIO finds it for ZTILE1: SIGFPE)",
     Refused("two ztile1"), rice16, lambda b: _replace_card(b, "EXTNAME", "HIERARCH ZTILE1 = 0")),
    ("comp_ztile2_duplicate.fits", "ZNAME1 turned into a second ZTILE2 = 16 (CFITSIO might use either)",
     Refused("two ztile2"), rice16, lambda b: _replace_card(b, "ZNAME1", "ZTILE2  =                   16")),
    ("comp_zcmptype_nocompress.fits", "ZCMPTYPE = 'NOCOMPRESS' (CFITSIO refuses each tile and leaks its buffer)",
     Refused("nocompress", "not supported"), rice16, lambda b: set_card(b, "ZCMPTYPE", "'NOCOMPRESS'")),
    ("comp_naxis2_duplicate.fits", "the table's NAXIS2 given twice", Refused("two naxis2"), rice16,
     lambda b: _replace_card(b, "EXTNAME", card("NAXIS2", "1000"))),
    ("hcompress_planes_past_tile.fits", "an HCOMPRESS_1 tile claiming 40 bit planes with nothing behind them "
     "(CFITSIO's decoder takes no length and reads on)", Refused("damaged", "hcompress_1"), hcomp16,
     lambda b: corrupt_tile(b, 0, _hcompress_planes)),
    ("hcompress_tile_cut.fits", "an HCOMPRESS_1 tile cut to half by its descriptor", Refused("damaged", "runs past"),
     hcomp16, lambda b: set_descriptor(b, 0, descriptors(b)[0][0][0] // 2, descriptors(b)[0][0][1])),
]:
    def _build(d, name=_name, base=_base, mutate=_mutate):
        b = base()
        mutate(b)
        return writer(name, bytes(b))(d)
    case(_name, _what, _expect, serve=True)(_build)


# ------------------------------------------------------------------ F. odd observation metadata
# Files that read fine but whose metadata is nonsense: processed, the time problem noted.

for _n, _cards, _words in [
    ("date_garbage.fits", [card("DATE-OBS", "'yesterday'")], ["no observation time"]),
    ("date_month13.fits", [card("DATE-OBS", "'2011-13-45T00:00:00'")], ["month 13"]),
    ("date_feb30.fits", [card("T_OBS", "'2011-02-30T00:00:00Z'")], ["no observation time"]),
    ("date_year0.fits", [card("DATE-OBS", "'0000-01-01T00:00:00'")], ["no observation time"]),
    ("date_overlong.fits", [card("DATE-OBS", "'" + "2011-06-07T06:33:02." + "9" * 45 + "'")], []),
    ("date_number.fits", [card("DATE-OBS", "20110607")], ["no observation time"]),
    ("timesys_weird.fits", [card("DATE-OBS", "'2011-06-07T06:33:02'"), card("TIMESYS", "'MARS'")], []),
    ("time_obs_only.fits", [card("TIME-OBS", "'06:33:02'")], ["no observation time"]),
    ("exptime_string.fits", [card("EXPTIME", "'long'"), card("INSTRUME", "'AIA_3'"), card("WAVELNTH", "171")], []),
    ("exptime_negative.fits", [card("EXPTIME", "-2.0"), card("INSTRUME", "'AIA_3'"), card("WAVELNTH", "171")], []),
    ("exptime_zero.fits", [card("EXPTIME", "0.0"), card("INSTRUME", "'AIA_3'"), card("WAVELNTH", "171")], []),
    ("wavelnth_huge.fits", [card("INSTRUME", "'AIA_3'"), card("WAVELNTH", "99999999999999999999")], []),
    ("wavelnth_float.fits", [card("INSTRUME", "'AIA_3'"), card("WAVELNTH", "171.5")], []),
    ("crota2_nan_text.fits", [card("CROTA2", "'NaN'")], []),
    ("crota2_huge.fits", [card("CROTA2", "1.0E300")], []),
    ("crota2_135.fits", [card("CROTA2", "135.0")], []),
    ("instrume_long.fits", [card("TELESCOP", "'" + "SDO/" * 16 + "'"), card("INSTRUME", "'" + "H" * 66 + "'")], []),
    ("instrume_hmi_no_content.fits", [card("TELESCOP", "'SDO/HMI'"), card("INSTRUME", "'HMI_FRONT2'")], []),
]:
    case(_n, "metadata: " + " ".join(c[:8].strip() + "=" + c[10:30].strip() for c in _cards), Processed(*_words))(
        (lambda n, cs: writer(n, lambda: raw_image(16, (16, 16), cs)))(_n, _cards))

# ------------------------------------------------------------------ G. file names and paths

def _named(name, data=GOOD16):
    return writer(name, data)


case(".fits", "a file named just '.fits': processed with base '.fits' (hidden output names; reported)", Processed())(_named(".fits"))
case("name with spaces ü.fits", "spaces and non-ASCII letters in the name", Processed())(_named("name with spaces ü.fits"))
case("semi;colon&amp$(x).fits", "shell metacharacters in the name", Processed())(_named("semi;colon&amp$(x).fits"))
case("noext", "a FITS file without any ending", Processed())(_named("noext"))
case("UPPER.FITS", "an upper-case ending", Processed())(_named("UPPER.FITS"))
case("missing.fits", "a path that does not exist", Refused("cannot open"))(lambda d: os.path.join(d, "missing.fits"))
case("a_directory.fits", "a directory given as input", Refused("not a regular file"))(
    lambda d: (os.makedirs(os.path.join(d, "a_directory.fits"), exist_ok=True), os.path.join(d, "a_directory.fits"))[1])
case("fifo.fits", "a named pipe given as input", Refused("not a regular file"))(
    lambda d: (os.path.exists(os.path.join(d, "fifo.fits")) or os.mkfifo(os.path.join(d, "fifo.fits")),
               os.path.join(d, "fifo.fits"))[1])
case("dangling_link.fits", "a symbolic link to nothing", Refused("cannot open"))(
    lambda d: (os.path.lexists(os.path.join(d, "dangling_link.fits")) or
               os.symlink("/nonexistent/x.fits", os.path.join(d, "dangling_link.fits")),
               os.path.join(d, "dangling_link.fits"))[1])
case("dev_null.fits", "/dev/null (a character device)", Refused("not a regular file"))(
    lambda d: (os.path.lexists(os.path.join(d, "dev_null.fits")) or os.symlink("/dev/null", os.path.join(d, "dev_null.fits")),
               os.path.join(d, "dev_null.fits"))[1])


def _dup(d):
    sub = os.path.join(d, "dupdir")
    os.makedirs(sub, exist_ok=True)
    _named("dup.fits")(d)
    _named("dup.fits")(sub)
    return os.path.join(d, "dup.fits"), [], [os.path.join(sub, "dup.fits")]


case("dup.fits", "two inputs with the same name in one run", Refused("same name"))(_dup)

# ------------------------------------------------------------------ H. CLI configuration

def _cli(name, what, argv, expect, env=None):
    case(name, what, expect, kind="cli")(lambda d: ([a.replace("{d}", d) for a in argv], env or {}))


_cli("no_arguments", "fitsflow with no command", [], Usage(2, "usage"))
_cli("unknown_command", "an unknown subcommand", ["frobnicate"], Usage(2, "unknown command"))
_cli("process_no_files", "process with no files", ["process"], Usage(2, "no fits files"))
_cli("jobs_zero", "-j 0", ["process", "-j", "0", "{d}/g.fits"], Usage(2, "-j"))
_cli("ml_size_not_dividing", "--ml-size 300", ["process", "--ml-size", "300", "{d}/g.fits"],
     Usage(2, "--ml-size", "divides 4096"))
_cli("ml_size_zero", "--ml-size 0", ["process", "--ml-size", "0", "{d}/g.fits"], Usage(2, "--ml-size"))
_cli("ml_size_env", "FITSFLOW_ML_SIZE=8192", ["process", "{d}/g.fits"], Usage(2, "fitsflow_ml_size"),
     env={"FITSFLOW_ML_SIZE": "8192"})
_cli("jobs_too_many", "-j 257", ["process", "-j", "257", "{d}/g.fits"], Usage(2, "-j"))
_cli("jobs_text", "-j abc", ["process", "-j", "abc", "{d}/g.fits"], Usage(2, "-j"))
_cli("jobs_negative", "-j -4", ["process", "-j", "-4", "{d}/g.fits"], Usage(2, "-j"))
_cli("jobs_empty", "-j ''", ["process", "-j", "", "{d}/g.fits"], Usage(2, "-j"))
_cli("jobs_overflow", "-j 99999999999999999999999", ["process", "-j", "99999999999999999999999", "{d}/g.fits"], Usage(2, "-j"))
_cli("png_max_zero", "--png-max 0", ["process", "--png-max", "0", "{d}/g.fits"], Usage(2, "--png-max"))
_cli("png_max_negative", "--png-max -1", ["process", "--png-max", "-1", "{d}/g.fits"], Usage(2, "--png-max"))
_cli("png_max_huge", "--png-max 99999999", ["process", "--png-max", "99999999", "{d}/g.fits"], Usage(2, "--png-max"))
_cli("png_max_hex", "--png-max 0x100", ["process", "--png-max", "0x100", "{d}/g.fits"], Usage(2, "--png-max"))
_cli("max_pixels_zero", "--max-pixels 0", ["process", "--max-pixels", "0", "{d}/g.fits"], Usage(2, "--max-pixels"))
_cli("max_pixels_float", "--max-pixels 1e6", ["process", "--max-pixels", "1e6", "{d}/g.fits"], Usage(2, "--max-pixels"))
_cli("max_pixels_huge", "--max-pixels 2^41", ["process", "--max-pixels", str(2 ** 41), "{d}/g.fits"], Usage(2, "--max-pixels"))
_cli("unknown_option", "an unknown option", ["process", "--colour", "{d}/g.fits"], Usage(2, "usage"))
_cli("missing_option_value", "-o with no value", ["process", "-o"], Usage(2, "usage"))
_cli("output_is_file", "-o naming an existing regular file", ["process", "-o", "{d}/g.fits", "{d}/g.fits"],
     Usage(1, "output folder"))
_cli("output_under_file", "-o inside a regular file", ["process", "-o", "{d}/g.fits/sub", "{d}/g.fits"],
     Usage(1, "output folder"))
_cli("output_in_proc", "-o in a place that cannot be written (/proc)", ["process", "-o", "/proc/fitsflow-out", "{d}/g.fits"],
     Usage(1, "output folder"))
_cli("env_max_pixels_text", "FITSFLOW_MAX_PIXELS=lots", ["process", "{d}/g.fits"], Usage(2, "fitsflow_max_pixels"),
     {"FITSFLOW_MAX_PIXELS": "lots"})
_cli("env_max_pixels_zero", "FITSFLOW_MAX_PIXELS=0", ["process", "{d}/g.fits"], Usage(2, "fitsflow_max_pixels"),
     {"FITSFLOW_MAX_PIXELS": "0"})
_cli("env_max_pixels_negative", "FITSFLOW_MAX_PIXELS=-1", ["process", "{d}/g.fits"], Usage(2, "fitsflow_max_pixels"),
     {"FITSFLOW_MAX_PIXELS": "-1"})
_cli("env_png_max_text", "FITSFLOW_PNG_MAX=big", ["process", "{d}/g.fits"], Usage(2, "fitsflow_png_max"),
     {"FITSFLOW_PNG_MAX": "big"})
_cli("env_png_max_huge", "FITSFLOW_PNG_MAX=2^21", ["process", "{d}/g.fits"], Usage(2, "fitsflow_png_max"),
     {"FITSFLOW_PNG_MAX": str(2 ** 21)})
_cli("env_offline_maybe", "FITSFLOW_OFFLINE=maybe", ["process", "{d}/g.fits"], Usage(2, "fitsflow_offline"),
     {"FITSFLOW_OFFLINE": "maybe"})
_cli("env_asdf_compress_2", "FITSFLOW_ASDF_COMPRESS=2", ["process", "{d}/g.fits"], Usage(2, "fitsflow_asdf_compress"),
     {"FITSFLOW_ASDF_COMPRESS": "2"})
_cli("env_creator_control_chars", "FITSFLOW_ASDF_CREATOR with newlines, quotes and YAML syntax",
     ["process", "-q", "-o", "{d}/out_creator", "{d}/g.fits"], Usage(0),
     {"FITSFLOW_ASDF_CREATOR": "a\nb: [c\"'\t{&*!|>%@`"})
_cli("env_description_long", "FITSFLOW_ASDF_DESCRIPTION of 100 KB", ["process", "-q", "-o", "{d}/out_desc", "{d}/g.fits"],
     Usage(0), {"FITSFLOW_ASDF_DESCRIPTION": "x" * 100000})
_cli("env_png_max_empty", "FITSFLOW_PNG_MAX='' (empty means default)", ["process", "-q", "-o", "{d}/out_empty", "{d}/g.fits"],
     Usage(0), {"FITSFLOW_PNG_MAX": ""})

# ------------------------------------------------------------------ I. HTTP requests to `fitsflow serve`
# Run against one real server (serve_cases.py): each bad request gets its status and a JSON error,
# and after each the stored upload is unchanged and nothing new is stored.

from serve_cases import Expect as _Expect  # noqa: E402


def _req(name, what, expect, build):
    case(name, what, expect, kind="request")(build)


def _get(target, headers=()):
    return lambda ctx: ("GET", target(ctx) if callable(target) else target, list(headers), b"")


_T = "/FitsFlow-2-Trigger?"
_OCT = [("Content-Type", "application/octet-stream")]


def _put(target, headers=_OCT, body=b"SIMPLE  = x"):
    return lambda ctx: ("PUT", target(ctx), list(headers), body)


def _sid_key(ctx, name):
    return f"temp/{ctx.sid}/fits/{name}"


# traversal in every form
_req("req_traversal_dotdot", "GET /temp/../outside.fits", _Expect(400, words=["bad object path"]), _get("/temp/../outside.fits"))
_req("req_traversal_encoded", "GET /temp/%2e%2e/%2e%2e/etc/passwd", _Expect(400), _get("/temp/%2e%2e/%2e%2e/etc/passwd"))
_req("req_traversal_in_session", "GET /temp/S/fits/..%2f..%2fsecret", _Expect(400),
     _get(lambda c: f"/temp/{c.sid}/fits/..%2f..%2fsecret"))
_req("req_traversal_backslash", "GET /daily_videos/..%5c..%5csecret", _Expect(400), _get("/daily_videos/..%5c..%5csecret"))
_req("req_traversal_nul", "GET /temp/S/fits/good.fits%00.png", _Expect(400),
     _get(lambda c: f"/temp/{c.sid}/fits/good.fits%00.png"))
_req("req_traversal_web", "GET /..%2f..%2fetc%2fpasswd (browser client files)", _Expect(404), _get("/..%2f..%2fetc%2fpasswd"))
_req("req_traversal_double_slash", "GET //etc/passwd", _Expect(404), _get("//etc/passwd"))
_req("req_hidden_secret", "GET /temp/S/.secret (hidden names are never served)", _Expect(404),
     _get(lambda c: f"/temp/{c.sid}/.secret"))
_req("req_folder_listing", "GET /temp/S/fits/ (no listings)", _Expect(404), _get(lambda c: f"/temp/{c.sid}/fits/"))
_req("req_traversal_signed_put", "a correctly signed PUT to temp/S/fits/../x.fits", _Expect(400),
     _put(lambda c: c.signed(_sid_key(c, "../x.fits"))))
_req("req_put_outside_fits", "a correctly signed PUT to temp/S/processed/x.fits", _Expect(400, words=["uploads go to"]),
     _put(lambda c: c.signed(f"temp/{c.sid}/processed/x.fits")))

# session ids
_req("req_sid_missing", "Trigger without session_id", _Expect(400, words=["session_id required"]), _get(_T + "filename=a.fits"))
_req("req_sid_short", "session_id of 3 characters", _Expect(400, words=["8 to 64"]), _get(_T + "session_id=abc&filename=a.fits"))
_req("req_sid_upper", "session_id in upper case", _Expect(400), _get(_T + "session_id=ABCDEFGHIJ&filename=a.fits"))
_req("req_sid_long", "session_id of 65 characters", _Expect(400), _get(_T + "session_id=" + "a" * 65 + "&filename=a.fits"))
_req("req_sid_slash", "session_id with an encoded slash", _Expect(400), _get(_T + "session_id=abcdefgh%2F..&filename=a.fits"))
_req("req_sid_status_upper", "GET /api/sessions/UPPER-CASE-ID", _Expect(400), _get("/api/sessions/UPPER-CASE-ID"))
_req("req_sid_archive_short", "GET /api/sessions/abc/archive.zip", _Expect(400), _get("/api/sessions/abc/archive.zip"))
_req("req_sid_events_nul", "GET /api/sessions/abcdefgh%00/events", _Expect(400), _get("/api/sessions/abcdefgh%00/events"))

# file names
for _n, _fname, _what in [("dotdot", "..%2Fx.fits", "../x.fits"), ("hidden", ".hidden.fits", "a leading dot"),
                          ("txt", "notes.txt", "a .txt ending"), ("summary", "summary.fits", "a log name"),
                          ("long", "a" * 201 + ".fits", "201+ bytes"), ("nul", "a%00.fits", "an encoded NUL"),
                          ("space", "a%20b.fits", "a space"), ("empty", "", "an empty name"),
                          ("percent", "a.fits%2500", "a literal %00 after decoding")]:
    _req("req_name_" + _n, "filename with " + _what, _Expect(400),
         (lambda f: _get(lambda c: _T + f"session_id={c.sid}&filename={f}&contentType=application/octet-stream"))(_fname))
_req("req_content_type_ctl", "contentType with a control character", _Expect(400, words=["contenttype"]),
     _get(lambda c: _T + f"session_id={c.sid}&filename=a.fits&contentType=a%0Ab"))

# presigned URLs
_req("req_put_unsigned", "PUT without a signature", _Expect(403, words=["no signature"]),
     _put(lambda c: "/" + _sid_key(c, "new.fits")))
_req("req_put_altered", "PUT with one hex digit of the signature changed", _Expect(403, words=["does not match"]),
     _put(lambda c: c.signed(_sid_key(c, "new.fits"), sig=("0" if c.sign("PUT", _sid_key(c, "new.fits"), c.now + 300, "application/octet-stream")[0] != "0" else "1")
                              + c.sign("PUT", _sid_key(c, "new.fits"), c.now + 300, "application/octet-stream")[1:])))
_req("req_put_expired", "PUT with a correct signature that expired a minute ago", _Expect(403, words=["expired"]),
     _put(lambda c: c.signed(_sid_key(c, "new.fits"), expires=c.now - 60)))
_req("req_put_expiry_altered", "PUT with the expiry moved later (signature unchanged)", _Expect(403, words=["does not match"]),
     _put(lambda c: c.signed(_sid_key(c, "new.fits"), expires=c.now + 9000,
                             sig=c.sign("PUT", _sid_key(c, "new.fits"), c.now + 300, "application/octet-stream"))))
_req("req_put_other_key", "PUT to good.fits with new.fits's signature (overwrite attempt)", _Expect(403),
     _put(lambda c: c.signed(c.good_key, sig=c.sign("PUT", _sid_key(c, "new.fits"), c.now + 300, "application/octet-stream"))))
_req("req_put_other_type", "PUT with another Content-Type than signed", _Expect(403),
     _put(lambda c: c.signed(_sid_key(c, "new.fits")), headers=[("Content-Type", "text/html")]))
_req("req_put_get_signature", "PUT with a signature made for GET", _Expect(403),
     _put(lambda c: c.signed(_sid_key(c, "new.fits"), sig=c.sign("GET", _sid_key(c, "new.fits"), c.now + 300, "application/octet-stream"))))
_req("req_put_sig_not_hex", "PUT with 64 'z' as signature", _Expect(403), _put(lambda c: c.signed(_sid_key(c, "new.fits"), sig="z" * 64)))
_req("req_put_sig_short", "PUT with a 63-digit signature", _Expect(403), _put(lambda c: c.signed(_sid_key(c, "new.fits"), sig="a" * 63)))
_req("req_put_expires_text", "PUT with X-FitsFlow-Expires=soon", _Expect(403), _put(lambda c: c.signed(_sid_key(c, "new.fits"), expires="soon")))
_req("req_put_expires_huge", "PUT with a 20-digit expiry", _Expect(403), _put(lambda c: c.signed(_sid_key(c, "new.fits"), expires="9" * 20)))
_req("req_put_dup_signature", "two signatures, a bad one first (the first wins)", _Expect(403),
     _put(lambda c: c.signed(_sid_key(c, "new.fits")).replace("X-FitsFlow-Signature=", "X-FitsFlow-Signature=" + "0" * 64 + "&X-FitsFlow-Signature=")))

# sizes
_req("req_header_huge", "one 20 KB header (the limit is 16 KB)", _Expect(431, json=False), _get("/healthz", [("X-Big", "a" * 20000)]))
_req("req_headers_many", "400 headers of 60 bytes", _Expect(431, json=False),
     _get("/api/config", [("X-H%03d" % i, "b" * 60) for i in range(400)]))
_req("req_body_too_big", "POST /api/sessions with a 100 KB body", _Expect(413, words=["larger than"]),
     lambda c: ("POST", "/api/sessions", [("Content-Type", "application/json")], b"{" + b" " * 100000 + b"}"))
_req("req_put_over_limit", "a signed PUT of 2 MB into a 1 MB session (Expect: 100-continue)", _Expect(413),
     _put(lambda c: c.signed(_sid_key(c, "big.fits")), headers=_OCT + [("Content-Length", "2000000"), ("Expect", "100-continue")]))
_req("req_put_chunked", "a signed PUT with a chunked body", _Expect(411),
     _put(lambda c: c.signed(_sid_key(c, "chunk.fits")), headers=_OCT + [("Transfer-Encoding", "chunked")], body=b"5\r\nhello\r\n0\r\n\r\n"))
_req("req_put_length_text", "a signed PUT with Content-Length: lots", _Expect(400, json=False),
     _put(lambda c: c.signed(_sid_key(c, "len.fits")), headers=_OCT + [("Content-Length", "lots")], body=b""))

# Range and conditional headers on the stored upload
def _range(value, status, json_=False, name="Range"):
    return _Expect(status, json=json_), (lambda c: ("GET", "/" + c.good_key, [(name, value)], b""))


for _n, _v, _st, _j in [("past_end", "bytes=999999999-", 416, True), ("suffix_zero", "bytes=-0", 416, True),
                        ("reversed", "bytes=5-1", 200, False), ("multi", "bytes=0-0,5-6", 200, False),
                        ("unit", "items=0-5", 200, False), ("digits", "bytes=99999999999999999999-", 416, True),
                        ("past_2_63", "bytes=9223372036854775808-", 416, True),
                        ("negative", "bytes=-5-3", 200, False), ("garbage", "bytes=\x01\x02", 200, False)]:
    _e, _b = _range(_v, _st, _j)
    _req("req_range_" + _n, "Range: " + _v.encode("unicode_escape").decode(), _e, _b)
_e, _b = _range('"unterminated', 200, name="If-None-Match")
_req("req_if_none_match_bad", "If-None-Match with an unterminated tag", _e, _b)
_e, _b = _range("yesterday at noon", 200, name="If-Modified-Since")
_req("req_if_modified_since_bad", "If-Modified-Since that is not a date", _e, _b)
_e, _b = _range('"some-other-version"', 412, True, name="If-Match")
_req("req_if_match_other", "If-Match naming another version", _e, _b)
_e, _b = _range("Sat, 01 Jan 2000 00:00:00 GMT", 412, True, name="If-Unmodified-Since")
_req("req_if_unmodified_since_past", "If-Unmodified-Since before the object was written", _e, _b)
_e, _b = _range("yesterday at noon", 200, name="If-Unmodified-Since")
_req("req_if_unmodified_since_bad", "If-Unmodified-Since that is not a date (ignored)", _e, _b)

# methods
_req("req_method_delete", "DELETE of the stored upload", _Expect(405, check=lambda c, s, h, d: "allow" in h),
     lambda c: ("DELETE", "/" + c.good_key, [], b""))
_req("req_method_patch", "PATCH /api/config", _Expect(405), lambda c: ("PATCH", "/api/config", [], b""))
_req("req_method_brew", "BREW / (an unknown method)", _Expect(405), lambda c: ("BREW", "/", [], b""))
_req("req_method_trace", "TRACE /healthz", _Expect(405), lambda c: ("TRACE", "/healthz", [], b""))
_req("req_method_post_trigger", "POST /FitsFlow-2-Trigger", _Expect(405), lambda c: ("POST", _T + "session_id=abcdefgh", [], b""))
_req("req_unknown_api", "GET /api/nothing", _Expect(404), _get("/api/nothing"))

# bodies that are not JSON (no route reads a JSON body: it is ignored, not parsed)
_req("req_bad_json_body", "POST /api/sessions with a body that is not JSON", _Expect(201, json=False,
     check=lambda c, s, h, d: len(json.loads(d)["session_id"]) == 32 or (_ for _ in ()).throw(AssertionError(d))),
     lambda c: ("POST", "/api/sessions", [("Content-Type", "application/json")], b'{"session_id": "../x", '))

# query strings
_req("req_query_dup_name_first_good", "filename twice, the good one first: the first wins",
     _Expect(200, json=False, check=lambda c, s, h, d: json.loads(d)["key"].endswith("/fits/a.fits") or (_ for _ in ()).throw(AssertionError(d))),
     _get(lambda c: _T + f"session_id={c.sid}&filename=a.fits&filename=..%2Fb.fits"))
_req("req_query_dup_name_first_bad", "filename twice, the bad one first", _Expect(400),
     _get(lambda c: _T + f"session_id={c.sid}&filename=..%2Fb.fits&filename=a.fits"))
_req("req_query_no_equals", "session_id without '='", _Expect(400, words=["session_id required"]), _get(_T + "session_id&filename=a.fits"))
_req("req_query_empty_key", "'=x&&&' and an empty session_id", _Expect(400), _get(_T + "=x&&&session_id=&filename=a.fits"))
_req("req_query_bad_escape", "session_id=%zz%4", _Expect(400), _get(_T + "session_id=%zz%4&filename=a.fits"))
_req("req_query_nul_escape", "session_id with %00 inside", _Expect(400), _get(_T + "session_id=abcdefgh%00ijk&filename=a.fits"))
_req("req_query_raw_nul", "a raw NUL byte in the request line (libmicrohttpd cuts the URL at it)",
     _Expect(400, json=False, known="libmicrohttpd 0.9.75 ends the URL at a raw NUL and the request is served "
             "for the prefix (here a presigned URL for a.fits); FitsFlow's own code never sees the NUL"),
     lambda c: ("GET", (_T + f"session_id={c.sid}&filename=a.fits\0../../x.fits").encode(), [], b""))
_req("req_query_huge", "a 40 KB query string", _Expect(400, words=["session_id"]), _get(_T + "session_id=" + "a" * 40000))


# ------------------------------------------------------------------ J. `fitsflow serve` configuration
# Bad settings: serve must exit 2 at once with a message naming the setting.

class _Exit:
    kind = "serve"

    def __init__(self, status):
        self.status = status


def _serve_cfg(name, env, words, args=()):
    case(name, "serve with " + (" ".join("%s=%r" % kv for kv in env.items()) or " ".join(args)), _Exit(2),
         kind="serve")(lambda d: (env, list(args), words))


_serve_cfg("serve_listen_no_port", {"FITSFLOW_LISTEN": "127.0.0.1"}, ["fitsflow_listen", "port"], )
_serve_cfg("serve_listen_port_big", {"FITSFLOW_LISTEN": "127.0.0.1:99999"}, ["fitsflow_listen", "port"])
_serve_cfg("serve_listen_flag_bad", {}, ["port"], ["--listen", "localhost:http"])
_serve_cfg("serve_workers_zero", {"FITSFLOW_WORKERS": "0"}, ["fitsflow_workers"])
_serve_cfg("serve_ml_size_not_dividing", {"FITSFLOW_ML_SIZE": "300"}, ["fitsflow_ml_size", "divides 4096"])
_serve_cfg("serve_workers_text", {"FITSFLOW_WORKERS": "many"}, ["fitsflow_workers"])
_serve_cfg("serve_limit_zero", {"FITSFLOW_SESSION_LIMIT_MB": "0"}, ["fitsflow_session_limit_mb"])
_serve_cfg("serve_limit_negative", {"FITSFLOW_SESSION_LIMIT_MB": "-170"}, ["fitsflow_session_limit_mb"])
_serve_cfg("serve_ttl_huge", {"FITSFLOW_PRESIGN_TTL": "99999999999"}, ["fitsflow_presign_ttl"])
_serve_cfg("serve_secret_short", {"FITSFLOW_SECRET": "short"}, ["fitsflow_secret", "16"])
_serve_cfg("serve_header_bytes_small", {"FITSFLOW_MAX_HEADER_BYTES": "10"}, ["fitsflow_max_header_bytes"])
_serve_cfg("serve_http_threads_huge", {"FITSFLOW_HTTP_THREADS": "100000"}, ["fitsflow_http_threads"])
_serve_cfg("serve_retention_zero", {"FITSFLOW_RETENTION_HOURS": "0"}, ["fitsflow_retention_hours"])
_serve_cfg("serve_rate_limit_text", {"FITSFLOW_RATE_LIMIT": "fast"}, ["fitsflow_rate_limit"])
_serve_cfg("serve_timeout_zero", {"FITSFLOW_REQUEST_TIMEOUT": "0"}, ["fitsflow_request_timeout"])
_serve_cfg("serve_header_timeout_zero", {"FITSFLOW_HEADER_TIMEOUT": "0"}, ["fitsflow_header_timeout"])
_serve_cfg("serve_offline_maybe", {"FITSFLOW_OFFLINE": "maybe"}, ["fitsflow_offline"])
_serve_cfg("serve_log_level_bad", {"FITSFLOW_LOG_LEVEL": "loud"}, ["fitsflow_log_level"])
_serve_cfg("serve_cron_bad", {"FITSFLOW_CLEAN_CRON": "every day"}, ["fitsflow_clean_cron"])
_serve_cfg("serve_lease_seconds_one", {"FITSFLOW_LEASE_SECONDS": "1"}, ["fitsflow_lease_seconds"])
_serve_cfg("serve_lease_settle_text", {"FITSFLOW_LEASE_SETTLE_MS": "soon"}, ["fitsflow_lease_settle_ms"])
_serve_cfg("serve_lease_settle_too_long", {"FITSFLOW_LEASE_SECONDS": "4", "FITSFLOW_LEASE_SETTLE_MS": "2000"},
           ["fitsflow_lease_settle_ms", "quarter"])
_serve_cfg("serve_data_dir_long", {"FITSFLOW_DATA_DIR": "/tmp/" + "d" * 5000}, ["fitsflow_data_dir"], )
