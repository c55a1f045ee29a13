#!/usr/bin/python3
"""Makes the second benchmark input: a full-size 4096x4096 float32 HMI-like line-of-sight
magnetogram with NaN off the disk, tile-compressed GZIP_2 (one tile per row) in HDU 1 behind an
empty primary HDU, the values quantised with subtractive dithering (ZQUANTIZ SUBTRACTIVE_DITHER_1,
ZDITHER0) and the off-disk NaN stored as ZBLANK, the way CFITSIO's fpack writes float images.
Synthetic but shaped like the real thing (quiet-Sun noise and network, bipolar active regions with
sunspots, the disk rotated by HMI's CROTA2 of about 180 degrees), so that compression ratios and
decompression costs are those of real data. Same seed, same pixels.

The image is written uncompressed with astropy, then compressed with `fpack -C -g2 -qt 16` (Debian's
libcfitsio-bin): astropy 5.2 cannot write it, as it stores a tile holding NaN with ZSCALE = NaN
(the whole row is then lost) instead of using ZBLANK.

Usage: /usr/bin/python3 bench/gen_hmi.py OUT.fits [--seed N]
"""
import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from astropy.io import fits
from scipy import ndimage

TEMPLATE = "/usr/lib/python3/dist-packages/sunpy/data/test/resampled_hmi.fits"
N = 4096


def smooth_field(rng, coarse, n=N):
    """Zero-mean, unit-std random field varying on scales of n/coarse pixels (float32, n x n)."""
    f = rng.standard_normal((coarse, coarse)).astype(np.float32)
    f = ndimage.gaussian_filter(f, 1.0, mode="wrap")
    f = ndimage.zoom(f, n / coarse, order=1, mode="grid-wrap", grid_mode=True)
    f -= f.mean()
    f /= f.std()
    return f


def template_header():
    """sunpy's resampled HMI header (100x100), rescaled to 4096x4096 and made a magnetogram."""
    with warnings.catch_warnings():  # the template is float but keeps HMI's BLANK card
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        with fits.open(TEMPLATE) as hdul:
            src = hdul[0].header.copy()
    scale = N / src["NAXIS1"]
    hdr = fits.Header()
    for card in src.cards:
        if card.keyword in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BLANK",
                            "COMMENT", "HISTORY", ""):
            continue
        hdr.append(fits.Card(card.keyword, card.value, card.comment))
    hdr["CRPIX1"] = (src["CRPIX1"] - 0.5) * scale + 0.5
    hdr["CRPIX2"] = (src["CRPIX2"] - 0.5) * scale + 0.5
    hdr["CDELT1"] = round(src["CDELT1"] / scale, 6)
    hdr["CDELT2"] = round(src["CDELT2"] / scale, 6)
    hdr["CONTENT"] = "MAGNETOGRAM"
    hdr["BUNIT"] = "Gauss"
    return hdr


def synth_image(rng, hdr):
    cdelt = hdr["CDELT1"]
    cx = hdr["CRPIX1"] - 1 - hdr["CRVAL1"] / cdelt
    cy = hdr["CRPIX2"] - 1 - hdr["CRVAL2"] / cdelt
    radius = hdr["RSUN_OBS"] / cdelt  # ~1920 px

    y = np.arange(N, dtype=np.float32)[:, None] - np.float32(cy)
    x = np.arange(N, dtype=np.float32)[None, :] - np.float32(cx)
    rho = np.sqrt(x * x + y * y) / np.float32(radius)
    ondisk = rho < 1
    mu = np.sqrt(np.clip(1 - rho * rho, 0, None))

    # Quiet Sun: photon noise of about 8 G and a mixed-polarity network, foreshortened by mu.
    img = rng.normal(0.0, 8.0, (N, N)).astype(np.float32)
    net = smooth_field(rng, 1024)
    img += np.float32(25) * np.sign(net) * np.abs(net) ** 3 * mu
    del net

    # Active regions: bipoles of opposite polarity with umbral cores, within the active latitudes.
    yy, xx = np.mgrid[-300:301, -300:301].astype(np.float32)
    for k in range(9):
        lat = rng.uniform(0.12, 0.45) * (1 if k % 2 else -1)
        lon = rng.uniform(-0.7, 0.7)
        ix, iy = int(round(cx + lon * radius)), int(round(cy + lat * radius))
        sep, tilt = rng.uniform(40, 140), rng.uniform(-0.4, 0.4)
        sign = 1 if lat > 0 else -1
        blob = np.zeros_like(xx)
        for pol, f in ((sign, 0.5), (-sign, -0.5)):
            ox, oy = f * sep * np.cos(tilt), f * sep * np.sin(tilt)
            r2 = (xx - ox) ** 2 + (yy - oy) ** 2
            core = rng.uniform(1800, 3000)
            blob += pol * (core * np.exp(-0.5 * r2 / rng.uniform(8, 20) ** 2)
                           + 300 * np.exp(-0.5 * r2 / rng.uniform(40, 80) ** 2))
        img[iy - 300:iy + 301, ix - 300:ix + 301] += blob * mu[iy - 300:iy + 301, ix - 300:ix + 301]

    img[~ondisk] = np.nan
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20140301)
    args = ap.parse_args()

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    hdr = template_header()
    data = synth_image(rng, hdr)
    finite = data[np.isfinite(data)]
    hdr["DATAMIN"] = round(float(finite.min()), 3)
    hdr["DATAMAX"] = round(float(finite.max()), 3)
    hdr["DATAMEAN"] = round(float(finite.mean(dtype=np.float64)), 3)
    hdr["DATARMS"] = round(float(finite.std(dtype=np.float64)), 3)
    hdr["TOTVALS"] = int(data.size)
    hdr["DATAVALS"] = int(finite.size)
    hdr["MISSVALS"] = int(data.size - finite.size)
    del finite

    raw = args.out + ".raw.fits"
    packed = raw + ".fz"
    for p in (raw, packed):
        if os.path.exists(p):
            os.remove(p)
    fits.PrimaryHDU(data=data, header=hdr).writeto(raw)
    del data
    try:
        # -g2: GZIP_2; -qt 16: quantise to 1/16 of each tile's noise, dithered (fpack's default
        # SUBTRACTIVE_DITHER_1) from a seed taken from the first tile, so the bytes repeat; one tile
        # per row is its default tiling; -C: no CHECKSUM cards (they carry the time).
        subprocess.run(["fpack", "-C", "-g2", "-qt", "16", raw], check=True)
    finally:
        os.remove(raw)
    os.replace(packed, args.out)
    size = os.path.getsize(args.out)
    print(f"gen_hmi: wrote {args.out} ({size / 2**20:.1f} MiB, {hdr['MISSVALS']} NaN pixels off "
          f"the disk) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
