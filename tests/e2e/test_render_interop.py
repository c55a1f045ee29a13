"""Renders checked with the tools users hold: real SDO AIA 171 and HMI files (sunpy's test data)
read with astropy, rendered by ff_render_dump, opened with Pillow; colour tables compared with
sunpy's own; orientation compared with numpy's rotations; downsampling with Pillow's box filter."""
import os
import subprocess
import sys
import warnings

import numpy as np
from astropy.io import fits
from PIL import Image

warnings.simplefilter("ignore")

TOOL = os.path.join(os.environ["FF_TOOLS_DIR"], "ff_render_dump")
TMP = os.path.join(os.environ.get("FF_TEST_TMP", "/tmp"), "render_interop")
DATA = "/usr/lib/python3/dist-packages/sunpy/data/test/"
os.makedirs(TMP, exist_ok=True)

passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}")


def render(data, name, **opts):
    """Writes data as a raw little-endian array, renders it, returns (gray, colour, scaling)."""
    data = np.asarray(data)
    raw = os.path.join(TMP, name + ".raw")
    data.astype(data.dtype.newbyteorder("<")).tofile(raw)
    g, c = os.path.join(TMP, name + "_gray.png"), os.path.join(TMP, name + "_color.png")
    cmd = [TOOL, raw, data.dtype.name, ",".join(map(str, data.shape)), g, c]
    for k, v in opts.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return Image.open(g), Image.open(c), out.stdout.strip()


def header_opts(h):
    tel = str(h.get("TELESCOP", ""))
    inst = "AIA" if "AIA" in tel else "HMI" if "HMI" in tel else str(h.get("INSTRUME", ""))
    opts = {"instrument": inst, "crota2": h.get("CROTA2", 0.0), "time": h.get("T_OBS", "")}
    if inst == "AIA":
        opts["measurement"] = str(h["WAVELNTH"])
        opts["wavelength"] = int(h["WAVELNTH"])
    else:
        content = str(h.get("CONTENT", "")).lower()
        opts["measurement"] = "continuum" if "continuum" in content else "magnetogram"
        opts["wavelength"] = int(h.get("WAVELNTH", 0))
    if h.get("EXPTIME") is not None:
        opts["exptime"] = h["EXPTIME"]
    return opts


def rank_corr(a, b):
    """Spearman correlation over pixels finite in a (b holds display levels)."""
    m = np.isfinite(a)
    ra = np.argsort(np.argsort(a[m])).astype(float)
    rb = np.argsort(np.argsort(b[m], kind="stable")).astype(float)
    return np.corrcoef(ra, rb)[0, 1]


def disk_mask(h, shape):
    """Pixels on the solar disk, from the header's WCS (FITS rows, row 0 at the bottom)."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    r = np.hypot(x + 1 - h["CRPIX1"], y + 1 - h["CRPIX2"]) * h["CDELT1"]
    return r < 0.95 * h["RSUN_OBS"]


aia_h = fits.getheader(DATA + "aia_171_level1.fits")
aia = fits.getdata(DATA + "aia_171_level1.fits")
hmi_h = fits.getheader(DATA + "resampled_hmi.fits")
hmi = fits.getdata(DATA + "resampled_hmi.fits")


def t_colour_tables():
    import sunpy.visualization.colormaps as cm

    names = [(f"sdoaia{w}", f"sdoaia{w}") for w in (94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500)]
    names.append(("heat", "hinodexrt"))  # IDL table 3, as sunpy uses it for Hinode XRT
    for ours_name, ref in names:
        out = subprocess.run([TOOL, "--colormap", ours_name], capture_output=True, text=True, check=True)
        ours = np.loadtxt(out.stdout.splitlines()) / 255.0
        theirs = cm.cmlist[ref](np.arange(256))[:, :3]
        assert ours.shape == (256, 3), ours.shape
        worst = np.abs(ours - theirs).max()
        assert worst <= 1 / 255 + 1e-9, f"{ours_name}: off by {worst * 255:.2f}/255"


def t_aia171():
    g, c, scaling = render(aia, "aia171", **header_opts(aia_h))
    assert g.size == (128, 128) and c.size == (128, 128), (g.size, c.size)
    assert g.mode == "L" and c.mode == "P", (g.mode, c.mode)
    assert c.info.get("transparency") == 0, c.info.get("transparency")
    gv = np.asarray(g)
    assert len(np.unique(gv)) > 100 and gv.std() > 25, (len(np.unique(gv)), gv.std())
    # orientation: the PNG is the FITS array shown origin='lower' (CROTA2 is 0.02 here)
    assert rank_corr(np.flipud(aia), gv) > 0.99
    assert rank_corr(aia, gv) < 0.9
    rgba = np.asarray(c.convert("RGBA")).astype(float)
    disk = np.flipud(disk_mask(aia_h, aia.shape))
    r, gg, b = (rgba[..., i][disk].mean() for i in range(3))
    assert r > gg > b, f"AIA 171 should be gold, channel means {r:.0f} {gg:.0f} {b:.0f}"
    for key in ("Instrument", "Wavelength", "Observation Time", "Scaling"):
        assert key in g.text and key in c.text, (key, g.text)
    assert g.text["Wavelength"] == "171" and g.text["Observation Time"] == aia_h["T_OBS"]
    assert c.text["Scaling"] == scaling and "exposure-normalised" in scaling, scaling


def t_hmi_continuum_rotated():
    opts = header_opts(hmi_h)
    assert abs(opts["crota2"] - 180) < 1
    g, c, scaling = render(hmi, "hmi", **opts)
    assert g.size == (100, 100)
    gv = np.asarray(g)
    # CROTA2 ~ 180: shown origin='lower', then turned 180 degrees
    want = np.rot90(np.flipud(hmi), 2)
    assert np.array_equal(gv == 0, np.isnan(want)), "missing pixels are not where NaN is"
    alpha = np.asarray(c.convert("RGBA"))[..., 3]
    assert np.array_equal(alpha == 0, np.isnan(want))
    # the disk is nearly symmetric, so wrong turns still correlate; the sunspots make the gap
    assert rank_corr(want, gv) > 0.995
    for wrong in (np.flipud(hmi), hmi, np.fliplr(np.flipud(hmi))):
        assert rank_corr(wrong, gv) < 0.99
    base = np.asarray(render(hmi, "hmi_unturned", **dict(opts, crota2=0))[0])
    assert np.array_equal(gv, np.rot90(base, 2))
    assert len(np.unique(gv)) > 100
    assert "180" in scaling and "north" in scaling, scaling


def synthetic_disk(n=256, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    r = np.hypot(x - n / 2, y - n / 2) / (0.4 * n)
    img = np.where(r < 1, 300 + 200 * r**6, 500 * np.exp(-(r - 1) * 8))
    img = img + 4000 * np.exp(-((x - 0.35 * n) ** 2 + (y - 0.6 * n) ** 2) / (0.002 * n * n))
    return rng.poisson(img).astype(np.int16), r < 0.95


def t_synthetic_193_304():
    img, disk = synthetic_disk()
    disk = np.flipud(disk)
    means = {}
    for wl in (193, 304):
        g, c, _ = render(img, f"syn{wl}", instrument="AIA", measurement=str(wl), wavelength=wl,
                         exptime=2.0)
        rgba = np.asarray(c.convert("RGBA")).astype(float)
        means[wl] = [rgba[..., i][disk].mean() for i in range(3)]
        assert c.text.get("Colour Table") == f"sdoaia{wl}", c.text
    r, g, b = means[193]
    assert r > g > b, f"193 should be bronze: {means[193]}"
    r, g, b = means[304]
    assert r > g > b and r > 2 * g, f"304 should be red: {means[304]}"


def t_rotations_match_numpy():
    img, _ = synthetic_disk(96, seed=3)
    img = img[:, :80]  # not square, so a wrong turn changes the size
    base = np.asarray(render(img, "rot0", crota2=0)[0])
    for k, angle in ((1, 90), (2, 180), (3, 270), (3, -90), (1, 89.2)):
        got = np.asarray(render(img, f"rot{k}", crota2=angle)[0])
        want = np.rot90(base, k)  # numpy turns the picture (rows top first) counter-clockwise
        assert got.shape == want.shape and np.array_equal(got, want), f"CROTA2 {angle}"


def t_blank_int16():
    img, _ = synthetic_disk(64, seed=4)
    img[10:14, 20:30] = -32768
    g, c, scaling = render(img, "blank", instrument="AIA", wavelength=171, blank=-32768)
    gv = np.asarray(g)
    missing = np.flipud(img == -32768)
    assert np.array_equal(gv == 0, missing)
    assert np.array_equal(np.asarray(c.convert("RGBA"))[..., 3] == 0, missing)
    assert "40 of 4096 pixels missing" in scaling, scaling


def t_downsample_matches_pillow_box():
    g, c, scaling = render(aia, "aia_small", png_max=50, **header_opts(aia_h))
    assert g.size == (50, 50) and c.size == (50, 50), g.size
    box = Image.fromarray(np.flipud(aia).astype(np.float32), mode="F").resize((50, 50), Image.BOX)
    assert rank_corr(np.asarray(box), np.asarray(g)) > 0.99
    g2 = render(hmi, "hmi_small", png_max=40, **header_opts(hmi_h))[0]
    assert g2.size == (40, 40)
    wide = np.tile(np.linspace(0, 1, 300), (120, 1))
    g3 = render(wide, "wide", png_max=100)[0]
    assert g3.size == (100, 40), g3.size


def t_edge_cases():
    g, c, s = render(np.full((5, 7), np.nan), "allnan", instrument="AIA", wavelength=171)
    assert g.size == (7, 5) and np.asarray(g).max() == 0 and "missing" in s
    assert np.asarray(c.convert("RGBA"))[..., 3].max() == 0
    g, c, s = render(np.full((3, 3), 7.0), "const", instrument="AIA", wavelength=171, exptime=0)
    assert np.all(np.asarray(g) == 128), np.asarray(g)
    g, c, s = render(np.array([[1.0]]), "one", instrument="HMI", measurement="magnetogram")
    assert g.size == (1, 1)
    g, c, s = render(np.array([[1e-300, 1e300], [-1e300, 1.0]]), "range", exptime=-1,
                     instrument="AIA")
    assert len(np.unique(np.asarray(g))) >= 2, np.asarray(g)


check("colour tables equal sunpy's within 1/255", t_colour_tables)
check("AIA 171: size, spread, orientation, gold, tEXt", t_aia171)
check("HMI continuum: CROTA2 180 turned, NaN black/transparent", t_hmi_continuum_rotated)
check("synthetic AIA 193 bronze and 304 red", t_synthetic_193_304)
check("CROTA2 90/180/270 equal numpy rot90 of the unrotated render", t_rotations_match_numpy)
check("int16 BLANK pixels black and transparent", t_blank_int16)
check("downsampling: sizes, close to Pillow's box filter", t_downsample_matches_pillow_box)
check("edge cases: all NaN, constant, 1x1, huge range", t_edge_cases)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
