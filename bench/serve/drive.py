#!/usr/bin/python3
"""Benchmark of `fitsflow serve` against its baselines, on the same machine in the same run.

Three measurements, each repeated in rounds so that the two sides of a comparison alternate
(fitsflow, baseline, fitsflow, baseline, ...) and a burst of load from elsewhere hits both:
  static   wrk GET of a 1 MiB NumPy output, fitsflow vs nginx (sendfile on, same file, same disk)
  presign  wrk GET of the Trigger endpoint with a filename: requests/s, against an absolute target
  upload   curl -T of 100 MiB through a presigned URL vs dd writing the same bytes into the data dir
           (each timed by itself: curl's time_total, dd's reported copy time)
The table shows medians. Called by bench/serve/run.sh, which checks the tools first.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np

SID = "benchserve0001"
STATIC_KEY = f"temp/{SID}/processed/data/bench_data.npy"
SMALL_KEY = f"temp/{SID}/processed/small.json"  # presign-sized answer, for nginx as a reference
UPLOAD_NAME = "bench_upload.fits"
UPLOAD_TYPE = "application/fits"


def die(msg):
    print(f"bench/serve: {msg}", file=sys.stderr)
    sys.exit(1)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_cores(seconds=2.0):
    """CPU in use on the whole machine (cores), over a short idle window before we start."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)
    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    return (b1 - b0) / max(1, t1 - t0) * os.cpu_count()


def session_cpu(sid):
    """CPU seconds (user + system) used so far by the live processes of session sid (a server and
    its workers). Unlike requests/s, CPU per request hardly moves when other work shares the cores."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # field 6 of stat: session id
            total += int(fields[11]) + int(fields[12])
    return total / tick


class Procs:
    """Every process this benchmark starts, stopped at exit whatever happens."""

    def __init__(self, pidfile):
        self.procs = []
        self.pidfile = pidfile  # run.sh's EXIT trap stops these too, should this script be killed

    def start(self, args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(p)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_http(url, proc, what, timeout=15):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if proc.poll() is not None:
            die(f"{what} exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except Exception:
            time.sleep(0.05)
    die(f"{what} did not answer {url} within {timeout} s")


def start_fitsflow(procs, binary, data, log_path):
    port = free_port()  # chosen here: the "listening" line is not written at FITSFLOW_LOG_LEVEL=warn
    env = dict(os.environ)
    env.update({
        "FITSFLOW_LISTEN": f"127.0.0.1:{port}",
        "FITSFLOW_DATA_DIR": data,
        "FITSFLOW_OFFLINE": "1",
        "FITSFLOW_RATE_LIMIT": "0",  # the per-client limit (50/s) would measure 429s, not the server
    })
    log = open(log_path, "wb")  # the access log goes to a file, as under systemd it goes to journald
    p = procs.start([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", p, "fitsflow serve")
    return p, base


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(procs, tmp, data):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    user = "user root root;\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes auto;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ application/octet-stream npy; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path {tmp}/ngx_body;
    proxy_temp_path {tmp}/ngx_proxy;
    fastcgi_temp_path {tmp}/ngx_fastcgi;
    uwsgi_temp_path {tmp}/ngx_uwsgi;
    scgi_temp_path {tmp}/ngx_scgi;
    server {{
        listen 127.0.0.1:{port};
        root {data};
        # The upload reference: nginx storing a PUT body (temp file, then rename), as fitsflow does.
        location /dav/ {{
            root {tmp};
            dav_methods PUT;
            client_max_body_size 1g;
            client_body_temp_path {tmp}/dav/.tmp;
        }}
    }}
}}
""")
    os.makedirs(os.path.join(tmp, "dav", ".tmp"))
    p = procs.start(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL,
                    stderr=open(os.path.join(tmp, "nginx-stderr.log"), "wb"))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/" + STATIC_KEY, p, "nginx")
    return p, base


UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def wrk(url, args, server_sid):
    cpu0 = session_cpu(server_sid)
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", url]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{out.stderr}{out.stdout}")
    m = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    t = re.search(r"Transfer/sec:\s*([\d.]+)([KMGT]?B)", out.stdout)
    if not m or not t:
        die(f"cannot read wrk's output:\n{out.stdout}")
    cpu = session_cpu(server_sid) - cpu0
    n = re.search(r"(\d+) requests in", out.stdout)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    errs = re.search(r"Socket errors:.*", out.stdout)
    if bad:
        die(f"{url} answered {bad.group(1)} requests with an error status; wrk said:\n{out.stdout}")
    return {"rps": float(m.group(1)), "mbps": float(t.group(1)) * UNITS[t.group(2)] / 1e6,
            "errors": errs.group(0) if errs else "", "cpu_us": cpu / int(n.group(1)) * 1e6}


def presign_url(base, name):
    q = urllib.parse.urlencode({"session_id": SID, "filename": name, "contentType": UPLOAD_TYPE})
    with urllib.request.urlopen(f"{base}/FitsFlow-2-Trigger?{q}", timeout=5) as r:
        return json.load(r)["url"]


def sync():
    os.sync()


def time_upload(base, src, data, size):
    dest = os.path.join(data, "temp", SID, "fits", UPLOAD_NAME)
    if os.path.exists(dest):
        os.unlink(dest)
    url = presign_url(base, UPLOAD_NAME)
    sync()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-T", src,
                          "-H", f"Content-Type: {UPLOAD_TYPE}", url], capture_output=True, text=True)
    code, dt = curl_result(out)
    if out.returncode != 0 or code != "200":
        die(f"upload failed: curl status {out.returncode}, HTTP {code}: {out.stderr}")
    if os.path.getsize(dest) != size:
        die(f"the upload stored {os.path.getsize(dest)} bytes, not {size}")
    return dt


def curl_result(out):
    """HTTP status and curl's own time_total: the transfer from connecting to the last byte of the
    answer, without curl's start-up (~18 ms of loading libraries here, a fifth of the upload)."""
    parts = out.stdout.split()
    if len(parts) != 2:
        die(f"cannot read curl's -w output: {out.stdout!r} {out.stderr}")
    return parts[0], float(parts[1])


def time_nginx_put(base, src, tmp, size):
    dest = os.path.join(tmp, "dav", UPLOAD_NAME)
    if os.path.exists(dest):
        os.unlink(dest)
    sync()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-T", src,
                          "-H", f"Content-Type: {UPLOAD_TYPE}", f"{base}/dav/{UPLOAD_NAME}"],
                         capture_output=True, text=True)
    code, dt = curl_result(out)
    if out.returncode != 0 or code not in ("201", "204") or os.path.getsize(dest) != size:
        die(f"the nginx PUT reference failed: curl status {out.returncode}, HTTP {code}")
    return dt


def time_dd(src, data, size, fsync):
    dest = os.path.join(data, "dd_copy.bin")
    if os.path.exists(dest):
        os.unlink(dest)
    # dd's own timing (its last line: "... copied, 0.0459 s, 2.3 GB/s"), like curl's time_total
    cmd = ["dd", f"if={src}", f"of={dest}", "bs=1M"] + (["conv=fsync"] if fsync else [])
    sync()
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    m = re.search(r"copied, ([0-9.e-]+) s", out.stderr)
    if out.returncode != 0 or os.path.getsize(dest) != size or not m:
        die(f"{' '.join(cmd)} failed: {out.stderr}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fitsflow", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--upload-runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--upload-mib", type=int, default=100)
    ap.add_argument("--only", default="static,presign,upload")
    ap.add_argument("--tmp", required=True, help="an empty scratch folder (run.sh makes and removes it)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    fsync = os.environ.get("FITSFLOW_FSYNC") == "1"

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the servers
    tmp = args.tmp
    data = os.path.join(tmp, "data")
    procs = Procs(os.path.join(tmp, "pids"))
    try:
        os.makedirs(os.path.join(data, os.path.dirname(STATIC_KEY)))
        # The static object: a real NumPy output, 512x512 float32 (1 MiB of pixels + its header).
        rng = np.random.default_rng(7)
        np.save(os.path.join(data, STATIC_KEY), rng.normal(1000, 200, (512, 512)).astype(np.float32))
        static_size = os.path.getsize(os.path.join(data, STATIC_KEY))
        with open(os.path.join(data, SMALL_KEY), "w") as f:
            f.write('{"url":"%s","key":"%s"}' % ("u" * 180, "k" * 38))  # as long as a presign answer
        src = os.path.join(tmp, "upload_src.bin")
        upload_size = args.upload_mib << 20
        with open(src, "wb") as f:
            for _ in range(args.upload_mib):
                f.write(rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())

        idle = busy_cores()
        load0 = loadavg()
        ff, ffbase = start_fitsflow(procs, args.fitsflow, data, os.path.join(tmp, "fitsflow.log"))
        ng, ngbase = start_nginx(procs, tmp, data)
        # Both serve the same bytes.
        with urllib.request.urlopen(f"{ffbase}/{STATIC_KEY}") as a, urllib.request.urlopen(f"{ngbase}/{STATIC_KEY}") as b:
            if a.read() != b.read():
                die("fitsflow and nginx serve different bytes for the static object")
        presign_path = "/FitsFlow-2-Trigger?" + urllib.parse.urlencode(
            {"session_id": SID, "filename": "aia_171.fits", "contentType": UPLOAD_TYPE})

        res = {k: [] for k in ("ff_static", "ng_static", "presign", "ng_small", "upload", "dd", "ngput")}
        loads = [load0]
        for rnd in range(args.rounds):
            first_ff = rnd % 2 == 0  # alternate which side goes first
            if "static" in only:
                order = [("ff_static", ffbase, ff.pid), ("ng_static", ngbase, ng.pid)]
                for k, b, sid in (order if first_ff else order[::-1]):
                    res[k].append(wrk(f"{b}/{STATIC_KEY}", args, sid))
                    print(f"  round {rnd + 1} {k}: {res[k][-1]['rps']:.0f} req/s, "
                          f"{res[k][-1]['mbps']:.0f} MB/s, {res[k][-1]['cpu_us']:.0f} us CPU/request "
                          f"{res[k][-1]['errors']}", file=sys.stderr)
            if "presign" in only:
                order = [("presign", ffbase + presign_path, ff.pid), ("ng_small", f"{ngbase}/{SMALL_KEY}", ng.pid)]
                for k, u, sid in (order if first_ff else order[::-1]):
                    res[k].append(wrk(u, args, sid))
                    print(f"  round {rnd + 1} {k}: {res[k][-1]['rps']:.0f} req/s, "
                          f"{res[k][-1]['cpu_us']:.1f} us CPU/request", file=sys.stderr)
            if "upload" in only:
                runs = max(1, args.upload_runs // args.rounds + (rnd < args.upload_runs % args.rounds))
                for i in range(runs):
                    trio = [("upload", lambda: time_upload(ffbase, src, data, upload_size)),
                            ("dd", lambda: time_dd(src, data, upload_size, fsync)),
                            ("ngput", lambda: time_nginx_put(ngbase, src, tmp, upload_size))]
                    for k, fn in (trio if (first_ff ^ (i % 2 == 1)) else trio[::-1]):
                        res[k].append(fn())
                print(f"  round {rnd + 1} upload: {res['upload'][-1]:.3f} s, dd {res['dd'][-1]:.3f} s, "
                      f"nginx PUT {res['ngput'][-1]:.3f} s", file=sys.stderr)
            loads.append(loadavg())
        busy_after = None
    finally:
        procs.stop_all()

    try:
        busy_after = busy_cores()
    except Exception:
        pass

    rows = []
    med = lambda xs: statistics.median(xs) if xs else None

    def paired(xs, ys):
        """Median of the ratios of runs made back to back: steadier than a ratio of medians when
        the load from elsewhere drifts between rounds."""
        return statistics.median(x / y for x, y in zip(xs, ys))

    def row(name, value, unit, base, target, higher=True, fmt="{:.0f}", ratio=None):
        if ratio is None:
            ratio = value / base if (value is not None and base) else None
        if target is None:
            ok = ""
        elif isinstance(target, tuple):  # ratio target
            ok = "PASS" if ratio is not None and ratio >= target[0] else "FAIL"
        else:
            ok = "PASS" if value is not None and value >= target else "FAIL"
        rows.append((name, (fmt.format(value) + " " + unit) if value is not None else "-",
                     (fmt.format(base) + " " + unit) if base else "-",
                     f"{ratio:.2f}x" if ratio is not None else "-",
                     (f">= {target[0]}x" if isinstance(target, tuple) else f">= {target:,} {unit}") if target else "",
                     ok))

    if res["ff_static"]:
        ffr, ngr = med([r["rps"] for r in res["ff_static"]]), med([r["rps"] for r in res["ng_static"]])
        ffm, ngm = med([r["mbps"] for r in res["ff_static"]]), med([r["mbps"] for r in res["ng_static"]])
        sr = paired([r["rps"] for r in res["ff_static"]], [r["rps"] for r in res["ng_static"]])
        row("static GET 1 MiB npy (vs nginx)", ffr, "req/s", ngr, (0.8,), ratio=sr)
        row("  same, throughput", ffm, "MB/s", ngm, (0.8,),
            ratio=paired([r["mbps"] for r in res["ff_static"]], [r["mbps"] for r in res["ng_static"]]))
        # Load-independent view: server CPU per request; the ratio is nginx's / fitsflow's, so
        # above 1x fitsflow spends less CPU than nginx on each request.
        ffc, ngc = med([r["cpu_us"] for r in res["ff_static"]]), med([r["cpu_us"] for r in res["ng_static"]])
        rows.append(("  server CPU per request", f"{ffc:.0f} us", f"{ngc:.0f} us", f"{ngc / ffc:.2f}x", "", ""))
    if res["presign"]:
        pr, nr = med([r["rps"] for r in res["presign"]]), med([r["rps"] for r in res["ng_small"]])
        row("presign (Trigger with filename)", pr, "req/s", None, 20000)
        # Context, no target: what this machine does right now for a response of that size.
        row("  reference: vs nginx, 250 B static file", pr, "req/s", nr, None,
            ratio=paired([r["rps"] for r in res["presign"]], [r["rps"] for r in res["ng_small"]]))
        pc, nc = med([r["cpu_us"] for r in res["presign"]]), med([r["cpu_us"] for r in res["ng_small"]])
        rows.append(("  server CPU per request", f"{pc:.1f} us", f"{nc:.1f} us", f"{nc / pc:.2f}x", "", ""))
    if res["upload"]:
        up, dd = med(res["upload"]), med(res["dd"])
        mb = upload_size / 1e6
        row(f"upload {args.upload_mib} MiB, curl -T (vs dd)", mb / up, "MB/s", mb / dd, (0.7,),
            ratio=paired(res["dd"], res["upload"]))
        # Context, no target: the same curl -T into nginx (dav PUT, same disk, same durability).
        row("  reference: same upload (vs nginx PUT)", mb / up, "MB/s", mb / med(res["ngput"]), None,
            ratio=paired(res["ngput"], res["upload"]))
        row("  reference: nginx PUT (vs dd)", mb / med(res["ngput"]), "MB/s", mb / dd, None,
            ratio=paired(res["dd"], res["ngput"]))

    w = [max(len(r[i]) for r in rows + [("name", "value", "baseline", "ratio", "target", "result")]) for i in range(6)]
    lines = []
    head = ("name", "value", "baseline", "ratio", "target", "result")
    for r in [head] + rows:
        lines.append("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
    lines.append("")
    lines.append("value and baseline: medians; ratio: median of the ratios of runs made back to back "
                 "(for CPU per request: baseline / value, so above 1x fitsflow uses less)")
    lines.append(f"medians of {args.rounds} rounds (wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
                 f"fitsflow and nginx alternating) and {len(res['upload'])} upload/dd pairs; "
                 f"{os.cpu_count()} cores; durability: {'fsync (FITSFLOW_FSYNC=1, dd conv=fsync)' if fsync else 'no fsync on either side (FITSFLOW_FSYNC unset, dd without conv=fsync)'}")
    for k in ("ff_static", "ng_static", "presign", "ng_small"):
        if res[k]:
            lines.append(f"  {k:10s} req/s per round: " + ", ".join(f"{r['rps']:.0f}" for r in res[k]) +
                         "; server CPU us/request: " + ", ".join(f"{r['cpu_us']:.1f}" for r in res[k]))
    if res["upload"]:
        for k, label in (("upload", "fitsflow upload"), ("dd", "dd"), ("ngput", "nginx PUT")):
            lines.append(f"  {label} s: " + ", ".join(f"{x:.3f}" for x in res[k]))
    lines.append(f"load average (1/5/15 min) at start and after each round: " + " | ".join(loads))
    lines.append(f"CPU busy on an idle 2 s sample: {idle:.2f} cores before" +
                 (f", {busy_after:.2f} after" if busy_after is not None else ""))
    if idle > 0.25 or (busy_after or 0) > 0.25:
        lines.append("WARNING: other processes were using the CPU; both sides share that cost, but rerun "
                     "on an idle machine before quoting absolute numbers.")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
