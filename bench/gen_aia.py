#!/usr/bin/python3
"""Makes the benchmark input: a full-size 4096x4096 int16 AIA-like level-1 file, RICE_1-compressed
in HDU 1 behind an empty primary HDU, the way JSOC serves AIA level 1. Synthetic but shaped like the
real thing (disk, active regions, corona, photon noise), so that compression ratios and decompression
costs are those of real data. Same seed, same bytes.

Usage: /usr/bin/python3 bench/gen_aia.py OUT.fits [--seed N]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
from astropy.io import fits
from scipy import ndimage

TEMPLATE = "/usr/lib/python3/dist-packages/sunpy/data/test/aia_171_level1.fits"
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
    """The sunpy AIA 171 level-1 header, rescaled from its 128x128 rebin to the full 4096x4096."""
    with warnings.catch_warnings():  # the rebinned template is float but keeps AIA's BLANK card
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        with fits.open(TEMPLATE) as hdul:
            src = hdul[0].header.copy()
    scale = N / src["NAXIS1"]
    hdr = fits.Header()
    for card in src.cards:
        if card.keyword in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND"):
            continue
        hdr.append(fits.Card(card.keyword, card.value, card.comment))
    hdr["CRPIX1"] = (src["CRPIX1"] - 0.5) * scale + 0.5
    hdr["CRPIX2"] = (src["CRPIX2"] - 0.5) * scale + 0.5
    hdr["CDELT1"] = round(src["CDELT1"] / scale, 6)
    hdr["CDELT2"] = round(src["CDELT2"] / scale, 6)
    return hdr


def synth_image(rng, hdr):
    cdelt = hdr["CDELT1"]
    # Disk centre: the reference pixel shifted by the reference value (arcsec) converted to pixels.
    cx = hdr["CRPIX1"] - 1 - hdr["CRVAL1"] / cdelt
    cy = hdr["CRPIX2"] - 1 - hdr["CRVAL2"] / cdelt
    radius = hdr["RSUN_OBS"] / cdelt  # ~1621 px

    y = np.arange(N, dtype=np.float32)[:, None] - np.float32(cy)
    x = np.arange(N, dtype=np.float32)[None, :] - np.float32(cx)
    rho = np.sqrt(x * x + y * y) / np.float32(radius)  # radius in solar radii
    ondisk = rho < 1

    # Quiet Sun: a limb-darkened disk modulated by network-scale and supergranule-scale structure.
    mu = np.sqrt(np.clip(1 - rho * rho, 0, None))
    texture = np.exp(0.35 * smooth_field(rng, 512) + 0.25 * smooth_field(rng, 64))
    quiet = np.float32(300) * (np.float32(0.45) + np.float32(0.55) * mu) * texture

    # Corona above the limb: a steep scale-height falloff plus a faint power-law tail, with streamers.
    theta = np.arctan2(y, x)
    streamers = 1 + 0.6 * np.cos(2 * theta) ** 2 + 0.3 * np.sin(5 * theta + 0.7)
    above = np.maximum(rho - 1, 0)
    corona = np.float32(130) * (np.exp(-above * 12) + 0.3 * np.maximum(rho, 1) ** -4.5)
    corona *= streamers * np.exp(0.3 * smooth_field(rng, 64))
    img = np.where(ondisk, quiet, corona).astype(np.float32)
    del quiet, corona, mu, theta, streamers, above, texture, ondisk

    # Active regions: bright cores with loop arcades, within the active latitudes.
    yy, xx = np.mgrid[-400:401, -400:401].astype(np.float32)
    for _ in range(7):
        lat = rng.uniform(0.15, 0.5) * rng.choice([-1, 1])
        lon = rng.uniform(-0.75, 0.75)
        acx, acy = cx + lon * radius, cy + lat * radius
        ix, iy = int(round(acx)), int(round(acy))
        blob = np.zeros_like(xx)
        for _ in range(rng.integers(4, 9)):
            ang = rng.uniform(0, np.pi)
            sx, sy = rng.uniform(25, 130), rng.uniform(8, 30)
            ox, oy = rng.normal(0, 60, 2)
            u = (xx - ox) * np.cos(ang) + (yy - oy) * np.sin(ang)
            v = -(xx - ox) * np.sin(ang) + (yy - oy) * np.cos(ang)
            blob += rng.uniform(800, 5000) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
        blob += 350 * np.exp(-0.5 * (xx * xx + yy * yy) / 120.0 ** 2)  # diffuse plage
        img[iy - 400:iy + 401, ix - 400:ix + 401] += blob

    # Photon noise, read noise and a pedestal subtracted, so the darkest corners dip to <= 0 DN as
    # in real level-1 data; clipped to the camera's 14-bit range.
    counts = rng.poisson(img).astype(np.float32)
    counts += rng.normal(0.0, 1.1, counts.shape).astype(np.float32) - np.float32(0.6)
    return np.clip(np.rint(counts), -8, 16383).astype(np.int16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20110215)
    args = ap.parse_args()

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    hdr = template_header()
    data = synth_image(rng, hdr)

    # Keep the header's image statistics true to the pixels, as JSOC's are.
    p = np.percentile(data, [1, 10, 25, 50, 75, 90, 95, 98, 99])
    hdr["DATAMIN"] = int(data.min())
    hdr["DATAMAX"] = int(data.max())
    hdr["DATAMEDN"] = int(p[3])
    hdr["DATAMEAN"] = round(float(data.mean(dtype=np.float64)), 2)
    hdr["DATARMS"] = round(float(data.std(dtype=np.float64)), 2)
    for key, val in zip(["DATAP01", "DATAP10", "DATAP25", "DATAP75", "DATAP90", "DATAP95",
                         "DATAP98", "DATAP99"], [p[0], p[1], p[2], p[4], p[5], p[6], p[7], p[8]]):
        hdr[key] = float(val)

    hdus = fits.HDUList([fits.PrimaryHDU(),
                         fits.CompImageHDU(data=data, header=hdr, compression_type="RICE_1")])
    tmp = args.out + ".tmp"
    hdus.writeto(tmp, overwrite=True)
    os.replace(tmp, args.out)
    size = os.path.getsize(args.out)
    print(f"gen_aia: wrote {args.out} ({size / 2**20:.1f} MiB, min {data.min()} max {data.max()} "
          f"median {int(p[3])}, {int((data <= 0).sum())} pixels <= 0) in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
