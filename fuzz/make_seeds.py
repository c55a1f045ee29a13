"""Writes the seed corpora of the fuzz harnesses from the project's test fixtures (tests/e2e/fitsgen.py,
which also copies sunpy's real SDO files), sunpy's header samples and small tile-compressed images
of every kind (written by astropy through CFITSIO's encoders), whose tiles seed the decoder harnesses. Seeds are generated, not
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


def tiles_of(path):
    """(ZCMPTYPE, bytepix, blocksize, npix, raw tile bytes as in the file) of every tile."""
    tiles = []
    with fits.open(path, disable_image_compression=True) as hdul:
        for h in hdul[1:]:
            hd = h.header
            if not hd.get("ZIMAGE"):
                continue
            ctype = hd.get("ZCMPTYPE", "")
            blocksize = int(hd.get("ZVAL1", 32))
            bytepix = int(hd.get("ZVAL2", 4))
            n = hd["ZNAXIS"]
            axes = [hd["ZNAXIS%d" % (i + 1)] for i in range(n)]
            tile = [hd.get("ZTILE%d" % (i + 1), axes[0] if i == 0 else 1) for i in range(n)]
            counts = [(a + t - 1) // t for a, t in zip(axes, tile)]
            col = h.data["COMPRESSED_DATA"]
            for row in range(min(len(col), 40)):
                idx, npix = row, 1
                for a, t, c in zip(axes, tile, counts):
                    k = idx % c
                    idx //= c
                    npix *= min(t, a - k * t)
                arr = np.asarray(col[row])
                raw = arr.astype(">i2").tobytes() if ctype == "PLIO_1" else bytes(arr.astype(np.uint8))
                tiles.append((ctype, bytepix, blocksize, npix, raw))
    return tiles


def compressed_seeds(out, tmp):
    """Small tile-compressed images of every kind astropy writes (through CFITSIO's own encoders):
    whole files for fuzz_prescan and fuzz_tiles, their tiles for the decoder harnesses."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:37, 0:53]
    smooth = (900 * np.exp(-((x - 26) ** 2 + (y - 18) ** 2) / 300.0) + rng.normal(0, 6, x.shape))
    mask = ((x // 7 + y // 5) % 4 * ((x + y) % 11 > 3)).astype(np.int16)
    images = [("RICE_1", smooth.astype(np.int16), {}), ("RICE_1", smooth.astype(np.int32), {}),
              ("RICE_1", smooth.astype(np.uint8), {"tile_shape": (5, 53)}),
              ("RICE_1", smooth.astype(np.float32), {"tile_shape": (4, 16)}),
              ("GZIP_1", smooth.astype(np.int16), {}), ("GZIP_2", smooth.astype(np.float64), {"quantize_level": 0.0}),
              ("GZIP_1", smooth.astype(np.float32), {"tile_shape": (8, 8)}),
              ("HCOMPRESS_1", smooth.astype(np.int16), {"tile_shape": (16, 20)}),
              ("HCOMPRESS_1", smooth.astype(np.int32), {"tile_shape": (37, 53), "hcomp_scale": 2}),
              ("HCOMPRESS_1", smooth.astype(np.int16)[:7, :9], {"tile_shape": (7, 9)}),
              ("HCOMPRESS_1", smooth.astype(np.int16)[:4, :5], {"tile_shape": (4, 5)}),
              ("HCOMPRESS_1", (smooth * 4000).astype(np.int32)[:12, :33], {"tile_shape": (12, 11)}),
              ("HCOMPRESS_1", smooth.astype(np.float32), {"tile_shape": (16, 16), "hcomp_scale": 2.5}),
              ("HCOMPRESS_1", smooth.astype(np.uint8), {"tile_shape": (6, 53), "hcomp_smooth": 1}),
              ("PLIO_1", mask, {}), ("PLIO_1", (mask * 700).astype(np.int32), {"tile_shape": (3, 53)}),
              ("PLIO_1", np.zeros((4, 30), np.int16), {})]
    for i, (ctype, data, kw) in enumerate(images):
        p = os.path.join(tmp, "seed_%d.fits" % i)
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type=ctype, **kw)]).writeto(p, overwrite=True)
        raw = open(p, "rb").read()
        for h in ("fuzz_prescan", "fuzz_tiles", "fuzz_fits_core"):
            put(os.path.join(out, h), raw)
        for ctype_, bytepix, blocksize, npix, tile in tiles_of(p):
            if ctype_ == "PLIO_1":
                put(os.path.join(out, "fuzz_plio"), bytes([((npix - 1) >> 8) & 0xFF, (npix - 1) & 0xFF]) + tile)
            elif ctype_ == "HCOMPRESS_1":
                put(os.path.join(out, "fuzz_hcompress"), tile)
            elif ctype_.startswith("GZIP"):
                widths = 0b1100 if data.dtype.kind == "f" and "quantize_level" in kw else 0xF
                sel = {1: 0, 2: 1}.get(data.dtype.itemsize, 2) << 4  # the decoder's integer width
                sel |= 0x40 if ctype_ == "GZIP_2" else 0
                put(os.path.join(out, "fuzz_gzip"),
                    bytes([widths | sel, ((npix - 1) >> 8) & 0xFF, (npix - 1) & 0xFF]) + tile)


def gzip_image_seeds(out):
    """fuzz_gzip_image: every kind of image, GZIP_1 and GZIP_2, each dithering, pixels of smooth
    data with NaN, infinities and zeros among them (see the harness for the layout)."""
    rng = np.random.default_rng(17)
    y, x = np.mgrid[0:24, 0:40]
    smooth = 300 * np.sin(x / 7.0) * np.cos(y / 5.0) + rng.normal(0, 4, x.shape)
    dtypes = [">u1", ">i2", ">i4", ">f4", ">f8", ">f4", ">f8", ">i2"]
    for kind in range(8):
        a = smooth.astype(dtypes[kind] if kind else ">f8")
        if kind == 0:
            a = (smooth - smooth.min()).astype(">u1")
        if a.dtype.kind == "f":
            a.flat[::97] = np.nan
            a.flat[5] = np.inf
            a.flat[6] = 0.0
        for gz2 in (0, 8):
            for method in (0, 1, 2):
                for extra in (0, 0x40, 0x80):
                    cfg = kind | gz2 | method << 4 | (extra & 0x40)
                    head = bytes([cfg | (extra & 0x80), 39, 23, 0x88 if kind in (3, 4) else 8, 0x12, 0x34])
                    body = a.tobytes()
                    if extra & 0x80:
                        body += bytes(rng.integers(0, 256, 12, dtype=np.uint8))
                    put(os.path.join(out, "fuzz_gzip_image"), head + body)


def server_and_remote_seeds(out):
    """fuzz_http: query strings, paths and header values of the kind the tests send;
    fuzz_jsoc: the fixture server's listing pages (three markups); fuzz_remote_json: its
    getClosestImage and events answers and Helioviewer's error shapes."""
    import datetime as dt
    import json
    import fixture_server as fx
    sid = "0123456789abcdef0123456789abcdef"
    for q in ["session_id=%s&filename=aia_171.fits&contentType=application/octet-stream" % sid,
              "session_id=%s" % sid, "session_id=%s&filename=..%%2F..%%2Fetc%%2Fpasswd" % sid,
              "session_id=%s&filename=a.fits&filename=b.fits&contentType=" % sid,
              "session_id=%s&filename=x%%00.fits&contentType=image%%2Ffits" % sid,
              "X-FitsFlow-Expires=1700000300&X-FitsFlow-Signature=" + "ab" * 32 +
              "&session_id=%s&filename=hmi.fits.gz" % sid, "session_id&filename=&=x&%zz=%4", "a=b&&&c"]:
        put(os.path.join(out, "fuzz_http"), q.encode())
    for pth in ["temp/%s/fits/aia.fits" % sid, "temp/%s/processed/data/aia_data.csv" % sid,
                "temp/../etc/passwd", "temp/%s/fits/..%%2fx.fits" % sid, "daily_videos/20240101_stitched.mp4",
                "temp//fits/a.fits", "temp/%s/fits/a/b.fits" % sid]:
        put(os.path.join(out, "fuzz_http"), pth.encode())
    for h in ["bytes=0-99", "bytes=-500", "bytes=100-", "bytes=5-1", "bytes=0-0,2-3", "Bytes = 1-2",
              "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
              'W/"abc", "def"\n"def"', '*\n"x"', '"a-1-2"\nW/"a-1-2"']:
        put(os.path.join(out, "fuzz_http"), h.encode().replace(b"\\n", b"\n"))
    day = dt.date(2013, 6, 24)
    # header bytes: kind/wavelength selector, then the target time (seconds since 1970, big-endian)
    target = struct.pack(">I", 1372094491)
    for markup in ("apache", "nginx", "odd"):
        for sel, names in [(2 << 2, fx.aia_names(day, 171, step_s=1800)), (1, fx.hmi_names(day, step_s=7200)),
                           (2, fx.hmi_names(day, step_s=7200))]:
            page = fx.index_page("/data/aia/images/2013/06/24/171/", names, markup).encode()
            put(os.path.join(out, "fuzz_jsoc"), bytes([sel]) + target + page)
    put(os.path.join(out, "fuzz_jsoc"), bytes([0]) + target + fx.index_page("/x/", [], "apache").encode())
    closest = {"id": 34205715, "date": "2013-06-22 17:51:36", "scale": 0.58996068317702,
               "scaleCorrection": 1.01701692521, "width": 4096, "height": 4096, "refPixelX": 2048.5,
               "refPixelY": 2048.5, "rsun": 1600, "sunCenterOffsetParams": [], "layeringOrder": 1}
    for body in [json.dumps(closest), json.dumps(dict(closest, id="34205715")),
                 json.dumps(dict(closest, date="2013-06-25 17:51:36")), '{"error": "Invalid date or sourceId"}',
                 "[]", json.dumps(fx._hek_tree("2013-06-22T17:51:31Z", "2013-06-22T19:51:31Z"), indent=1),
                 '{"AR": [{"a": 1}], "FL": []}', '[{"s": "\\u0000\\ud83d\\ude00 \\"q\\" - [x]: {y}", "n": -0.0,'
                 ' "big": 1e400, "i": 9223372036854775807, "t": true, "z": null, "k": {"": "#&*!|>%@`"}}]']:
        put(os.path.join(out, "fuzz_remote_json"), body.encode())


def s3_xml_seeds(out):
    """fuzz_s3_xml: a selector byte (0 listing, 1 error, 2 multipart start, 3 completion), then
    answers of the shapes AWS documents and s3rver writes."""
    ns = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
    item = ("<Contents><Key>temp/s/fits/a&amp;b.fits</Key><LastModified>2024-05-06T07:08:09.000Z"
            "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>5760</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>")
    for body in [decl + f"<ListBucketResult{ns}><Name>b</Name><Prefix>temp/</Prefix><KeyCount>2</KeyCount>"
                 f"<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcx/"
                 f"Tr==</NextContinuationToken>{item}{item}</ListBucketResult>",
                 f"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
                 f"<ListBucketResult><Contents><Key><![CDATA[a]]></Key><Size>0</Size></Contents></ListBucketResult>"]:
        put(os.path.join(out, "fuzz_s3_xml"), b"\x00" + body.encode())
    err = decl + "<Error><Code>NoSuchKey</Code><Message>The resource &lt;k&gt;</Message><Resource>/b/k" \
                 "</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    for sel in (b"\x01", b"\x02", b"\x03", b"\x00"):
        put(os.path.join(out, "fuzz_s3_xml"), sel + err.encode())
    put(os.path.join(out, "fuzz_s3_xml"), b"\x02" + (decl + f"<InitiateMultipartUploadResult{ns}><Bucket>b"
        "</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>").encode())
    put(os.path.join(out, "fuzz_s3_xml"), b"\x03" + ("    \n" + decl + "<CompleteMultipartUploadResult>"
        "<Location>http://b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>\"3858f6-9\"</ETag>"
        "</CompleteMultipartUploadResult>").encode())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    server_and_remote_seeds(out)
    s3_xml_seeds(out)
    tmp = tempfile.mkdtemp(prefix="ff-seeds-")
    try:
        good = fitsgen.write_good(tmp)
        bad = fitsgen.write_bad(tmp)
        compressed_seeds(out, tmp)
        gzip_image_seeds(out)
        for name in good + bad:
            p = os.path.join(tmp, name)
            data = open(p, "rb").read()
            if len(data) <= MAX_SEED:
                put(os.path.join(out, "fuzz_fits_core"), data)
                put(os.path.join(out, "fuzz_fits_scan"), b"\0" + data)
                if data[:2] != b"\x1f\x8b":  # the check harnesses take FITS bytes, not gzip
                    put(os.path.join(out, "fuzz_prescan"), data)
                    put(os.path.join(out, "fuzz_tiles"), data)
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
        # level 1.5: selector byte + cards overriding a valid binned AIA header
        cards = [
            b"",
            b"CROTA2  =                180.0",
            b"CROTA2  =                 45.0",
            b"PC1_1   =   0.9510565162951535PC1_2   =  -0.3090169943749474".ljust(80)[:80] +
            b"PC2_1   =   0.3090169943749474".ljust(80) + b"PC2_2   =   0.9510565162951535".ljust(80),
            b"CD1_1   =                 38.4CD2_2   =                 38.4",
            b"CDELT1  =                  NaN",
            b"CRPIX1  =             100000.0",
            b"CUNIT1  = 'deg     '",
            b"CTYPE1  = 'RA---TAN'",
            b"WCSAXES =                    3",
        ]
        for i, c in enumerate(cards):
            for sel in (0, 1 | 2, 8, 32 | 64, 4 | 128 if i == 0 else 128):
                put(os.path.join(out, "fuzz_prep"), bytes([sel]) + c.ljust(80 * max(1, (len(c) + 79) // 80)))
        h = fits.Header.fromstring(open(os.path.join(fitsgen.SUNPY_TEST, "aia_171_level1.fits"), "rb").read(2880 * 3).decode("ascii", "replace").split("END" + " " * 77)[0] + "END" + " " * 77)
        put(os.path.join(out, "fuzz_prep"), bytes([4 | 32]) + h.tostring().encode("ascii", "replace"))
        # the deflate encoder: pixel rows of the good files' data, flat and noisy, at each period
        rng = np.random.default_rng(8)
        for period, sel in ((0, 0), (1, 1), (2, 2), (4, 4), (8, 8)):
            flat = bytes(rng.integers(0, 256, period or 1, dtype=np.uint8)) * 300
            noisy = rng.normal(1000, 30, 400).astype(">i2").tobytes()
            put(os.path.join(out, "fuzz_deflate"), bytes([sel, 1]) + flat + noisy + flat)
            put(os.path.join(out, "fuzz_deflate"), bytes([sel, 3]) + noisy[:97])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for d in sorted(os.listdir(out)):
        print("%-16s %d seeds" % (d, len(os.listdir(os.path.join(out, d)))))


if __name__ == "__main__":
    main()
