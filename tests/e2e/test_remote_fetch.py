"""The remote steps (Helioviewer, JSOC, HEK) against the fixture server: outputs compared with
Pillow's decoding of what was served, the requests the services saw, concurrency, connection
reuse, and every failure mode the fixture offers (each failing step gives a reason and the
others go on)."""
import datetime as dt
import io
import json
import os
import re
import subprocess
import time

import numpy as np
from PIL import Image

from fftest import check, run_checks, scratch
from fixture_server import AIA_JP2, Fixture, aia_name_time, aia_names, hmi_names

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", os.path.join(os.path.dirname(__file__), "../../build/tests")),
                    "ff_remote_tool")
SRC = os.environ.get("FF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
OBS = "2013-06-24T17:31:30.840"
OBS_T = dt.datetime(2013, 6, 24, 17, 31, 30, 840000)

fx = Fixture()
fx.start()


def version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        return re.search(r"project\(fitsflow VERSION ([0-9.]+)", f.read()).group(1)


def fetch(*args, env=None, out=None, base="f"):
    e = dict(os.environ, **fx.env(), FITSFLOW_HTTP_BACKOFF_MS="50", FITSFLOW_HTTP_TIMEOUT="10")
    for k in ("FITSFLOW_OFFLINE", "FITSFLOW_HTTP_RETRIES", "FITSFLOW_HTTP_MAX_BYTES"):
        e.pop(k, None)
    e.update(env or {})
    cmd = [TOOL, "fetch", *args]
    if out:
        cmd += ["--out", out, "--base", base]
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def reqs(prefix):
    return [r for r in fx.requests if r["path"].startswith(prefix)]


def hmi(measurement="continuum", *extra, **kw):
    return fetch("--time", OBS, "--instrument", "HMI", "--measurement", measurement, "--wavelength", "6173",
                 *extra, **kw)


@check
def aia_all_three_steps_match_what_was_served():
    fx.clear()
    out = scratch("remote-aia")
    r = fetch("--time", OBS, out=out, base="aia")
    assert r["ok"] == 3, r
    # Helioviewer: getClosestImage with the observation time and AIA 193's source id, then
    # downloadImage of the id it answered; a PNG answer is stored unchanged.
    q = reqs("/v2/getClosestImage/")[0]["query"]
    assert q["date"] == "2013-06-24T17:31:31Z" and q["sourceId"] == "11", q
    d = reqs("/v2/downloadImage/")[0]["query"]
    assert d == {"id": str(34205701 + 11), "scale": "2.0"}, d
    with open(os.path.join(out, "images/sdo/aia_sdo.png"), "rb") as f:
        assert f.read() == fx.hv_png
    # JSOC: the file closest in time from the day's listing, decoded like Pillow decodes it.
    names = aia_names(OBS_T.date(), 193)
    want = min(names, key=lambda n: (abs((aia_name_time(n) - OBS_T).total_seconds()), aia_name_time(n)))
    got = [r["path"] for r in reqs("/data/aia/") if r["path"].endswith(".jp2")]
    assert got == ["/data/aia/images/2013/06/24/193/" + want], (got, want)
    ours = np.asarray(Image.open(os.path.join(out, "images/jsoc/aia_jsoc.png")))
    ref = np.asarray(Image.open(AIA_JP2).convert("L"))
    assert ours.shape == ref.shape and np.array_equal(ours, ref)
    # HEK: the events JSON byte for byte, over the observation time plus 15 minutes.
    with open(os.path.join(out, "hek/aia_hek.json"), "rb") as f:
        assert f.read() == fx.hek_bodies[0]
    e = reqs("/v2/events/")[0]["query"]
    t0 = dt.datetime.strptime(e["startTime"], "%Y-%m-%dT%H:%M:%SZ")
    t1 = dt.datetime.strptime(e["endTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert e["sources"] == "HEK" and abs((t0 - OBS_T).total_seconds()) <= 0.5 and t1 - t0 == dt.timedelta(minutes=15)
    assert "3 events" in r["hek"]["message"], r["hek"]
    # Every request names FitsFlow and its version.
    uas = {r["headers"].get("User-Agent") for r in fx.requests}
    assert uas == {"FitsFlow/" + version()}, uas


@check
def hek_window_is_configurable():
    fx.clear()
    r = hmi(env={"FITSFLOW_HEK_WINDOW_MINUTES": "90"})
    e = reqs("/v2/events/")[0]["query"]
    t0 = dt.datetime.strptime(e["startTime"], "%Y-%m-%dT%H:%M:%SZ")
    t1 = dt.datetime.strptime(e["endTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert t1 - t0 == dt.timedelta(minutes=90) and r["hek"]["ok"]


@check
def hmi_continuum_and_magnetogram_jpegs_become_gray_pngs():
    for meas, kind in (("continuum", "Ic"), ("magnetogram", "M")):
        fx.clear()
        out = scratch("remote-hmi")
        r = hmi(meas, out=out, base="h")
        assert r["jsoc"]["ok"], r
        names = [n for n in hmi_names(OBS_T.date()) if f"_{kind}_" in n]
        want = min(names, key=lambda n: abs((dt.datetime.strptime(n[:15], "%Y%m%d_%H%M%S") - OBS_T).total_seconds()))
        got = [x["path"] for x in reqs("/data/hmi/") if x["path"].endswith(".jpg")]
        assert got == ["/data/hmi/images/2013/06/24/" + want], (got, want)
        ours = Image.open(os.path.join(out, "images/jsoc/h_jsoc.png"))
        ref = Image.open(io.BytesIO(fx.hmi_jpeg[kind]))
        assert ours.mode == "L" and np.array_equal(np.asarray(ours), np.asarray(ref))
        # Helioviewer used HMI's source id for this measurement (18 continuum, 19 magnetogram).
        assert reqs("/v2/getClosestImage/")[0]["query"]["sourceId"] == ("18" if kind == "Ic" else "19")


@check
def helioviewer_jpeg_is_reencoded_as_png():
    fx.clear()
    fx.fail("/v2/downloadImage", "jpeg")
    out = scratch("remote-jpeg")
    r = hmi(out=out, base="j")
    assert r["helioviewer"]["ok"] and "re-encoded from JPEG" in r["helioviewer"]["message"], r
    ours = Image.open(os.path.join(out, "images/sdo/j_sdo.png"))
    ref = Image.open(io.BytesIO(fx.hv_jpeg))
    assert ours.format == "PNG" and ours.mode == "RGB" and ours.size == ref.size
    diff = np.abs(np.asarray(ours, dtype=int) - np.asarray(ref.convert("RGB"), dtype=int))
    assert diff.max() <= 1, diff.max()


@check
def the_three_services_are_asked_at_once():
    fx.clear()
    fx.latency_ms = 400
    try:
        r = hmi()
        firsts = [reqs(p)[0]["t"] for p in ("/v2/getClosestImage/", "/data/hmi/", "/v2/events/")]
        fx.clear()
        s = hmi("continuum", "--sequential")
    finally:
        fx.latency_ms = 0
    assert r["ok"] == 3 and s["ok"] == 3
    assert max(firsts) - min(firsts) < 0.3, firsts
    # 5 requests in chains of at most 2: about 0.8 s at once against 2.0 s one after another
    # (the tool's own timing of the remote steps, so process start-up does not count).
    conc, seq = r["wall"], s["wall"]
    assert seq >= 2.0 and seq - conc >= 0.8, (conc, seq)


@check
def a_5xx_is_retried_with_backoff():
    fx.clear()
    fx.fail("/v2/getClosestImage", "status", times=2, status=503)
    r = hmi()
    assert r["helioviewer"]["ok"] and r["helioviewer"]["requests"] == 4, r["helioviewer"]  # 3 + downloadImage
    ts = [x["t"] for x in reqs("/v2/getClosestImage/")]
    assert len(ts) == 3 and ts[1] - ts[0] >= 0.02 and ts[2] - ts[1] >= 0.045, ts  # 50 ms, then 100 ms, jittered


@check
def a_lasting_5xx_fails_with_its_status_and_the_others_go_on():
    fx.clear()
    fx.fail("/v2/getClosestImage", "status", status=500)
    r = hmi(env={"FITSFLOW_HTTP_RETRIES": "2"})
    m = r["helioviewer"]["message"]
    assert not r["helioviewer"]["ok"] and "HTTP 500" in m and "3 attempts" in m, m
    assert len(reqs("/v2/getClosestImage/")) == 3
    assert r["jsoc"]["ok"] and r["hek"]["ok"]


@check
def a_404_is_not_retried():
    fx.clear()
    fx.fail("/v2/events", "status", status=404)
    r = hmi()
    assert not r["hek"]["ok"] and "HTTP 404" in r["hek"]["message"], r["hek"]
    assert len(reqs("/v2/events/")) == 1


@check
def a_hanging_service_times_out_without_delaying_the_others():
    fx.clear()
    fx.fail("/data/hmi", "hang", seconds=4)
    t = time.monotonic()
    r = hmi(env={"FITSFLOW_HTTP_TIMEOUT": "1", "FITSFLOW_HTTP_RETRIES": "1"})
    wall = time.monotonic() - t
    assert not r["jsoc"]["ok"] and "timed out" in r["jsoc"]["message"], r["jsoc"]
    assert len(reqs("/data/hmi/")) == 2  # a timeout is retried
    assert r["helioviewer"]["ok"] and r["hek"]["ok"]
    assert r["helioviewer"]["seconds"] < 0.8 and r["hek"]["seconds"] < 0.8, r
    assert wall < 3.5, wall


@check
def a_truncated_body_is_refused():
    fx.clear()
    fx.fail("/v2/downloadImage", "truncate")
    r = hmi()
    assert not r["helioviewer"]["ok"] and "cut short" in r["helioviewer"]["message"], r["helioviewer"]
    assert len(reqs("/v2/downloadImage/")) == 1


@check
def a_corrupt_image_is_refused_with_the_decoder_reason():
    fx.clear()
    fx.fail("/v2/downloadImage", "corrupt")
    fx.fail("/data/hmi/images/2013/06/24/2013", "corrupt")
    r = hmi()
    assert not r["helioviewer"]["ok"] and "PNG" in r["helioviewer"]["message"], r["helioviewer"]
    assert not r["jsoc"]["ok"] and "JPEG" in r["jsoc"]["message"], r["jsoc"]


@check
def wrong_content_types_are_reported():
    fx.clear()
    fx.fail("/v2/events", "html")
    fx.fail("/v2/getClosestImage", "html")
    r = hmi()
    assert not r["hek"]["ok"] and "not JSON" in r["hek"]["message"] and "text/html" in r["hek"]["message"], r["hek"]
    assert not r["helioviewer"]["ok"] and "text/html" in r["helioviewer"]["message"], r["helioviewer"]
    assert r["jsoc"]["ok"]


@check
def empty_listing_and_empty_events():
    fx.clear()
    fx.fail("/data/hmi", "empty")
    fx.fail("/v2/events", "empty")
    r = hmi()
    assert not r["jsoc"]["ok"] and "names none" in r["jsoc"]["message"], r["jsoc"]
    assert r["hek"]["ok"] and r["hek"]["message"].startswith("0 events"), r["hek"]


@check
def an_oversize_answer_is_cut_at_the_limit():
    fx.clear()
    fx.fail("/data/hmi/images/2013/06/24/2013", "oversize", bytes=3 << 20)
    r = hmi(env={"FITSFLOW_HTTP_MAX_BYTES": str(1 << 20)})
    assert not r["jsoc"]["ok"] and "larger than the 1048576-byte limit" in r["jsoc"]["message"], r["jsoc"]


@check
def no_image_near_the_time():
    fx.clear()
    fx.fail("/v2/getClosestImage", "far")
    r = hmi()
    assert not r["helioviewer"]["ok"] and "no image within 60 minutes" in r["helioviewer"]["message"], r
    assert reqs("/v2/downloadImage/") == []
    # HMI images every 15 minutes: none within 5 minutes of 17:37:30.
    fx.clear()
    r = fetch("--time", "2013-06-24T17:37:30", "--instrument", "HMI", "--measurement", "magnetogram",
              env={"FITSFLOW_REMOTE_MAX_OFFSET_MINUTES": "5"})
    assert not r["jsoc"]["ok"] and "within 5 minutes" in r["jsoc"]["message"], r["jsoc"]


@check
def offline_contacts_nothing():
    fx.clear()
    r = hmi(env={"FITSFLOW_OFFLINE": "1"})
    assert r["ok"] == 0 and fx.requests == []
    for k in ("helioviewer", "jsoc", "hek"):
        assert "offline" in r[k]["message"], r[k]


@check
def steps_that_cannot_run_say_why():
    fx.clear()
    r = fetch("--time", OBS, "--observatory", "SOHO", "--instrument", "EIT", "--measurement", "195",
              "--wavelength", "195")
    assert r["helioviewer"]["ok"] and reqs("/v2/getClosestImage/")[0]["query"]["sourceId"] == "1"
    assert not r["jsoc"]["ok"] and "SDO AIA and HMI" in r["jsoc"]["message"], r["jsoc"]
    assert r["hek"]["ok"]
    fx.clear()
    r = fetch("--instrument", "HMI", "--measurement", "continuum")  # no time
    assert r["ok"] == 0 and fx.requests == [] and all("no observation time" in r[k]["message"] for k in ("helioviewer", "jsoc", "hek"))


@check
def connections_are_reused_across_a_session():
    def session(*extra):
        fx.clear()
        e = dict(os.environ, **fx.env())
        p = subprocess.run([TOOL, "session", "--time", OBS, "--instrument", "HMI", "--measurement", "continuum",
                            "--files", "6", "--jobs", "1", *extra], capture_output=True, text=True, env=e, timeout=120)
        assert p.returncode == 0, p.stderr
        res = json.loads(p.stdout)
        assert res["ok"] == [6, 6, 6], res
        return len(fx.requests), len({x["port"] for x in fx.requests})
    n, ports = session()
    # 6 files x (2 Helioviewer + 1 image + 1 HEK) + 1 listing (then cached); at most one
    # connection per concurrent request.
    assert n == 25 and ports <= 3, (n, ports)
    n2, ports2 = session("--no-reuse")
    assert ports2 == n2, (n2, ports2)


@check
def decoders_refuse_damaged_images_without_crashing():
    # JPEG 2000 and JPEG cut short, zero-filled, or only a signature: a reason, never a crash
    # (the ASan build runs this too).
    work = scratch("remote-decode")
    with open(AIA_JP2, "rb") as f:
        jp2 = f.read()
    jpg = fx.hmi_jpeg["Ic"]
    cases = {"jp2-half": jp2[: len(jp2) // 2], "jp2-head": jp2[:200], "jp2-sig": jp2[:12],
             "jp2-zeros": jp2[:300] + bytes(len(jp2) - 300), "jpg-half": jpg[: len(jpg) // 2],
             "jpg-sig": jpg[:3], "png-sig": fx.hv_png[:8], "png-cut": fx.hv_png[:-12], "empty": b"",
             "text": b"<html>not an image</html>"}
    for name, data in cases.items():
        src = os.path.join(work, name)
        with open(src, "wb") as f:
            f.write(data)
        p = subprocess.run([TOOL, "decode", src, src + ".png"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, (name, p.returncode, p.stdout, p.stderr[-2000:])
        assert json.loads(p.stdout)["error"], (name, p.stdout)


run_checks()
