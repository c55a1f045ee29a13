"""The daily movie on a new install: an online `fitsflow serve` whose store has no movie for the
day the nightly job builds (two days ago, UTC) builds it once at start, in the background. The
fixture's SDO movie site holds the movie fetches until the test has seen the server ready and
answering (so readiness does not wait for the movie); then the movie appears under
daily_videos/, and /api/daily-video/latest names it. A restart with the movie there fetches
nothing; a movie site that fails leaves the server running with a warning."""
import datetime as dt
import json
import os
import subprocess
import threading
import time

from fftest import check, run_checks, scratch
from fixture_server import Fixture
from serve_harness import Server

CHANNELS = ["0094", "0131", "0171", "0193", "0211", "0304", "0335", "1600", "1700", "HMIIC", "HMIB"]
PRESENT = ["0171", "0193", "0304"]
MOVIES = "/assets/img/dailymov/"

work = scratch("movie-at-start")
fx = Fixture()
fx.start()
release = threading.Event()
seen = threading.Event()
_take_rule = fx._take_rule


def gated_take_rule(path):
    """Movie fetches wait here until the test lets them go (bounded, so nothing hangs forever)."""
    if path.startswith(MOVIES):
        seen.set()
        release.wait(300)
    return _take_rule(path)


fx._take_rule = gated_take_rule


def make_part(path, pattern):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{pattern}=size=160x120:rate=10",
                    "-t", "1", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "10",
                    "-movflags", "+faststart", path], check=True, timeout=120)
    with open(path, "rb") as f:
        return f.read()


# The day the server will pick; the next one too, in case midnight UTC passes during the test.
now = dt.datetime.now(dt.timezone.utc)
DATES = [(now - dt.timedelta(days=2)).strftime("%Y%m%d"), (now - dt.timedelta(days=1)).strftime("%Y%m%d")]
for i, ch in enumerate(PRESENT):
    data = make_part(os.path.join(work, f"{ch}.mp4"), "testsrc2" if i % 2 else "smptebars")
    for d in DATES:
        fx.add_movie(d, ch, data)

DATA = os.path.join(work, "data")
ENV = {**fx.env(), "FITSFLOW_OFFLINE": "0", "FITSFLOW_HTTP_BACKOFF_MS": "20", "FITSFLOW_HTTP_TIMEOUT": "600",
       "FITSFLOW_HTTP_RETRIES": "0"}


def movie_requests():
    return [r["path"] for r in fx.requests if r["path"].startswith(MOVIES)]


def wait(cond, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


@check
def built_once_at_start_without_delaying_readiness():
    srv = Server("movie-at-start", env=ENV, data=DATA)
    try:
        srv.start()  # returns once /healthz answers 200
        assert seen.wait(120), "the server did not start fetching the daily movie"
        # The build is under way and held: the server answers meanwhile.
        st, _, _ = srv.request("GET", "/healthz")
        assert st == 200
        st, _, body = srv.request("GET", "/api/daily-video/latest")
        assert st == 404, (st, body)
        release.set()
        latest = wait(lambda: (lambda r: json.loads(r[2]) if r[0] == 200 else None)(
            srv.request("GET", "/api/daily-video/latest")), "no daily movie appeared")
        date = latest["key"][len("daily_videos/"):][:8]
        assert date in DATES, latest
        path = os.path.join(DATA, "daily_videos", f"{date}_stitched.mp4")
        p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
                           capture_output=True, text=True, check=True)
        assert float(json.loads(p.stdout)["format"]["duration"]) > 2.5, p.stdout  # three 1 s parts
        wait(lambda: f"daily_videos/{date}_stitched.mp4 built (3 channels)" in srv.read_log(), "no 'built' log line")
        reqs = movie_requests()
        assert sorted(reqs) == sorted(set(reqs)) and len(reqs) == len(CHANNELS), reqs  # each channel once
        assert all(f"/{date[:4]}/{date[4:6]}/{date[6:]}/{date}_1024_" in r for r in reqs), reqs
    finally:
        release.set()
        assert srv.stop() == 0


@check
def a_restart_with_the_movie_there_fetches_nothing():
    fx.clear()
    srv = Server("movie-at-start", env=ENV, data=DATA)
    try:
        srv.start()
        wait(lambda: "_stitched.mp4 was already there" in srv.read_log(), "no 'already there' log line")
        assert movie_requests() == [], movie_requests()
    finally:
        assert srv.stop() == 0


@check
def a_failing_movie_site_leaves_the_server_running():
    fx.clear()
    fx.fail(MOVIES, "status", status=503)
    srv = Server("movie-at-start-fail", env=ENV)
    try:
        srv.start()
        wait(lambda: "could be fetched" in srv.read_log(), "no warning that no movie could be fetched")
        st, _, _ = srv.request("GET", "/healthz")
        assert st == 200
        st, _, _ = srv.request("GET", "/api/daily-video/latest")
        assert st == 404
        assert len(movie_requests()) == len(CHANNELS), movie_requests()
    finally:
        assert srv.stop() == 0


try:
    run_checks()
finally:
    release.set()
    fx.stop()
