"""GET /api/daily-video/latest on a running server: 404 JSON before any movie, then the newest
daily_videos/YYYYMMDD_stitched.mp4 with a URL that serves it (ranges included)."""
import json
import os

from fftest import check, run_checks
from serve_harness import Server

SRV = Server("serve-daily").start()


@check
def none_yet_is_a_json_404():
    st, h, body = SRV.request("GET", "/api/daily-video/latest")
    assert st == 404, st
    assert "error" in json.loads(body)


@check
def newest_movie_is_named_and_served():
    os.makedirs(os.path.join(SRV.data, "daily_videos"), exist_ok=True)
    for date, size in (("20261120", 10), ("20261122", 2000), ("20261121", 30)):
        with open(os.path.join(SRV.data, "daily_videos", f"{date}_stitched.mp4"), "wb") as f:
            f.write(b"\0" * size)
    st, _, body = SRV.request("GET", "/api/daily-video/latest")
    assert st == 200, (st, body)
    j = json.loads(body)
    assert j["key"] == "daily_videos/20261122_stitched.mp4", j
    assert j["bytes"] == 2000 and j["url"].endswith("/daily_videos/20261122_stitched.mp4"), j
    st, h, body = SRV.request("GET", j["url_path"], headers={"Range": "bytes=0-99"})
    assert st == 206 and len(body) == 100 and h["content-type"] == "video/mp4", (st, h)


try:
    run_checks()
finally:
    SRV.stop()
