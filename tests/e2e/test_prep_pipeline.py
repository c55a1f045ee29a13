"""Level 1.5 in the pipeline, through the real binary: `fitsflow process` on full-disk AIA and HMI
images built from the real headers python3-sunpy ships (1024x1024, prepsun.py's builders) writes
prep/{base}_lev15.fits and prep/{base}_ml.npy (in the manifest with sha256, and in the ASDF
bundle's prep node), and the session stacks; sunpy reads the level-1.5 file with the Sun's centre
at the image centre, north up, at 2.4"/px (0.6" x 4 for a 1024 image); the ML array is numpy's
NaN-aware block mean of it; the stacks match the per-file arrays in observation-time order. A file
that is not a full-disk SDO image, or whose WCS is broken, gets no level 1.5 and a reason, and
every other output. The same through `fitsflow serve` (the log protocol's step 8, the stacks in
the ZIP)."""
import atexit
import io
import json
import os
import shutil
import warnings
import zipfile

import numpy as np
from astropy.io import fits

import prepsun
from fftest import (SUNPY_TEST_DATA, check, check_manifest_outputs, load_manifest, run,
                    run_checks, scratch)
from serve_harness import Server, upload, wait_for

warnings.simplefilter("ignore")
TMP = scratch("prep-pipeline")
atexit.register(shutil.rmtree, TMP, True)  # about 200 MB of outputs: the disk is shared
N = 1024


def build(name, inst, crota, t_obs, seed, shift=(0.0, 0.0), edit=None):
    h = prepsun.make_header(inst, N, crota=crota, crpix_shift=shift)
    h["T_OBS"] = t_obs
    h["DATE-OBS"] = t_obs.rstrip("Z")
    if edit:
        edit(h)
    p = os.path.join(TMP, name)
    prepsun.write_fits(p, h, prepsun.make_data(h, seed=seed))
    return p


def _bad_wcs(h):  # CROTA2 and PCi_j both given, and contradicting each other
    h["PC1_1"], h["PC1_2"], h["PC2_1"], h["PC2_2"] = 1.0, 0.0, 0.0, 1.0


FILES = {
    # observation times out of name order, so that the stack's order is the times'
    "aia_b.fits": build("aia_b.fits", "aia", 1.5, "2011-02-15T00:00:13.340Z", 1, shift=(7.5, -4.0)),
    "aia_a.fits": build("aia_a.fits", "aia", 0.1, "2011-02-15T00:00:25.340Z", 2),
    "hmi_c.fits": build("hmi_c.fits", "hmi", 180.0, "2011-02-15T00:00:01.000Z", 3),
    "badwcs.fits": build("badwcs.fits", "aia", 45.0, "2011-02-15T00:00:05.000Z", 4, edit=_bad_wcs),
    "eit.fits": os.path.join(SUNPY_TEST_DATA, "EIT", "efz20040301.000010_s.fits"),
}
REGISTERED = ["hmi_c", "aia_b", "aia_a"]  # in observation-time order
NOT_REGISTERED = {"badwcs": "contradictory wcs", "efz20040301.000010_s": "not an sdo aia or hmi"}
STATE = {}


def processed(ml_size=None, outputs=None):
    key = (ml_size, outputs)
    if key not in STATE:
        out = os.path.join(TMP, "out-%s-%s" % key)
        args = ["process", "--offline", "-q", "-o", out]
        if ml_size:
            args += ["--ml-size", str(ml_size)]
        if outputs:
            args += ["--outputs", outputs]
        p = run(*args, *FILES.values())
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)  # a skipped prep is no failure
        STATE[key] = (out, load_manifest(out))
    return STATE[key]


def entry(m, base):
    return next(f for f in m["files"] if f["base"] == base)


@check
def process_writes_level15_and_ml_arrays_in_the_manifest():
    out, m = processed()
    check_manifest_outputs(out, m)
    for base in REGISTERED:
        f = entry(m, base)
        assert f["status"] == "processed", f
        paths = {o["path"]: o for o in f["outputs"]}
        for rel in (f"prep/{base}_lev15.fits", f"prep/{base}_ml.npy"):
            assert rel in paths, (rel, sorted(paths))
        assert paths[f"prep/{base}_lev15.fits"]["media_type"] == "application/fits"
        p = f["prep"]
        assert p["status"] == "registered" and p["reason"] is None, p
        assert p["lev15"] == f"prep/{base}_lev15.fits" and p["ml"] == f"prep/{base}_ml.npy", p
        assert p["ml_size"] == 512 and p["lev15_shape"] == [N, N], p
        if base.startswith("aia"):
            assert p["normalised"] is True and p["normalise_reason"] is None, p
            assert abs(p["exposure_time"] - fits.getheader(FILES[base + ".fits"])["EXPTIME"]) < 1e-9
        else:
            assert p["normalised"] is False and "HMI" in p["normalise_reason"], p
    assert m["summary"] == {"processed": 5, "skipped": 0, "failed": 0}, m["summary"]


@check
def sunpy_reads_level15_centred_north_up():
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord
    out, m = processed()
    for base in REGISTERED:
        smap = sunpy.map.Map(os.path.join(out, "prep", base + "_lev15.fits"))
        assert smap.instrument.startswith(base[:3].upper()), smap.instrument
        scale = smap.scale[0].to_value(u.arcsec / u.pix)
        want = 2.4 if base.startswith("aia") else round(prepsun.make_header("hmi", N)["CDELT1"] / 0.6) * 0.6
        assert abs(scale - want) < 1e-9 and abs(smap.scale[1].to_value(u.arcsec / u.pix) - scale) < 1e-12
        assert np.allclose(smap.rotation_matrix, np.eye(2), atol=1e-12), smap.rotation_matrix
        c = smap.world_to_pixel(SkyCoord(0 * u.arcsec, 0 * u.arcsec, frame=smap.coordinate_frame))
        h, w = smap.data.shape
        assert abs(c.x.value - (w - 1) / 2) < 0.1 and abs(c.y.value - (h - 1) / 2) < 0.1, (base, c, w, h)
        north = smap.world_to_pixel(SkyCoord(0 * u.arcsec, 500 * u.arcsec, frame=smap.coordinate_frame))
        assert abs(north.x.value - c.x.value) < 1e-6 and north.y.value > c.y.value, (north, c)
        assert smap.meta["lvl_num"] == 1.5
        assert abs((smap.rsun_obs / smap.scale[0]).to_value(u.pix) - smap.meta["r_sun"]) < 1e-6 * smap.meta["r_sun"]


def block_mean(lev15, cdelt, size):
    """The level-1.5 image on the 4096 grid at 0.6"/px, centred, NaN around; nanmean blocks."""
    k = int(round(cdelt / 0.6))
    big = np.kron(lev15, np.ones((k, k), np.float32)) if k > 1 else lev15
    g = np.full((4096, 4096), np.nan, np.float32)
    hh, ww = big.shape
    oy, ox = (4096 - hh) // 2, (4096 - ww) // 2
    g[oy:oy + hh, ox:ox + ww] = big
    b = 4096 // size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(g.reshape(size, b, size, b).astype(np.float64), axis=(1, 3))


@check
def ml_array_is_the_nan_aware_block_mean():
    for size, outputs in ((None, None), (256, "prep")):
        out, m = processed(ml_size=size, outputs=outputs)
        n = size or 512
        for base in REGISTERED:
            ml = np.load(os.path.join(out, "prep", base + "_ml.npy"))
            assert ml.dtype == np.float32 and ml.shape == (n, n), (ml.dtype, ml.shape)
            with fits.open(os.path.join(out, "prep", base + "_lev15.fits")) as hdul:
                lev15 = hdul[0].data.astype(np.float32)
                cdelt = hdul[0].header["CDELT1"]
            ref = block_mean(lev15, cdelt, n)
            assert np.array_equal(np.isnan(ml), np.isnan(ref)), base
            fin = ~np.isnan(ref)
            scale = np.nanmax(np.abs(ref))
            assert np.max(np.abs(ml[fin] - ref[fin])) <= 1e-6 * scale, (base, np.max(np.abs(ml[fin] - ref[fin])))


@check
def stacks_hold_every_registered_file_in_time_order():
    import pandas as pd
    out, m = processed()
    stack = np.load(os.path.join(out, "session", "stack.npy"))
    assert stack.dtype == np.float32 and stack.shape == (3, 512, 512), (stack.dtype, stack.shape)
    for i, base in enumerate(REGISTERED):
        np.testing.assert_array_equal(stack[i], np.load(os.path.join(out, "prep", base + "_ml.npy")))
    idx = pd.read_csv(os.path.join(out, "session", "stack_index.csv"))
    assert list(idx.columns) == ["index", "file", "observation_time", "observatory", "instrument",
                                 "measurement", "wavelength", "exposure_time", "normalised"], idx.columns
    assert list(idx["file"]) == [b + ".fits" for b in REGISTERED], idx
    assert list(idx["index"]) == [0, 1, 2]
    times = pd.to_datetime(idx["observation_time"])
    assert times.is_monotonic_increasing, times
    assert list(idx["instrument"]) == ["HMI", "AIA", "AIA"] and list(idx["normalised"]) == [False, True, True]
    assert np.isnan(idx["exposure_time"][0]) and idx["exposure_time"][1] > 0
    z = np.load(os.path.join(out, "session", "channels.npz"))
    assert sorted(z.files) == ["aia_171", "aia_171_time", "hmi_continuum", "hmi_continuum_time"], z.files
    assert z["aia_171"].shape == (2, 512, 512) and z["aia_171"].dtype == np.float32
    np.testing.assert_array_equal(z["aia_171"], stack[1:])
    np.testing.assert_array_equal(z["hmi_continuum"][0], stack[0])
    want = [np.datetime64(t.rstrip("Z")).astype("datetime64[ms]").astype(np.float64) / 1e3
            for t in ("2011-02-15T00:00:13.340", "2011-02-15T00:00:25.340")]
    assert z["aia_171_time"].dtype == np.float64 and np.allclose(z["aia_171_time"], want, atol=1e-6), z["aia_171_time"]
    assert m["stacks"] == {"slices": 3, "ml_size": 512, "channels": {"hmi_continuum": 1, "aia_171": 2},
                           "note": None}, m["stacks"]
    assert [o["path"] for o in m["session_outputs"]] == ["session/stack.npy", "session/stack_index.csv",
                                                         "session/channels.npz"]


@check
def files_not_registered_get_a_reason_and_every_other_output():
    out, m = processed()
    for base, words in NOT_REGISTERED.items():
        f = entry(m, base)
        assert f["status"] == "processed", f
        assert f["prep"]["status"] == "skipped" and words in f["prep"]["reason"].lower(), f["prep"]
        assert any(n.startswith("Level 1.5 not made: ") for n in f["notes"]), f["notes"]
        paths = {o["path"] for o in f["outputs"]}
        assert not any(p.startswith("prep/") for p in paths), paths
        for rel in (f"header/{base}_header.txt", f"data/{base}_data.npy", f"asdf/{base}.asdf",
                    f"images/local/{base}_color.png"):
            assert rel in paths, (rel, paths)
        assert not os.path.exists(os.path.join(out, "prep", base + "_ml.npy"))


@check
def asdf_bundle_carries_the_prep_node():
    import asdf
    out, m = processed()
    for base in REGISTERED + list(NOT_REGISTERED):
        with asdf.open(os.path.join(out, "asdf", base + ".asdf"), validate_checksums=True) as af:
            p = af.tree["prep"]
            if base in NOT_REGISTERED:
                assert p["status"] == "skipped" and NOT_REGISTERED[base] in p["reason"].lower(), p
                assert "ml" not in p
                continue
            assert p["status"] == "registered" and p["reason"] is None, p
            ml = np.asarray(p["ml"])
            np.testing.assert_array_equal(ml, np.load(os.path.join(out, "prep", base + "_ml.npy")))
            lev15 = fits.getheader(os.path.join(out, "prep", base + "_lev15.fits"))
            assert p["header"]["LVL_NUM"] == 1.5 and p["header"]["CDELT1"] == lev15["CDELT1"], p["header"]
            assert p["header"]["CRPIX1"] == lev15["CRPIX1"]
            assert p["normalised"] is base.startswith("aia"), p
            assert p["lev15_fits"] == f"prep/{base}_lev15.fits" and p["ml_npy"] == f"prep/{base}_ml.npy"


@check
def outputs_without_prep_write_no_level15():
    out, m = processed(outputs="npy")
    for f in m["files"]:
        assert f["prep"] is None, f["prep"]
        assert not any(o["path"].startswith("prep/") for o in f["outputs"]), f["outputs"]
    assert m["session_outputs"] == [] and m["stacks"] is None
    assert not os.path.exists(os.path.join(out, "session"))


@check
def serve_session_has_level15_step_and_stacks():
    srv = Server("prep-serve", env={"FITSFLOW_ML_SIZE": "128"}).start()
    sid = "prep0123456789abcdef"
    try:
        for name in ("aia_b.fits", "hmi_c.fits", "eit.fits"):
            with open(FILES[name], "rb") as f:
                upload(srv, sid, name, f.read())
        st, _, body = srv.request("GET", f"/FitsFlow-2-Trigger?session_id={sid}")
        assert st == 200, (st, body)
        summary = wait_for(srv, f"/temp/{sid}/logs/summary_log_2.txt", timeout=300).decode()
        assert summary.startswith("ALL FILES PROCESSED SUCCESSFULLY"), summary
        logs = f"/temp/{sid}/logs"
        for base in ("aia_b", "hmi_c"):
            text = wait_for(srv, f"{logs}/{base}_log_8.txt").decode()
            assert text.startswith(f"Level 1.5: prep/{base}_lev15.fits") and "(128x128)" in text, text
        text = wait_for(srv, f"{logs}/eit_log_8.txt").decode()
        assert "not registered: not an SDO AIA or HMI image" in text, text
        st, _, body = srv.request("GET", f"/temp/{sid}/processed/manifest.json")
        m = json.loads(body)
        assert entry(m, "aia_b")["prep"]["ml_size"] == 128
        st, _, body = srv.request("GET", f"/temp/{sid}/processed/session/stack.npy")
        assert st == 200
        stack = np.load(io.BytesIO(body))
        assert stack.shape == (2, 128, 128), stack.shape
        st, _, body = srv.request("GET", f"/temp/{sid}/processed/prep/hmi_c_ml.npy")
        np.testing.assert_array_equal(stack[0], np.load(io.BytesIO(body)))  # HMI's time is earlier
        st, _, body = srv.request("GET", f"/api/sessions/{sid}/archive.zip")
        assert st == 200
        names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
        for rel in ("session/stack.npy", "session/stack_index.csv", "session/channels.npz",
                    "prep/aia_b_lev15.fits", "prep/aia_b_ml.npy", "prep/hmi_c_ml.npy"):
            assert rel in names, (rel, sorted(names))
        st, _, body = srv.json("GET", f"/api/sessions/{sid}")
        f = next(x for x in body["files"] if x["base"] == "aia_b")
        assert f["steps"]["8"]["ok"] is True, f["steps"]
    finally:
        assert srv.stop() == 0


run_checks()
