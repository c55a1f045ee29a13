"""Level 1.5 against sunpy 4.1 itself: the registration (aiapy's register over Map.rotate and
submap, written out in prepsun.py since aiapy is not in Debian), exposure normalisation, the
level-1.5 FITS as sunpy.map.Map reads it, and the ML array against numpy's NaN-aware block mean.

Inputs are full-disk images built from the real AIA and HMI test headers python3-sunpy ships
(rescaled to 4096 and 1024 pixels, a limb-brightened disk with noise), with CROTA2 0, 0.1, 1.5,
45 and 180 degrees, an off-centre CRPIX, the PC and CD forms, NaN pixels, missing = minimum,
int16 data, and the two real sunpy test files themselves. Driven through tests/tools/ff_prep_tool.

Tolerance: |ours - sunpy| / (the reference's 0.1-99.9 percentile range) below 1e-6 everywhere
both are finite (float32 output: about 1e-7 is reached), and the NaN masks identical."""
import json
import os
import subprocess
import warnings

import numpy as np
from astropy.io import fits

import prepsun
from fftest import check, run_checks, scratch

warnings.simplefilter("ignore")
TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_prep_tool")
TMP = scratch("prep-sunpy")
TOL = 1e-6
ML = 512
results = []


def tool(path, missing="nan", ml=ML, expect=0):
    base = os.path.splitext(path)[0]
    out, mlp, txt = base + "_lev15.fits", base + "_ml.npy", base + "_lev15.txt"
    p = subprocess.run([TOOL, "--missing", missing, "--ml-size", str(ml), path, out, mlp, txt],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == expect, f"ff_prep_tool exited {p.returncode}: {p.stdout} {p.stderr}"
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return res, out, mlp


def ml_reference(lev15, cdelt, size=ML):
    """The level-1.5 image on the 4096 grid at 0.6"/px, centred, NaN around; nanmean blocks."""
    k = int(round(cdelt / 0.6))
    big = np.kron(lev15, np.ones((k, k), np.float32)) if k > 1 else lev15
    g = np.full((4096, 4096), np.nan, np.float32)
    h, w = big.shape
    oy, ox = (4096 - h) // 2, (4096 - w) // 2
    g[oy:oy + h, ox:ox + w] = big
    b = 4096 // size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(g.reshape(size, b, size, b), axis=(1, 3))


def compare_case(name, path, missing="nan", ref_map=None, sun_at_centre=True):
    res, out, mlp = tool(path, missing)
    assert res["status"] == "ok", res
    ref = ref_map if ref_map is not None else prepsun.sunpy_level15(path, missing)
    ours = fits.getdata(out)
    assert ours.dtype == np.dtype(">f4"), ours.dtype
    assert ours.shape == ref.data.shape, f"shape {ours.shape} vs sunpy {ref.data.shape}"
    crpix = (ref.meta["crpix1"], ref.meta["crpix2"])
    assert abs(res["crpix"][0] - crpix[0]) < 1e-9 and abs(res["crpix"][1] - crpix[1]) < 1e-9, \
        f"CRPIX {res['crpix']} vs sunpy {crpix}"
    assert abs(res["cdelt"] - ref.meta["cdelt1"]) < 1e-9 * ref.meta["cdelt1"], (res["cdelt"], ref.meta["cdelt1"])
    cmp = prepsun.compare(ours, ref.data, ref.meta["r_sun"], crpix)
    results.append((name, ours.shape, cmp))
    print(f"     {name}: shape {ours.shape}, max |diff|/range {cmp['max_rel']:.2e} "
          f"(disk {cmp['max_rel_disk']:.2e}), NaN masks agree on {100 * cmp['nan_agree']:.4f}% "
          f"({cmp['nan_only_ours']} only ours, {cmp['nan_only_ref']} only sunpy)")
    assert cmp["max_rel"] < TOL and cmp["max_rel_disk"] < TOL, cmp
    assert cmp["nan_only_ours"] == 0 and cmp["nan_only_ref"] == 0, cmp

    # The level-1.5 file as sunpy reads it.
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord
    from sunpy.map.sources.sdo import AIAMap, HMIMap

    m = sunpy.map.Map(out)
    inst = res["instrument"]
    assert isinstance(m, AIAMap if inst == "AIA" else HMIMap), type(m)
    assert np.allclose(m.rotation_matrix, np.eye(2), atol=0), m.rotation_matrix
    assert abs(m.scale[0].to_value(u.arcsec / u.pix) - res["cdelt"]) < 1e-12
    assert abs(m.scale[1].to_value(u.arcsec / u.pix) - res["cdelt"]) < 1e-12
    assert abs((m.rsun_obs / m.scale[0]).to_value(u.pix) - m.meta["r_sun"]) < 1e-9 * m.meta["r_sun"]
    assert m.meta["lvl_num"] == 1.5 and fits.getheader(out)["BITPIX"] == -32
    cy, cx = (m.data.shape[0] - 1) / 2, (m.data.shape[1] - 1) / 2
    target = SkyCoord(0 * u.arcsec, 0 * u.arcsec, frame=m.coordinate_frame) if sun_at_centre else \
        SkyCoord(m.meta["crval1"] * u.arcsec, m.meta["crval2"] * u.arcsec, frame=m.coordinate_frame)
    px = m.world_to_pixel(target)
    assert abs(px.x.value - cx) < 0.1 and abs(px.y.value - cy) < 0.1, (px, cx, cy)
    north = m.world_to_pixel(SkyCoord(m.meta["crval1"] * u.arcsec, (m.meta["crval2"] + 500) * u.arcsec,
                                      frame=m.coordinate_frame))
    assert north.y.value - cy > 400 / res["cdelt"] and abs(north.x.value - cx) < 0.5, north
    h = fits.getheader(out)
    for k, v in h.items():
        if isinstance(v, float):
            assert np.isfinite(v), f"{k} = {v}"
    assert any("FitsFlow" in str(c) for c in h["HISTORY"]), "no FitsFlow HISTORY card"
    assert "CROTA2" not in h and "CD1_1" not in h
    if inst == "AIA":
        assert res["normalised"] and h["EXPTIME"] == 1.0 and h["BUNIT"] == "DN/s"
    else:
        assert not res["normalised"]

    # The ML array.
    ml = np.load(mlp)
    assert ml.dtype == np.float32 and ml.shape == (ML, ML)
    want = ml_reference(ours.astype(np.float32), res["cdelt"])
    assert np.array_equal(np.isnan(ml), np.isnan(want)), "ML NaN pattern differs"
    fin = np.isfinite(want)
    err = np.max(np.abs(ml[fin] - want[fin])) / cmp["range"]
    assert err < 1e-6, f"ML differs from numpy's block nanmean by {err:.2e} of the range"
    return res


def build(name, inst, n, crota, shift=(0.0, 0.0), form="crota", nan_pixels=False,
          dtype=np.float32):
    h = prepsun.make_header(inst, n, crota=crota, crpix_shift=shift, form=form)
    d = prepsun.make_data(h, seed=n + int(crota * 10), dtype=np.float64)
    if nan_pixels:
        rng = np.random.default_rng(7)
        d[n // 10:n // 10 + 12, n // 5:n // 5 + 40] = np.nan
        d[rng.integers(0, n, 80), rng.integers(0, n, 80)] = np.nan
        d[0, n // 2] = np.nan  # NaN on the edge: the dilation reaches into the padding
    if dtype == np.int16:
        d = np.clip(np.round(d / 2), -32768, 32767).astype(np.int16)
    else:
        d = d.astype(dtype)
    path = os.path.join(TMP, name + ".fits")
    prepsun.write_fits(path, h, d)
    return path


def case(name, *args, missing="nan", **kw):
    path = build(name, *args, **kw)
    return compare_case(name, path, missing)


@check
def aia_4096_roll_1_5():
    case("aia4096_crota1.5", "aia", 4096, 1.5)


@check
def hmi_4096_roll_180():
    res = case("hmi4096_crota180", "hmi", 4096, 180.0)
    # 0.504"/px scaled to 0.6"/px: sunpy's crop gives a smaller image.
    assert 3400 < res["shape"][0] < 3500, res["shape"]


@check
def aia_1024_rolls():
    for r in (0.0, 0.1, 45.0, 180.0):
        case(f"aia1024_crota{r}", "aia", 1024, r)


@check
def aia_1024_off_centre_crpix():
    case("aia1024_offcentre", "aia", 1024, 0.1, shift=(37.3, -21.7))


@check
def hmi_1024_rolls():
    for r in (0.1, 45.0):
        case(f"hmi1024_crota{r}", "hmi", 1024, r)


@check
def pc_and_cd_forms():
    a = tool(build("form_crota", "aia", 1024, 1.5))[1]
    for form in ("pc", "cd"):
        path = build(f"form_{form}", "aia", 1024, 1.5, form=form)
        compare_case(f"aia1024_crota1.5_{form}", path)
        b = fits.getdata(path.replace(".fits", "_lev15.fits"))
        da, db = fits.getdata(a), b
        assert np.array_equal(np.isnan(da), np.isnan(db))
        fin = np.isfinite(da)
        assert np.max(np.abs(da[fin] - db[fin])) <= 1e-6 * np.nanmax(np.abs(da)), form


@check
def nan_pixels_and_missing_min():
    case("aia1024_nans", "aia", 1024, 1.5, nan_pixels=True)
    case("aia1024_nans_min", "aia", 1024, 30.0, nan_pixels=True, missing="min")
    case("hmi1024_min", "hmi", 1024, 180.0, missing="min")


@check
def int16_data():
    """Integer data are registered as sunpy registers the same values as float64 (sunpy 4.1
    itself would round its output to int16)."""
    import sunpy.map
    path = build("aia1024_int16", "aia", 1024, 0.1, dtype=np.int16)
    m = sunpy.map.Map(path)
    ref = prepsun.register(sunpy.map.Map(m.data.astype(np.float64), m.meta))
    ref = prepsun.normalize_exposure(ref)
    compare_case("aia1024_int16", path, ref_map=ref)


@check
def real_sunpy_test_files():
    """The two real SDO files python3-sunpy ships (128 and 100 pixels, binned): their CRVAL is
    not zero, so the reference coordinate (not the Sun's centre) goes to the image centre."""
    import shutil
    for name in ("aia_171_level1.fits", "resampled_hmi.fits"):
        path = os.path.join(TMP, "real_" + name)
        shutil.copy(os.path.join(prepsun.SUNPY_TEST, name), path)
        compare_case("real " + name, path, sun_at_centre=False)


@check
def ml_sizes():
    path = os.path.join(TMP, "aia1024_crota45.0.fits")
    for size in (64, 1024):
        res, out, mlp = tool(path, ml=size)
        ml = np.load(mlp)
        want = ml_reference(fits.getdata(out).astype(np.float32), res["cdelt"], size)
        assert ml.shape == (size, size)
        assert np.array_equal(np.isnan(ml), np.isnan(want))
        fin = np.isfinite(want)
        assert np.allclose(ml[fin], want[fin], rtol=1e-5, atol=1e-4)
    p = subprocess.run([TOOL, "--ml-size", "500", path], capture_output=True, text=True)
    assert p.returncode == 2 and "does not divide" in p.stderr


@check
def not_registered_with_a_reason():
    hdr = prepsun.make_header("aia", 256, crota=0.0)
    cases = {}
    # not SDO
    h2 = hdr.copy()
    h2["TELESCOP"], h2["INSTRUME"] = "SOHO", "EIT"
    cases["not an SDO AIA or HMI image"] = (h2, np.ones((256, 256), np.float32))
    # 3-D cube, non-square, all NaN, contradictory WCS, NaN CDELT, CRPIX off the image
    cases["3-D"] = (hdr.copy(), np.ones((2, 256, 256), np.float32))
    cases["not square"] = (hdr.copy(), np.ones((256, 200), np.float32))
    cases["no finite pixel"] = (hdr.copy(), np.full((256, 256), np.nan, np.float32))
    h3 = hdr.copy()
    h3["PC1_1"], h3["PC1_2"], h3["PC2_1"], h3["PC2_2"] = 0.0, -1.0, 1.0, 0.0
    cases["contradictory"] = (h3, np.ones((256, 256), np.float32))
    h4 = hdr.copy()
    h4["CRPIX1"] = 1e6
    cases["off the"] = (h4, np.ones((256, 256), np.float32))
    for i, (words, (hh, data)) in enumerate(cases.items()):
        path = os.path.join(TMP, f"bad{i}.fits")
        hh = hh.copy()
        for k in ("NAXIS1", "NAXIS2", "NAXIS3"):
            hh.remove(k, ignore_missing=True)
        fits.PrimaryHDU(data=data, header=hh).writeto(path, overwrite=True)
        res, out, _ = tool(path, expect=3)
        assert res["status"] == "skip" and words in res["reason"], (words, res)
        assert "\n" not in res["reason"]
        assert not os.path.exists(out)
    # A header card that is not a number where a number must be.
    path = os.path.join(TMP, "badcdelt.fits")
    with open(build("cdelt_src", "aia", 256, 0.0), "rb") as f:
        raw = bytearray(f.read())
    i = raw.index(b"CDELT1  =")
    raw[i:i + 80] = b"CDELT1  =                  NaN".ljust(80)
    with open(path, "wb") as f:
        f.write(raw)
    res, _, _ = tool(path, expect=3)
    assert "CDELT1" in res["reason"], res


@check
def tolerance_summary():
    print("     tolerance reached (max |ours - sunpy| / 0.1-99.9 percentile range):")
    for name, shape, c in results:
        print(f"       {name:28s} {str(shape):14s} all {c['max_rel']:.2e}  "
              f"disk {c['max_rel_disk']:.2e}  NaN agree {100 * c['nan_agree']:.4f}%")
    assert len(results) >= 17, f"only {len(results)} comparisons ran"


if __name__ == "__main__":
    run_checks()
