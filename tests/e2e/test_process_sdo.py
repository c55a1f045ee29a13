"""`fitsflow process` on the real SDO AIA 171 and HMI files that Debian's python3-sunpy ships:
every output is read back with astropy, numpy, pandas and json and compared with astropy."""
import json
import os
import shutil

import numpy as np
import pandas as pd
from astropy.io import fits

from fftest import AIA_171, BIN, HMI, check, check_manifest_outputs, load_manifest, run, run_checks, scratch

OUT = scratch("sdo")
RESULT = {}


def outputs():
    if "p" not in RESULT:
        # Names with an upper-case ending check that the ending is removed case-insensitively.
        shutil.copy(AIA_171, os.path.join(OUT, "aia_171.FITS"))
        RESULT["p"] = run("process", "--offline", "-o", os.path.join(OUT, "out"),
                          os.path.join(OUT, "aia_171.FITS"), HMI)
    return RESULT["p"], os.path.join(OUT, "out")


def astropy_hdu(path):
    hdul = fits.open(path)
    hdu = hdul[1] if len(hdul) > 1 and hdul[1].is_image and hdul[1].data is not None else hdul[0]
    return hdu.header, hdu.data


@check
def exit_status_and_lines():
    p, out = outputs()
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.splitlines() if l.startswith("processed ")]
    assert len(lines) == 2, p.stdout
    assert any("aia_171.FITS" in l and "SDO AIA 171" in l for l in lines), p.stdout


@check
def arrays_equal_astropy():
    _, out = outputs()
    for src, base in ((AIA_171, "aia_171"), (HMI, "resampled_hmi")):
        _, data = astropy_hdu(src)
        npy = np.load(os.path.join(out, "data", f"{base}_data.npy"))
        assert npy.dtype == data.dtype.newbyteorder("="), (npy.dtype, data.dtype)
        assert npy.shape == data.shape
        assert np.array_equal(npy, data, equal_nan=True)
        csv = pd.read_csv(os.path.join(out, "data", f"{base}_data.csv"), float_precision="round_trip")
        assert list(csv.columns) == [str(i) for i in range(data.shape[1])]
        assert np.array_equal(csv.to_numpy(dtype=data.dtype.newbyteorder("=")), data, equal_nan=True)


@check
def header_text_and_json_match_astropy():
    _, out = outputs()
    for src, base in ((AIA_171, "aia_171"), (HMI, "resampled_hmi")):
        header, _ = astropy_hdu(src)
        with open(os.path.join(out, "header", f"{base}_header.txt")) as f:
            text = f.read()
        expected = "".join(f"{k} = {v}\n" for k, v in header.items())
        assert text == expected, "header text differs from the original's f'{key} = {value}' lines"
        with open(os.path.join(out, "header", f"{base}_header.json")) as f:
            hj = json.load(f)
        for card in header.cards:
            k = card.keyword
            if k in ("COMMENT", "HISTORY", ""):
                continue
            got = hj["header"][k]
            want = header[k]
            assert type(got) == type(want) or (isinstance(want, float) and isinstance(got, (int, float))), (k, got, want)
            assert got == want, (k, got, want)
        if "HISTORY" in header:
            assert hj["header"]["HISTORY"] == list(header["HISTORY"])


@check
def manifest_describes_everything():
    _, out = outputs()
    m = load_manifest(out)
    assert m["version"], m
    assert m["summary"] == {"processed": 2, "skipped": 0, "failed": 0}, m["summary"]
    check_manifest_outputs(out, m)
    by_input = {f["input"]: f for f in m["files"]}
    aia = by_input["aia_171.FITS"]
    assert aia["status"] == "processed" and aia["reason"] is None
    assert (aia["observatory"], aia["instrument"], aia["measurement"]) == ("SDO", "AIA", "171"), aia
    assert aia["source_id"] == 10, aia
    assert aia["observation_time"] == "2011-02-15T00:00:01.340Z", aia["observation_time"]
    assert aia["shape"] == [128, 128] and aia["dtype"] == "float64"
    hmi = by_input["resampled_hmi.fits"]
    assert (hmi["instrument"], hmi["measurement"], hmi["source_id"]) == ("HMI", "continuum", 18), hmi
    # T_OBS 2014.03.01_00:01:25_TAI; TAI-UTC was 35 s in 2014.
    assert hmi["observation_time"] == "2014-03-01T00:00:50.000Z", hmi["observation_time"]
    paths = {o["path"] for o in aia["outputs"]}
    for rel in ("header/aia_171_header.txt", "header/aia_171_header.json",
                "data/aia_171_data.npy", "data/aia_171_data.csv",
                "images/local/aia_171_gray.png", "images/local/aia_171_color.png",
                "asdf/aia_171.asdf"):
        assert rel in paths, (rel, paths)
    types = {o["path"]: o["media_type"] for o in aia["outputs"]}
    assert types["data/aia_171_data.csv"] == "text/csv"


@check
def renders_and_asdf():
    import warnings
    import asdf
    from PIL import Image
    _, out = outputs()
    for src, base in ((AIA_171, "aia_171"), (HMI, "resampled_hmi")):
        _, data = astropy_hdu(src)
        for kind in ("gray", "color"):
            im = Image.open(os.path.join(out, "images", "local", f"{base}_{kind}.png"))
            assert im.size == (data.shape[1], data.shape[0]), im.size
            hist = np.asarray(im.convert("L")).ravel()
            assert np.percentile(hist, 95) - np.percentile(hist, 5) > 20, f"{base} {kind} PNG looks blank"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # asdf's own plugin discovery warns before any file is read
            asdf.get_config().extensions
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with asdf.open(os.path.join(out, "asdf", f"{base}.asdf"), validate_checksums=True) as af:
                af.validate()
                arr = np.asarray(af.tree["data"]["image"])
                assert arr.shape == data.shape and np.array_equal(arr, data, equal_nan=True)
                assert af.tree["observation"]["instrument"] in ("AIA", "HMI")
                assert f"images/local/{base}_gray.png" in af.tree["images"]
    color = np.asarray(Image.open(os.path.join(out, "images", "local", "aia_171_color.png")).convert("RGB"), dtype=float)
    r, g, b = (color[..., i].mean() for i in range(3))
    assert r > g > b, ("AIA 171 should look gold", r, g, b)


@check
def no_temporary_files_left():
    _, out = outputs()
    for root, _, files in os.walk(out):
        for f in files:
            assert not f.startswith(".ff-tmp-"), os.path.join(root, f)


@check
def cli_usage():
    assert run("--version").stdout.startswith("fitsflow ")
    assert run("--help").returncode == 0
    h = run("process", "--help")
    assert h.returncode == 0 and "-o" in h.stdout and "--offline" in h.stdout
    assert run("process").returncode == 2
    assert run("process", "--no-such-option", AIA_171).returncode == 2
    assert run("process", "-j", "0", AIA_171).returncode == 2
    assert run("no-such-command").returncode == 2


@check
def duplicate_names_in_one_run():
    out = scratch("dup")
    os.makedirs(os.path.join(out, "a"))
    shutil.copy(HMI, os.path.join(out, "a", "resampled_hmi.fits"))
    p = run("process", "-o", os.path.join(out, "o"), HMI, os.path.join(out, "a", "resampled_hmi.fits"))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "same name" in p.stderr
    m = load_manifest(os.path.join(out, "o"))
    assert [f["status"] for f in m["files"]] == ["processed", "skipped"]


run_checks()
