"""Level-1.5 test material shared by the e2e tests and bench/prep: full-disk SDO test images
built from the real AIA and HMI headers that python3-sunpy ships, and the reference
registration, written the way aiapy's register is over sunpy 4.1's Map.rotate and submap
(aiapy itself is not in Debian).
"""
import os
import warnings

import numpy as np
from astropy.io import fits

SUNPY_TEST = "/usr/lib/python3/dist-packages/sunpy/data/test"
SOURCES = {
    # instrument: (file, side of its rebinned image)
    "aia": ("aia_171_level1.fits", 128),
    "hmi": ("resampled_hmi.fits", 100),
}


def source_header(inst):
    name, _ = SOURCES[inst]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(os.path.join(SUNPY_TEST, name)) as hdul:
            return hdul[0].header.copy()


def make_header(inst, n, crota=None, crpix_shift=(0.0, 0.0), form="crota"):
    """The real header of `inst` rescaled to an n x n full-disk image: CDELT and R_SUN follow the
    size, the Sun's centre is at CRPIX (the image centre plus crpix_shift) with CRVAL = 0 as in
    JSOC level-1 headers. form chooses how the roll is written: 'crota' (CROTA2, as JSOC does),
    'pc' (PCi_j) or 'cd' (CDi_j, no CDELT)."""
    h = source_header(inst)
    _, n0 = SOURCES[inst]
    cdelt = float(h["CDELT1"]) * n0 / n
    roll = float(h["CROTA2"]) if crota is None else float(crota)
    for k in ("BLANK", "CROTA2", "CROTA1", "BSCALE", "BZERO"):
        h.remove(k, ignore_missing=True, remove_all=True)
    h["NAXIS1"] = n
    h["NAXIS2"] = n
    h["CDELT1"] = cdelt
    h["CDELT2"] = cdelt
    h["CRPIX1"] = (n + 1) / 2.0 + crpix_shift[0]
    h["CRPIX2"] = (n + 1) / 2.0 + crpix_shift[1]
    h["CRVAL1"] = 0.0
    h["CRVAL2"] = 0.0
    h["R_SUN"] = float(h["RSUN_OBS"]) / cdelt
    r = np.deg2rad(roll)
    if form == "crota":
        h["CROTA2"] = roll
    elif form == "pc":
        h["PC1_1"], h["PC1_2"] = np.cos(r), -np.sin(r)
        h["PC2_1"], h["PC2_2"] = np.sin(r), np.cos(r)
    elif form == "cd":
        del h["CDELT1"], h["CDELT2"]
        h["CD1_1"], h["CD1_2"] = cdelt * np.cos(r), -cdelt * np.sin(r)
        h["CD2_1"], h["CD2_2"] = cdelt * np.sin(r), cdelt * np.cos(r)
    else:
        raise ValueError(form)
    return h


def make_data(h, seed=1, dtype=np.float32):
    """A limb-brightened disk with a corona falling off above the limb, a few bright regions,
    and noise; the disk where the header says the Sun is."""
    n = int(h["NAXIS1"])
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    cx, cy = float(h["CRPIX1"]) - 1, float(h["CRPIX2"]) - 1
    rsun = float(h["RSUN_OBS"]) / float(h.get("CDELT1", 0) or np.hypot(h["CD1_1"], h["CD1_2"]))
    r = np.hypot(x - cx, y - cy) / rsun
    inside = r < 1
    mu = np.sqrt(np.clip(1 - r * r, 0, 1))
    disk = 800.0 * (1.0 + 0.6 * (1.0 - mu))
    corona = 1200.0 * np.exp(-(r - 1) / 0.06)
    img = np.where(inside, disk, corona)
    for _ in range(6):
        ax, ay = rng.uniform(-0.6, 0.6, 2) * rsun
        w = rng.uniform(0.02, 0.06) * rsun
        img += rng.uniform(500, 3000) * np.exp(-(((x - cx - ax) ** 2 + (y - cy - ay) ** 2) / (2 * w * w)))
    img += rng.normal(0.0, 15.0, img.shape)
    return img.astype(dtype)


def write_fits(path, h, data):
    hdu = fits.PrimaryHDU(data=data, header=h)
    hdu.header["BITPIX"] = {np.dtype(np.float32): -32, np.dtype(np.float64): -64}.get(
        data.dtype, hdu.header["BITPIX"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdu.writeto(path, overwrite=True)


def register(smap, missing=np.nan, order=3):
    """aiapy.calibrate.register (0.7, for sunpy 4.1): rotate with recenter, scale to 0.6"/px or the
    nearest multiple for a binned image, crop back to the input shape about floor(CRPIX1)."""
    import astropy.units as u

    if ((smap.scale[0] / 0.6).round() != 1.0 * u.arcsec / u.pix
            and smap.data.shape != (4096, 4096)):
        scale = (smap.scale[0] / 0.6).round() * 0.6 * u.arcsec
    else:
        scale = 0.6 * u.arcsec
    scale_factor = smap.scale[0] / scale
    tempmap = smap.rotate(recenter=True, scale=scale_factor.value, order=order, missing=missing)
    center = np.floor(tempmap.meta["crpix1"])
    range_side = (center + np.array([-1, 1]) * smap.data.shape[0] / 2) * u.pix
    newmap = tempmap.submap(u.Quantity([range_side[0], range_side[0]]),
                            top_right=u.Quantity([range_side[1], range_side[1]]) - 1 * u.pix)
    newmap.meta["r_sun"] = newmap.meta["rsun_obs"] / newmap.meta["cdelt1"]
    newmap.meta["lvl_num"] = 1.5
    newmap.meta["bitpix"] = -32
    return newmap


def normalize_exposure(smap):
    """aiapy.calibrate.normalize_exposure: divide by the exposure time."""
    newmap = smap._new_instance(smap.data / smap.exposure_time.to("s").value, smap.meta.copy())
    newmap.meta["exptime"] = 1.0
    return newmap


def sunpy_level15(path, missing="nan"):
    """The reference: sunpy.map.Map(path), register, and for AIA the exposure normalisation."""
    import sunpy.map
    from sunpy.map.sources.sdo import AIAMap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = sunpy.map.Map(path)
        miss = np.nan if missing == "nan" else m.min()
        out = register(m, missing=miss)
        if isinstance(out, AIAMap):
            out = normalize_exposure(out)
    return out


def compare(ours, ref, rsun_px=None, crpix=None):
    """Differences between two level-1.5 arrays of one shape, relative to the reference's
    0.1-99.9 percentile range: everywhere both are finite, and inside 0.95 of the disk."""
    fa, fb = np.isfinite(ours), np.isfinite(ref)
    both = fa & fb
    lo, hi = np.nanpercentile(ref, [0.1, 99.9])
    rng = float(hi - lo)
    d = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    res = {
        "range": rng,
        "nan_agree": float(np.mean(fa == fb)),
        "nan_only_ours": int(np.sum(~fa & fb)),
        "nan_only_ref": int(np.sum(fa & ~fb)),
        "max_rel": float(d[both].max() / rng) if both.any() else 0.0,
    }
    if rsun_px is not None:
        n0, n1 = ref.shape
        cx, cy = (crpix[0] - 1, crpix[1] - 1) if crpix else ((n1 - 1) / 2, (n0 - 1) / 2)
        y, x = np.mgrid[0:n0, 0:n1]
        disk = (np.hypot(x - cx, y - cy) < 0.95 * rsun_px) & both
        res["max_rel_disk"] = float(d[disk].max() / rng) if disk.any() else 0.0
    return res
