"""`fitsflow daily-video` against the fixture's SDO movie site: eleven channel MP4s made with the
ffmpeg CLI (same codec settings), some missing; the stitched movie is checked with ffprobe (its
duration is the sum of its parts, its packets are the parts' packets byte for byte and in channel
order, its codec parameters are theirs) and decoded with ffmpeg. Also: a day already built is not
rebuilt unless forced, a part encoded differently is left out, the default day is two days ago
(UTC), and the latest-movie lookup the server uses."""
import datetime as dt
import json
import os
import subprocess

from fftest import check, run, run_checks, scratch
from fixture_server import Fixture

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", os.path.join(os.path.dirname(__file__), "../../build/tests")),
                    "ff_remote_tool")
CHANNELS = ["0094", "0131", "0171", "0193", "0211", "0304", "0335", "1600", "1700", "HMIIC", "HMIB"]
DATE = "20240110"
MISSING = {"0335", "HMIB"}

fx = Fixture()
fx.start()
work = scratch("dailyvid")


def make_part(path, seconds, pattern, size="160x120"):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{pattern}=size={size}:rate=10", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "2",
                    "-movflags", "+faststart", path], check=True)
    with open(path, "rb") as f:
        return f.read()


def probe(path, *args):
    p = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, path], capture_output=True, text=True,
                       check=True)
    return json.loads(p.stdout)


def duration(path):
    return float(probe(path, "-show_entries", "format=duration")["format"]["duration"])


def packet_hashes(path):
    pk = probe(path, "-select_streams", "v:0", "-show_entries", "packet=data_hash", "-show_data_hash", "MD5",
               "-show_packets")["packets"]
    return [p["data_hash"] for p in pk]


def stream_params(path):
    s = probe(path, "-show_streams")["streams"]
    assert len(s) == 1, s
    keys = ("codec_name", "profile", "level", "width", "height", "pix_fmt", "codec_tag_string")
    return {k: s[0].get(k) for k in keys}


parts = {}
for i, ch in enumerate(CHANNELS):
    p = os.path.join(work, f"{ch}.mp4")
    pattern = "testsrc2" if i % 2 == 0 else "smptebars"
    data = make_part(p, 1.0 + 0.3 * (i % 4), pattern)
    parts[ch] = p
    if ch not in MISSING:
        fx.add_movie(DATE, ch, data)


def env():
    return {**fx.env(), "FITSFLOW_HTTP_BACKOFF_MS": "20", "FITSFLOW_OFFLINE": "0"}


def movie_requests():
    return [r["path"] for r in fx.requests if r["path"].startswith("/assets/img/dailymov/")]


data_dir = scratch("dailyvid-data")
out_mp4 = os.path.join(data_dir, "daily_videos", f"{DATE}_stitched.mp4")


@check
def builds_the_stitched_movie_by_stream_copy():
    fx.clear()
    p = run("daily-video", "--date", DATE, "--data-dir", data_dir, env=env(), check_status=0)
    assert f"built daily_videos/{DATE}_stitched.mp4: 9 channels" in p.stdout, p.stdout
    assert "0335" in p.stdout and "HMIB" in p.stdout and "404" in p.stdout, p.stdout
    want_paths = sorted(f"/assets/img/dailymov/2024/01/10/{DATE}_1024_{c}.mp4" for c in CHANNELS)
    assert sorted(movie_requests()) == want_paths
    used = [c for c in CHANNELS if c not in MISSING]
    # Duration: the sum of the parts'.
    total = sum(duration(parts[c]) for c in used)
    got = duration(out_mp4)
    assert abs(got - total) < 0.05, (got, total)
    # Packets: the parts' packets, byte for byte, in channel order (so no re-encoding).
    want = [h for c in used for h in packet_hashes(parts[c])]
    assert packet_hashes(out_mp4) == want
    # Codec parameters: those of the parts.
    assert stream_params(out_mp4) == stream_params(parts["0094"])
    # It decodes without a single error.
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", out_mp4, "-f", "null", "-"], capture_output=True, text=True)
    assert d.returncode == 0 and d.stderr.strip() == "", d.stderr
    # Nothing but the movie in daily_videos/ (the put is atomic).
    assert os.listdir(os.path.dirname(out_mp4)) == [f"{DATE}_stitched.mp4"]


@check
def a_built_day_is_not_rebuilt_unless_forced():
    fx.clear()
    before = os.stat(out_mp4).st_mtime_ns
    p = run("daily-video", "--date", DATE, "--data-dir", data_dir, env=env(), check_status=0)
    assert "already built" in p.stdout and movie_requests() == [], p.stdout
    assert os.stat(out_mp4).st_mtime_ns == before
    p = run("daily-video", "--date", DATE, "--data-dir", data_dir, "--force", env=env(), check_status=0)
    assert "built daily_videos/" in p.stdout and len(movie_requests()) == 11, p.stdout


@check
def a_part_encoded_differently_is_left_out():
    fx.clear()
    date = "20240111"
    odd = os.path.join(work, "odd.mp4")
    fx.add_movie(date, "0094", open(parts["0094"], "rb").read())
    fx.add_movie(date, "0131", make_part(odd, 1.0, "testsrc2", size="176x144"))
    fx.add_movie(date, "0171", open(parts["0171"], "rb").read())
    dd = scratch("dailyvid-odd")
    p = run("daily-video", "--date", date, "--data-dir", dd, env=env(), check_status=0)
    assert "2 channels (0094 0171)" in p.stdout and "0131: left out" in p.stdout, p.stdout
    mp4 = os.path.join(dd, "daily_videos", f"{date}_stitched.mp4")
    assert packet_hashes(mp4) == packet_hashes(parts["0094"]) + packet_hashes(parts["0171"])


@check
def no_channel_at_all_fails_with_a_reason():
    fx.clear()
    dd = scratch("dailyvid-none")
    p = run("daily-video", "--date", "20240301", "--data-dir", dd, env=env(), check_status=1)
    assert "no SDO movie of 20240301 could be fetched" in p.stderr and "404" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(dd, "daily_videos", "20240301_stitched.mp4"))
    p = run("daily-video", "--date", "20240230", "--data-dir", dd, env=env(), check_status=2)


@check
def the_default_day_is_two_days_ago_utc():
    fx.clear()
    dd = scratch("dailyvid-default")
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y%m%d")
    run("daily-video", "--data-dir", dd, env=env())
    assert movie_requests() and all(f"/{day}_1024_" in r for r in movie_requests()), (day, movie_requests()[:2])


@check
def latest_names_the_newest_movie():
    dd = scratch("dailyvid-latest")
    p = subprocess.run([TOOL, "latest", dd], capture_output=True, text=True)
    assert json.loads(p.stdout)["none"] is True
    os.makedirs(os.path.join(dd, "daily_videos"))
    for name, size in (("20231231_stitched.mp4", 10), ("20240105_stitched.mp4", 1234), ("notes.txt", 5),
                       ("20991399_stitched.mp4", 7)):
        with open(os.path.join(dd, "daily_videos", name), "wb") as f:
            f.write(b"x" * size)
    got = json.loads(subprocess.run([TOOL, "latest", dd], capture_output=True, text=True).stdout)
    assert got == {"date": "2024-01-05", "key": "daily_videos/20240105_stitched.mp4",
                   "url_path": "/daily_videos/20240105_stitched.mp4", "bytes": 1234}, got


run_checks()
