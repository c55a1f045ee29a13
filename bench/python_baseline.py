#!/usr/bin/python3
"""The Python stack FitsFlow replaces, doing the same work as `fitsflow process` so the two can be
timed against each other: astropy reads the FITS file, then the header goes to text and JSON, the
pixels to CSV (pandas) and NPY (numpy); with --stage all also a gray and a colour PNG (Pillow) and an
ASDF bundle (asdf, zlib); with --stage prep also level 1.5, as FitsFlow's prep does it: aiapy's
register written over sunpy's Map.rotate(recenter=True, scale=..., order=3, missing=NaN) and the
crop back to the input shape (tests/e2e/prepsun.py; aiapy is not in Debian), exposure
normalisation for AIA, the level-1.5 FITS written by astropy (sunpy's Map.save), the image placed
on the 4096 grid at 0.6"/px and block-averaged (NaN-aware) to N x N, np.save; and after the last
file the session stacks (stack.npy, stack_index.csv, channels.npz). Written to be efficient, as a
competent user would write it: no extra passes, no per-pixel Python, the colormap lookup table
computed once and cached.

Usage: /usr/bin/python3 bench/python_baseline.py [--stage foundation|all|prep] [--ml-size N]
           -o OUTDIR FILE.fits...
Outputs follow fitsflow's layout: OUTDIR/header/, data/, images/local/, asdf/, prep/, session/.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import pandas as pd
from astropy.io import fits


def image_hdu(hdul):
    """The first HDU holding an image: HDU 1 for JSOC's compressed files, HDU 0 otherwise."""
    for hdu in hdul:
        if hdu.is_image and hdu.data is not None:
            return hdu
    raise SystemExit("no image HDU in the file")


def header_mapping(header):
    """{"header": {...}, "comments": {...}} as fitsflow writes header JSON."""
    values, comments = {}, {}
    for card in header.cards:
        key, val = card.keyword, card.value
        if key in ("COMMENT", "HISTORY", ""):
            values.setdefault(key, []).append(str(val))
            continue
        if key not in values:
            values[key] = None if isinstance(val, fits.card.Undefined) else val
        if card.comment and key not in comments:
            comments[key] = card.comment
    return {"header": values, "comments": comments}


def colormap_lut(wavelength, cache_dir, magnetogram=False):
    """sunpy's colormap for this image as a 256x3 uint8 table: SDO/AIA's for the channel, or
    hmimag for a magnetogram. Building it needs sunpy and matplotlib (about 2 s of imports), so it
    is built once and cached as .npy."""
    name = "hmimag" if magnetogram else f"sdoaia{wavelength}"
    path = os.path.join(cache_dir, f"{name}_lut.npy")
    if os.path.exists(path):
        return np.load(path)
    if magnetogram:
        import matplotlib
        import sunpy.visualization.colormaps  # noqa: F401 (registers sunpy's colormaps)
        cmap = matplotlib.colormaps["hmimag"]
    else:
        import astropy.units as u
        from sunpy.visualization.colormaps import color_tables
        cmap = color_tables.aia_color_table(wavelength * u.angstrom)
    lut = np.round(cmap(np.arange(256))[:, :3] * 255).astype(np.uint8)
    np.save(path, lut)
    return lut


def is_magnetogram(header):
    return "MAGNETOGRAM" in str(header.get("CONTENT", "")).upper()


def magnetogram_stretch(data):
    """8-bit linear stretch of a magnetogram over -1500..+1500 G (as sunpy shows HMI), NaN black."""
    v = np.clip(data, -1500, 1500).astype(np.float32)
    v += np.float32(1500)
    v *= np.float32(254 / 3000)
    v += np.float32(1)
    v[~np.isfinite(data)] = 0
    return np.rint(v, out=v).astype(np.uint8)


def zblank_ignored(path):
    """True when astropy 5.2 would not apply the image's ZBLANK: floats quantised with a ZBLANK
    (fpack's NaN). It then returns the scaled blank integer where the pixel is undefined."""
    with fits.open(path, disable_image_compression=True) as hdul:
        for h in hdul[1:]:
            hd = h.header
            if hd.get("ZIMAGE") and hd.get("ZBITPIX", 0) < 0 and "ZBLANK" in hd and \
                    str(hd.get("ZQUANTIZ", "")).strip() != "NONE":
                return True
    return False


def stretch(data, exptime):
    """8-bit log stretch of the exposure-normalised image between its 0.5 and 99.9 percentiles."""
    v = data.astype(np.float32)
    v /= np.float32(exptime if exptime and exptime > 0 else 1.0)
    lo, hi = np.percentile(v, [0.5, 99.9])
    lo = max(float(lo), 1e-3 / (exptime or 1.0))
    hi = max(float(hi), lo * 1.0001)
    np.clip(v, lo, hi, out=v)
    np.log(v, out=v)
    v -= np.float32(np.log(lo))
    v *= np.float32(255.0 / (np.log(hi) - np.log(lo)))
    return np.rint(v, out=v).astype(np.uint8)


AIA_WAVELENGTHS = (94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500)


def base_name(path):
    base = os.path.basename(path)
    for ext in (".fits.gz", ".fits", ".fts", ".fit"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def is_full_disk_sdo(header, data):
    """What FitsFlow registers: a 2-D square SDO AIA or HMI image."""
    inst = str(header.get("INSTRUME", "")).upper()
    return ("SDO" in str(header.get("TELESCOP", "")).upper() and (inst.startswith("AIA") or inst.startswith("HMI"))
            and data is not None and data.ndim == 2 and data.shape[0] == data.shape[1])


def prep(header, data, outdir, base, ml_size):
    """Level 1.5 of one file: prep/{base}_lev15.fits and prep/{base}_ml.npy. Returns what the
    session stacks need of it, or None (with the reason on stderr) when it is not registered."""
    import warnings
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
    sys.path.insert(0, os.path.join(here, "prep"))
    import prepsun  # the register of tests/e2e/prepsun.py (aiapy's, over sunpy's rotate)
    from peer import ml_array  # bench/prep's 4096 grid and NaN-aware block mean
    import sunpy.map
    from sunpy.map.sources.sdo import AIAMap

    if not is_full_disk_sdo(header, data):
        print(f"{base}: not registered: not a full-disk SDO AIA or HMI image", file=sys.stderr)
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # sunpy 4.1 cannot pad integers with NaN; sunpy >= 5 converts them to float64 itself.
        m = sunpy.map.Map(data if data.dtype.kind == "f" else data.astype(np.float64), header)
        out = prepsun.register(m)
        exptime = float(header.get("EXPTIME", 0) or 0)
        normalised = isinstance(out, AIAMap) and exptime > 0
        if normalised:
            out = prepsun.normalize_exposure(out)
        lev15 = out.data.astype(np.float32)
        os.makedirs(os.path.join(outdir, "prep"), exist_ok=True)
        sunpy.map.Map(lev15, out.meta).save(os.path.join(outdir, "prep", f"{base}_lev15.fits"), overwrite=True)
        ml = ml_array(lev15, float(out.meta["cdelt1"]), ml_size)
    np.save(os.path.join(outdir, "prep", f"{base}_ml.npy"), ml)
    inst = str(header.get("INSTRUME", "")).upper()
    if inst.startswith("AIA"):
        channel = f"aia_{int(header.get('WAVELNTH', 0))}"
    else:
        content = str(header.get("CONTENT", "")).lower()
        channel = ("hmi_magnetogram" if "magnet" in content else "hmi_continuum" if "continuum" in content
                   else "hmi_" + ("_".join(content.split()) or "image"))
    t = np.datetime64(m.date.utc.isot, "ms")  # sunpy's reading of T_OBS / DATE-OBS
    return {"file": base, "time": t, "observatory": "SDO", "instrument": inst[:3], "channel": channel,
            "exptime": exptime, "normalised": normalised, "ml": ml}


def write_stacks(outdir, slices):
    """session/stack.npy (K, N, N) in time order, stack_index.csv, channels.npz (per channel
    (T, N, N) and its times in seconds since 1970)."""
    if not slices:
        return
    slices = sorted(slices, key=lambda s: s["time"])
    d = os.path.join(outdir, "session")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "stack.npy"), np.stack([s["ml"] for s in slices]))
    with open(os.path.join(d, "stack_index.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "file", "time_utc", "observatory", "instrument", "channel", "exptime", "normalised"])
        for i, s in enumerate(slices):
            w.writerow([i, s["file"], str(s["time"]) + "Z", s["observatory"], s["instrument"], s["channel"],
                        s["exptime"], s["normalised"]])
    arrays = {}
    for c in dict.fromkeys(s["channel"] for s in slices):
        mine = [s for s in slices if s["channel"] == c]
        arrays[c] = np.stack([s["ml"] for s in mine])
        arrays[c + "_time"] = np.array([s["time"].astype("datetime64[ms]").astype(np.int64) / 1000.0 for s in mine])
    np.savez(os.path.join(d, "channels.npz"), **arrays)


def process(path, outdir, stage, cache, ml_size=512):
    """Every output of one file, as fitsflow's layout names them; with stage prep, what the
    session stacks need of it (or None)."""
    base = base_name(path)
    paths = {
        "header_txt": f"header/{base}_header.txt",
        "header_json": f"header/{base}_header.json",
        "csv": f"data/{base}_data.csv",
        "npy": f"data/{base}_data.npy",
    }
    if stage in ("all", "prep"):
        paths.update(gray=f"images/local/{base}_gray.png", color=f"images/local/{base}_color.png",
                     asdf=f"asdf/{base}.asdf")
    out = {k: os.path.join(outdir, v) for k, v in paths.items()}
    for p in out.values():
        os.makedirs(os.path.dirname(p), exist_ok=True)

    src = path
    if zblank_ignored(src):
        # A user who wants NaN where the file says "undefined" decompresses with CFITSIO's funpack
        # first (the step is timed with the rest).
        import subprocess
        src = os.path.join(outdir, ".funpacked.fits")
        if os.path.exists(src):
            os.remove(src)
        subprocess.run(["funpack", "-O", src, path], check=True)
    with fits.open(src) as hdul:
        hdu = image_hdu(hdul)
        header, data = hdu.header, hdu.data

        # The original's header text, verbatim.
        with open(out["header_txt"], "w") as f:
            for k, v in header.items():
                f.write(f"{k} = {v}\n")
        mapping = header_mapping(header)
        with open(out["header_json"], "w") as f:
            json.dump(mapping, f, indent=2, default=str)

        pd.DataFrame(data).to_csv(out["csv"], index=False)
        np.save(out["npy"], data)

        if stage in ("all", "prep"):
            import warnings
            from PIL import Image
            import asdf
            # sunpy's asdf plugin wants asdf_astropy, which Debian lacks; nothing here needs it.
            warnings.filterwarnings("ignore", message="asdf.extensions plugin from package sunpy")
            # FITS row 0 is the bottom of the image, PNG row 0 the top.
            mag = is_magnetogram(header)
            gray = np.flipud(magnetogram_stretch(data) if mag else stretch(data, header.get("EXPTIME")))
            Image.fromarray(gray, "L").save(out["gray"])
            wl = int(header.get("WAVELNTH", 171) or 171)
            lut = colormap_lut(wl if wl in AIA_WAVELENGTHS else 171, cache, mag)
            Image.fromarray(lut[gray], "RGB").save(out["color"])
            tree = {"data": data, "header": mapping["header"], "comments": mapping["comments"],
                    "paths": {k: v for k, v in paths.items() if k != "asdf"}}
            asdf.AsdfFile(tree).write_to(out["asdf"], all_array_compression="zlib")
        piece = prep(header, data, outdir, base, ml_size) if stage == "prep" else None
    if src != path:
        os.remove(src)
    return piece


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=["foundation", "all", "prep"], default="all",
                    help="prep: all, plus level 1.5 and the session stacks")
    ap.add_argument("--ml-size", type=int, default=512, help="side of the ML arrays (4096 / N whole)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                    help="where the colormap table is cached (default bench/out)")
    ap.add_argument("fits", nargs="+", help="one file, or a session's files processed one after "
                    "another in this one process (as the original's Main Lambda did)")
    args = ap.parse_args()
    if args.ml_size <= 0 or 4096 % args.ml_size:
        raise SystemExit(f"--ml-size {args.ml_size}: 4096 must be a whole multiple of it")
    slices = []
    for path in args.fits:
        piece = process(path, args.out, args.stage, args.cache, args.ml_size)
        if piece:
            slices.append(piece)
    if args.stage == "prep":
        write_stacks(args.out, slices)


if __name__ == "__main__":
    main()
