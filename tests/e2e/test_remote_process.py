"""`fitsflow process` with the remote steps against the fixture server: the Helioviewer, JSOC and
HEK outputs land under their keys, in the manifest and in the ASDF bundle (read with asdf); a
failing or offline service leaves every local output in place."""
import json
import os

import asdf
import numpy as np
from PIL import Image

from fftest import AIA_171, HMI, check, load_manifest, check_manifest_outputs, run, run_checks, scratch
from fixture_server import Fixture

fx = Fixture()
fx.start()


def env(**extra):
    e = {**fx.env(), "FITSFLOW_HTTP_BACKOFF_MS": "20", "FITSFLOW_OFFLINE": "0"}
    e.update(extra)
    return e


def paths(outdir):
    return {o["path"] for f in load_manifest(outdir)["files"] for o in f["outputs"]}


@check
def process_stores_the_three_remote_outputs():
    fx.clear()
    out = scratch("rproc")
    run("process", "-q", "-o", out, AIA_171, HMI, env=env(), check_status=0)
    got = paths(out)
    for base in ("aia_171_level1", "resampled_hmi"):
        assert f"images/sdo/{base}_sdo.png" in got and f"hek/{base}_hek.json" in got, sorted(got)
    assert "images/jsoc/aia_171_level1_jsoc.png" in got, sorted(got)
    check_manifest_outputs(out, load_manifest(out))
    with open(os.path.join(out, "images/sdo/aia_171_level1_sdo.png"), "rb") as f:
        assert f.read() == fx.hv_png
    jsoc = np.asarray(Image.open(os.path.join(out, "images/jsoc/aia_171_level1_jsoc.png")))
    assert jsoc.shape == (4096, 4096)
    # AIA 171 asked for its own wavelength's directory on the observation's day.
    assert any(r["path"] == "/data/aia/images/2011/02/15/171/" for r in fx.requests)
    # The HEK JSON is stored unchanged and embedded in the ASDF bundle.
    with open(os.path.join(out, "hek/aia_171_level1_hek.json"), "rb") as f:
        raw = f.read()
    assert raw in fx.hek_bodies
    with asdf.open(os.path.join(out, "asdf/aia_171_level1.asdf")) as af:
        assert af.tree["hek"] == json.loads(raw)
        assert "images/sdo/aia_171_level1_sdo.png" in list(af.tree["images"])


@check
def failing_services_leave_local_outputs_alone():
    fx.clear()
    fx.fail("/", "status", status=500)
    out = scratch("rproc-fail")
    run("process", "-q", "-o", out, AIA_171, env=env(FITSFLOW_HTTP_RETRIES="0"), check_status=0)
    got = paths(out)
    assert not any(p.startswith(("images/sdo/", "images/jsoc/", "hek/")) for p in got), sorted(got)
    for p in ("header/aia_171_level1_header.txt", "data/aia_171_level1_data.npy",
              "images/local/aia_171_level1_gray.png", "asdf/aia_171_level1.asdf"):
        assert p in got, (p, sorted(got))
    assert len(fx.requests) == 3  # one per service, a 500 not retried with FITSFLOW_HTTP_RETRIES=0


@check
def offline_asks_nothing():
    fx.clear()
    out = scratch("rproc-off")
    run("process", "-q", "--offline", "-o", out, AIA_171, env=env(), check_status=0)
    assert fx.requests == []
    assert not any(p.startswith(("images/sdo/", "hek/")) for p in paths(out))


run_checks()
