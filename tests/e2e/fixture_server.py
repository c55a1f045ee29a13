"""A stand-in for Helioviewer, JSOC and the SDO movie site on 127.0.0.1, answering in the real
services' documented formats, and failing on demand.

Routes (as the real services, api.helioviewer.org/docs/v2 and JSOC's Apache index pages):
  GET /v2/getClosestImage/?date=ISO&sourceId=N   {"id": ..., "date": "YYYY-MM-DD HH:MM:SS", ...}
  GET /v2/downloadImage/?id=ID&scale=S           image/png (or JPEG with mode "jpeg")
  GET /v2/events/?startTime=..&endTime=..&sources=HEK   the "tree" event format
  GET /data/aia/images/YYYY/MM/DD/WL/            index page of *__SDO_AIA_AIA_WL.jp2 every 36 s
  GET /data/aia/images/YYYY/MM/DD/WL/NAME.jp2    the real sunpy AIA 193 JPEG 2000
  GET /data/hmi/images/YYYY/MM/DD/               index page of *_Ic_4k.jpg / *_M_4k.jpg every 15 min
  GET /data/hmi/images/YYYY/MM/DD/NAME.jpg       a grayscale JPEG made with Pillow
  GET /assets/img/dailymov/YYYY/MM/DD/YYYYMMDD_1024_CH.mp4   movies given with add_movie()

Failure rules (fx.fail(prefix, mode, times=None, **opts)) apply to requests whose path starts
with prefix, the first `times` of them (all when None):
  "status"   answer opts["status"] (500, 503, 404, ...) with a small JSON error body
  "hang"     wait opts["seconds"] before answering (longer than the client's timeout)
  "truncate" promise the whole body in Content-Length, send half, close
  "html"     200 with text/html (an error page) instead of the expected type
  "empty"    an index page without files, or "[]"
  "oversize" opts["bytes"] bytes without Content-Length (connection-close delimited)
  "latency"  wait opts["ms"] more before answering
  "jpeg"     downloadImage answers a JPEG (image/jpeg)
  "far"      getClosestImage answers an image three days away
  "corrupt"  the usual body, its second half overwritten with zeros (same length)
Every request is recorded in fx.requests as dicts (t, path, query, headers, port, rule).

Run as a script for the benchmark: fixture_server.py --port-file F [--latency-ms 200]."""
import argparse
import datetime as dt
import io
import json
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SUNPY_TEST_DATA = "/usr/lib/python3/dist-packages/sunpy/data/test"
AIA_JP2 = os.path.join(SUNPY_TEST_DATA, "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2")


def _png_rgb(width=320, height=240):
    from PIL import Image
    import numpy as np
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // (width - 1)), (y * 255 // (height - 1)), ((x + y) % 256)], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(rgb.astype("uint8"), "RGB").save(buf, "PNG")
    return buf.getvalue()


def _jpeg(mode, width=256, height=256, seed=0):
    from PIL import Image
    import numpy as np
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = ((x - width / 2) ** 2 + (y - height / 2) ** 2) ** 0.5
    gray = np.clip(255 - base + rng.normal(0, 8, base.shape), 0, 255).astype("uint8")
    img = Image.fromarray(gray, "L")
    if mode == "RGB":
        img = Image.merge("RGB", (img, img.point(lambda v: v * 3 // 4), img.point(lambda v: v // 2)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def aia_names(day, wavelength, step_s=36):
    """Names JSOC would list for one day of one AIA wavelength (a fraction after the seconds)."""
    t = dt.datetime(day.year, day.month, day.day)
    out = []
    for i in range(0, 86400, step_s):
        u = t + dt.timedelta(seconds=i)
        out.append(u.strftime("%Y_%m_%d__%H_%M_%S") + "_%02d__SDO_AIA_AIA_%d.jp2" % (i % 97, wavelength))
    return out


def aia_name_time(name):
    base = dt.datetime.strptime(name[:20], "%Y_%m_%d__%H_%M_%S")
    frac = name[21:name.index("__", 21)]
    return base + dt.timedelta(seconds=float("0." + frac))


def hmi_names(day, step_s=900):
    t = dt.datetime(day.year, day.month, day.day)
    out = []
    for i in range(0, 86400, step_s):
        u = t + dt.timedelta(seconds=i)
        for kind in ("Ic", "M"):
            out.append(u.strftime("%Y%m%d_%H%M%S") + "_%s_4k.jpg" % kind)
    return out


def index_page(path, names, markup="apache"):
    """An index page in one of several markups, all of which the client must read."""
    if markup == "apache":
        rows = "\n".join(
            '<tr><td valign="top"><img src="/icons/image2.gif" alt="[IMG]"></td>'
            f'<td><a href="{n}">{n}</a></td><td align="right">2013-06-25 00:12  </td>'
            '<td align="right">1.2M</td><td>&nbsp;</td></tr>' for n in names)
        return (f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
                f'  <title>Index of {path}</title>\n </head>\n <body>\n<h1>Index of {path}</h1>\n'
                '  <table>\n   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
                '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
                '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>\n'
                '   <tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
                '<td><a href="../">Parent Directory</a></td><td>&nbsp;</td></tr>\n'
                f'{rows}\n</table>\n</body></html>\n')
    if markup == "nginx":
        rows = "\n".join(f"<a href='{path}{n}'>{n}</a>                 24-Jun-2013 17:32   1234567"
                         for n in names)
        return f"<html>\r\n<head><title>Index of {path}</title></head>\r\n<body>\r\n<pre><a href=\"../\">../</a>\r\n{rows}\r\n</pre><hr></body>\r\n</html>\r\n"
    # "odd": upper-case attributes, unquoted values, spaces around '=', URL-escaped names
    rows = "".join(f"<LI><A CLASS=x HREF = {urllib.parse.quote(n)}>{n}</A>" for n in names)
    return f"<HTML><BODY><UL>{rows}</UL></BODY></HTML>"


class Fixture:
    def __init__(self, latency_ms=0, markup="apache"):
        self.latency_ms = latency_ms
        self.markup = markup
        self.rules = []
        self.requests = []
        self.lock = threading.Lock()
        self.hv_png = _png_rgb()
        self.hv_jpeg = _jpeg("RGB", 300, 200, seed=1)
        self.hmi_jpeg = {"Ic": _jpeg("L", 256, 256, seed=2), "M": _jpeg("L", 256, 256, seed=3)}
        with open(AIA_JP2, "rb") as f:
            self.aia_jp2 = f.read()
        self.movies = {}
        self.hek_bodies = []
        self.server = None

    # ---- control ----
    def fail(self, prefix, mode, times=None, **opts):
        with self.lock:
            self.rules.append({"prefix": prefix, "mode": mode, "times": times, **opts})

    def clear(self):
        with self.lock:
            self.rules.clear()
            self.requests.clear()
            self.hek_bodies.clear()

    def add_movie(self, date, channel, data):
        self.movies[(date, channel)] = data

    def start(self):
        fx = self

        class Handler(_Handler):
            fixture = fx

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def env(self):
        """Environment variables that point FitsFlow here."""
        return {"FITSFLOW_HELIOVIEWER_URL": self.url, "FITSFLOW_JSOC_URL": self.url,
                "FITSFLOW_SDO_URL": self.url}

    def _take_rule(self, path):
        with self.lock:
            for r in self.rules:
                if path.startswith(r["prefix"]) and (r["times"] is None or r["times"] > 0):
                    if r["times"] is not None:
                        r["times"] -= 1
                    return dict(r)
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fixture = None

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive answer, which real servers avoid.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, ctype, body, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        fx = self.fixture
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        rule = fx._take_rule(u.path)
        rec = {"t": time.monotonic(), "path": u.path, "query": q, "headers": dict(self.headers),
               "port": self.client_address[1], "rule": rule["mode"] if rule else None}
        with fx.lock:
            fx.requests.append(rec)
        delay = fx.latency_ms / 1000.0
        if rule and rule["mode"] == "latency":
            delay += rule.get("ms", 0) / 1000.0
        if rule and rule["mode"] == "hang":
            delay += rule.get("seconds", 5)
        if delay:
            time.sleep(delay)
        mode = rule["mode"] if rule else None
        try:
            if mode == "status":
                st = rule.get("status", 500)
                return self._send(st, "application/json", json.dumps({"error": f"fixture status {st}"}).encode())
            if mode == "html":
                return self._send(200, "text/html; charset=utf-8",
                                  b"<html><body><h1>Service temporarily unavailable</h1></body></html>")
            if mode == "oversize":
                n = rule.get("bytes", 1 << 21)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                chunk = b"\0" * 65536
                sent = 0
                while sent < n:
                    self.wfile.write(chunk[: min(len(chunk), n - sent)])
                    sent += min(len(chunk), n - sent)
                return
            status, ctype, body = self.route(u.path, q, mode)
            if mode == "corrupt" and body:
                body = body[: len(body) // 2] + bytes(len(body) - len(body) // 2)
            if mode == "truncate":
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(status, ctype, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, path, q, mode):
        fx = self.fixture
        parts = [p for p in path.split("/") if p]
        if path.startswith("/v2/getClosestImage"):
            try:
                t = dt.datetime.strptime(q["date"], "%Y-%m-%dT%H:%M:%SZ")
                sid = int(q["sourceId"])
            except (KeyError, ValueError):
                return 400, "application/json", b'{"error": "Invalid date or sourceId"}'
            t += dt.timedelta(days=3) if mode == "far" else dt.timedelta(seconds=5)
            body = {"id": 34205701 + sid, "date": t.strftime("%Y-%m-%d %H:%M:%S"), "scale": 0.58996068317702,
                    "scaleCorrection": 1.01701692521, "width": 4096, "height": 4096, "refPixelX": 2048.5,
                    "refPixelY": 2048.5, "rsun": 1600, "sunCenterOffsetParams": [], "layeringOrder": 1}
            return 200, "application/json", json.dumps(body).encode()
        if path.startswith("/v2/downloadImage"):
            if "id" not in q or not q["id"].isdigit():
                return 400, "application/json", b'{"error": "Invalid id"}'
            if mode == "jpeg":
                return 200, "image/jpeg", fx.hv_jpeg
            return 200, "image/png", fx.hv_png
        if path.startswith("/v2/events"):
            if "startTime" not in q:
                return 400, "application/json", b'{"error": "startTime is required"}'
            if mode == "empty":
                body = b"[]"
            else:
                body = json.dumps(_hek_tree(q["startTime"], q.get("endTime")), indent=1).encode()
            with fx.lock:
                fx.hek_bodies.append(body)
            return 200, "application/json", body
        if len(parts) >= 6 and parts[:3] == ["data", "aia", "images"]:
            day = dt.date(int(parts[3]), int(parts[4]), int(parts[5]))
            if len(parts) == 7 and path.endswith("/"):
                names = [] if mode == "empty" else aia_names(day, int(parts[6]))
                return 200, "text/html;charset=ISO-8859-1", index_page(path, names, fx.markup).encode()
            if len(parts) == 8 and parts[7].endswith(".jp2"):
                return 200, "image/jp2", fx.aia_jp2
        if len(parts) >= 6 and parts[:3] == ["data", "hmi", "images"]:
            day = dt.date(int(parts[3]), int(parts[4]), int(parts[5]))
            if len(parts) == 6 and path.endswith("/"):
                names = [] if mode == "empty" else hmi_names(day)
                return 200, "text/html;charset=ISO-8859-1", index_page(path, names, fx.markup).encode()
            if len(parts) == 7 and parts[6].endswith(".jpg"):
                kind = "Ic" if "_Ic_" in parts[6] else "M"
                return 200, "image/jpeg", fx.hmi_jpeg[kind]
        if len(parts) == 7 and parts[:3] == ["assets", "img", "dailymov"]:
            name = parts[6]
            date, channel = name[:8], name[14:-4]
            data = fx.movies.get((date, channel))
            if data is not None:
                return 200, "video/mp4", data
        return 404, "text/html", b"<html><body><h1>Not Found</h1></body></html>"


def _hek_tree(start, end):
    def ev(kind, frm, i):
        return {"event_type": kind, "frm_name": frm, "kb_archivid": f"ivo://helio-informatics.org/{kind}{i}",
                "event_starttime": start.replace("T", " ").rstrip("Z"),
                "event_endtime": (end or start).replace("T", " ").rstrip("Z"),
                "hpc_x": 100.0 * i, "hpc_y": -50.0 * i, "concept": kind}
    return [
        {"name": "Active Region", "pin": "AR", "groups": [
            {"name": "NOAA SWPC Observer", "contact": "http://www.swpc.noaa.gov/", "url": "N/A",
             "data": [ev("AR", "NOAA SWPC Observer", 1), ev("AR", "NOAA SWPC Observer", 2)]}]},
        {"name": "Flare", "pin": "FL", "groups": [
            {"name": "SSW Latest Events", "contact": "", "url": "", "data": [ev("FL", "SSW Latest Events", 3)]},
            {"name": "Flare Detective - Trigger Module", "contact": "", "url": "", "data": []}]},
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--latency-ms", type=int, default=0)
    args = ap.parse_args()
    fx = Fixture(latency_ms=args.latency_ms)
    fx.start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(fx.server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
