"""The browser client (web/) end to end: a real `fitsflow serve` on loopback, Debian's chromium
driven by Playwright (tests/web/app.test.mjs), the real SDO sample files, fixtures made with
astropy, and the ZIP the browser downloaded checked here with zipfile, astropy, numpy and Pillow.

When `fitsflow serve` does not serve web/ at "/" itself, the page is served from a second
loopback port and talks to the API across origins (config.js pointed at it), which is the
"separate API base URL" set-up. Exits 77 (skipped) when node, chromium or playwright-core is
missing: run make deps. FF_SERVE_WRAPPER (e.g. "gdb -q -batch -ex run -ex bt --args") runs
the server under a debugger; its output goes to serve.log in the scratch folder."""
import http.server
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from fftest import AIA_171, BIN, HMI, check, run_checks, scratch  # noqa: E402

SRC = os.environ.get("FF_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
WEB = os.path.join(SRC, "web")
CHROMIUM = os.environ.get("FF_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
LIMIT_MB = 1  # small, so that one generated file is over it while the SDO samples fit


def skip(reason):
    print(f"SKIPPED: {reason}; run make deps")
    sys.exit(77)


if not NODE:
    skip("node is not installed")
if not os.access(CHROMIUM, os.X_OK):
    skip(f"no chromium at {CHROMIUM}")
if not os.path.isdir(os.path.join(SRC, "node_modules", "playwright-core")):
    skip("node_modules/playwright-core is missing")

TMP = scratch("web")
FIX = os.path.join(TMP, "fixtures")
DATA = os.path.join(TMP, "data")
tmp_base = os.environ.get("FF_TEST_TMP") or TMP
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(tmp_base)), "test-artifacts", "web")
os.makedirs(FIX)
os.makedirs(ARTIFACTS, exist_ok=True)
for stale in ("session.zip", "session.json", "aia_171_level1_data.csv"):
    if os.path.exists(os.path.join(ARTIFACTS, stale)):
        os.remove(os.path.join(ARTIFACTS, stale))

XSS_VALUE = "<script>window.__ffPwned=1</script>"
XSS_IMG = "<img src=x onerror=window.__ffPwned=2>"


def make_fixtures():
    import numpy as np
    from astropy.io import fits

    # A header that tries to inject markup; small image so that it processes quickly.
    hdu = fits.PrimaryHDU(np.arange(64 * 48, dtype=np.int16).reshape(48, 64))
    hdu.header["OBJECT"] = XSS_VALUE
    hdu.header["OBSERVER"] = XSS_IMG
    hdu.header["TELESCOP"] = "Test <b>bold</b> & co"
    hdu.writeto(os.path.join(FIX, "xss_header.fits"))
    # Over the 1 MB session limit on its own.
    fits.PrimaryHDU(np.zeros((600, 600), dtype=np.float32)).writeto(os.path.join(FIX, "too_big.fits"))
    with open(os.path.join(FIX, "notes.txt"), "w") as f:
        f.write("not a FITS file\n")
    with open(os.path.join(FIX, "fake.fits"), "w") as f:
        f.write("this file only pretends to be FITS\n" * 10)
    for p in (AIA_171, HMI):
        shutil.copy(p, FIX)
    # A tiny daily movie for the landing view, when ffmpeg is there.
    movie = None
    if shutil.which("ffmpeg"):
        os.makedirs(os.path.join(DATA, "daily_videos"), exist_ok=True)
        movie = os.path.join(DATA, "daily_videos", "20261122_stitched.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=1",
                        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", movie],
                       check=True, timeout=60)
    expect = {}
    for p in (AIA_171, HMI):
        with fits.open(p) as hl:
            h = hl[0].header if hl[0].data is not None else hl[1].header
            expect[os.path.basename(p)] = {"TELESCOP": h.get("TELESCOP"), "NAXIS1": h["NAXIS1"], "NAXIS2": h["NAXIS2"]}
    expect["xss_header.fits"] = {"OBJECT": XSS_VALUE, "OBSERVER": XSS_IMG, "NAXIS1": 64, "NAXIS2": 48}
    return expect, movie


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebHandler(http.server.SimpleHTTPRequestHandler):
    """web/ as files, with /config.js replaced to point at the API on its own port."""
    config_js = b""

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=WEB, **kw)

    def do_GET(self):
        if self.path.split("?")[0] == "/config.js":
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        super().do_GET()

    def log_message(self, *a):
        pass


def start_server(web_origin):
    env = dict(os.environ, FITSFLOW_OFFLINE="1", FITSFLOW_SESSION_LIMIT_MB=str(LIMIT_MB),
               FITSFLOW_CORS_ORIGINS=web_origin, FITSFLOW_WORKERS="2")
    err = open(os.path.join(TMP, "serve.log"), "w+")
    wrap = os.environ.get("FF_SERVE_WRAPPER", "").split()
    p = subprocess.Popen([*wrap, BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", DATA], env=env,
                         stdout=err, stderr=err)
    deadline = time.time() + 20
    while time.time() < deadline:
        err.seek(0)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", err.read())
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    err.seek(0)
    raise RuntimeError("fitsflow serve did not start:\n" + err.read())


def serves_page(api):
    try:
        with urllib.request.urlopen(api + "/", timeout=5) as r:
            return r.headers.get("Content-Type", "").startswith("text/html")
    except Exception:
        return False


@check
def browser_suite():
    expect, movie = make_fixtures()
    web_port = free_port()
    web_origin = f"http://127.0.0.1:{web_port}"
    proc, api = start_server(web_origin)
    httpd = None
    try:
        if serves_page(api):
            page_url, mode = api + "/", "same-origin"
        else:
            WebHandler.config_js = (f"export default {{ apiBase: {json.dumps(api)}, filesBase: '' }};\n").encode()
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", web_port), WebHandler)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            page_url, mode = web_origin + "/", "cross-origin"
        print(f"page {page_url} ({mode}), API {api}")
        env = dict(os.environ, FF_WEB_URL=page_url, FF_API_URL=api, FF_FIXTURES=FIX, FF_ARTIFACTS=ARTIFACTS,
                   FF_EXPECT=json.dumps(expect), FF_CHROMIUM=CHROMIUM, FF_LIMIT_BYTES=str(LIMIT_MB << 20),
                   FF_MOVIE="/daily_videos/" + os.path.basename(movie) if movie else "")
        node = subprocess.Popen([NODE, "--test", "--test-reporter=spec", "--test-concurrency=1",
                                 os.path.join(SRC, "tests", "web", "app.test.mjs")], cwd=SRC, env=env,
                                start_new_session=True)
        # If the server dies, stop at once instead of letting every browser step time out.
        deadline = time.time() + 480
        while node.poll() is None and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)  # the runner and its test process
            node.wait()
            if proc.poll() is None:
                raise AssertionError("the browser tests took more than 480 s")
        if proc.poll() is not None:
            log = open(os.path.join(TMP, "serve.log")).read()[-3000:]
            raise AssertionError(f"fitsflow serve exited ({proc.returncode}) during the browser tests:\n{log}")
        r = node
        assert r.returncode == 0, f"the browser tests failed (exit {r.returncode}); screenshots in {ARTIFACTS}"
    finally:
        if httpd:
            httpd.shutdown()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@check
def downloaded_zip_matches_outputs():
    """The ZIP the browser saved holds every output of the manifest, byte for byte, readable by
    the Python tools."""
    import numpy as np
    from astropy.io import fits
    from PIL import Image

    info = json.load(open(os.path.join(ARTIFACTS, "session.json")))
    path = os.path.join(ARTIFACTS, "session.zip")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["session_id"] == info["session_id"]
        bases = sorted(f["base"] for f in manifest["files"])
        assert bases == ["aia_171_level1", "resampled_hmi", "xss_header"], bases
        import hashlib
        for f in manifest["files"]:
            assert f["status"] == "processed", f
            for o in f["outputs"]:
                assert o["path"] in names, f"{o['path']} missing from the ZIP"
                data = z.read(o["path"])
                assert len(data) == o["bytes"] and hashlib.sha256(data).hexdigest() == o["sha256"], o["path"]
        arr = np.load(io.BytesIO(z.read("data/aia_171_level1_data.npy")))
        np.testing.assert_array_equal(arr, fits.getdata(AIA_171))
        img = Image.open(io.BytesIO(z.read("images/local/aia_171_level1_color.png")))
        assert img.size[0] > 0 and img.size[1] > 0
        hdr = json.loads(z.read("header/xss_header_header.json"))
        assert hdr["header"]["OBJECT"] == XSS_VALUE


run_checks()
