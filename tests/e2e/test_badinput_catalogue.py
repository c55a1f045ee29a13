"""End-to-end: every case of the bad-input catalogue (tests/badinput/catalogue.py) against the real
binary. A file case runs `fitsflow process` on the bad file together with a good one and checks the
catalogued outcome (refused with its reason and nothing written for it, or processed), and a file
case marked serve=True is also uploaded to a session of the real `fitsflow serve`; a CLI case
checks the exit status and message; request cases run against one real `fitsflow serve`
(tests/badinput/serve_cases.py) and serve cases check that bad settings stop it. Under the ASan build any memory error or leak fails the case.
Plain script: exit status 0 means every case passed. FF_BADINPUT_ONLY=name1,name2 runs a subset."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "badinput"))
import catalogue  # noqa: E402
import serve_cases  # noqa: E402

GOOD = "g.fits"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def base_name(name):
    for ext in (".fits.gz", ".fits", ".fit.gz", ".fts.gz", ".fit", ".fts", ".FITS"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def outputs_for(out, base):
    found = []
    for root, _dirs, files in os.walk(out):
        for f in files:
            if f == base + ".asdf" or f.startswith(base + "_"):
                found.append(os.path.relpath(os.path.join(root, f), out))
    return found


def no_sanitizer_report(stderr):
    for m in SANITIZER_MARKS:
        assert m not in stderr, "sanitizer report:\n" + stderr[-3000:]


def run_file_case(binary, c, work):
    d = os.path.join(work, "in")
    os.makedirs(d, exist_ok=True)
    built = c.build(d)
    extra_args, extra_inputs = [], []
    if isinstance(built, tuple):
        path = built[0]
        extra_args = list(built[1]) if len(built) > 1 else []
        extra_inputs = list(built[2]) if len(built) > 2 else []
    else:
        path = built
    name = os.path.basename(path)
    out = os.path.join(work, "out_" + name.replace("/", "_"))
    shutil.rmtree(out, ignore_errors=True)
    argv = [binary, "process", "-q", "-o", out, *extra_args, path, *extra_inputs, os.path.join(work, GOOD)]
    r = subprocess.run(argv, capture_output=True, timeout=120)
    stderr = r.stderr.decode("utf-8", "replace")
    no_sanitizer_report(stderr)
    e = c.expect
    assert os.path.exists(os.path.join(out, "data", "g_data.npy")), \
        "the good file of the same run was not processed (status %d): %s" % (r.returncode, stderr.strip())
    if e.kind == "refused":
        assert r.returncode == 1, "exit status %d, want 1 (stderr: %s)" % (r.returncode, stderr.strip())
        lines = [ln for ln in stderr.splitlines() if name in ln]
        assert len(lines) == 1, "want one stderr line naming %s, got %r" % (name, stderr)
        low = lines[0].lower()
        for w in e.words:
            assert w in low, "reason %r missing from %r" % (w, lines[0])
        if not extra_inputs:
            left = outputs_for(out, base_name(name))
            assert not left, "outputs left for the refused file: %s" % left
        return lines[0].split(": ", 1)[-1]
    assert r.returncode == 0, "exit status %d, want 0 (stderr: %s)" % (r.returncode, stderr.strip())
    with open(os.path.join(out, "manifest.json")) as f:
        m = json.load(f)
    entry = [x for x in m["files"] if x["input"] == name]
    assert entry and entry[0]["status"] == "processed", "manifest: %r" % entry
    notes = " ".join(entry[0].get("notes") or []).lower()
    for w in e.words:
        assert w in notes, "note %r missing from %r" % (w, notes)
    return "processed" + (" (" + notes + ")" if notes else "")


def run_cli_case(binary, c, work):
    argv, env = c.build(work)
    full_env = dict(os.environ)
    full_env.update(env)
    r = subprocess.run([binary, *argv], capture_output=True, env=full_env, timeout=120, cwd=work)
    stderr = r.stderr.decode("utf-8", "replace")
    no_sanitizer_report(stderr)
    e = c.expect
    assert r.returncode == e.status, "exit status %d, want %d (stderr: %s)" % (r.returncode, e.status, stderr.strip())
    low = stderr.lower()
    for w in e.words:
        assert w in low, "message %r missing from %r" % (w, stderr.strip())
    first = stderr.strip().splitlines()[0] if stderr.strip() else "(no message)"
    return "exit %d: %s" % (r.returncode, first)


def main():
    binary = os.path.abspath(os.environ.get("FITSFLOW_BIN", ""))
    assert os.path.isfile(binary), "set FITSFLOW_BIN to the fitsflow binary"
    work = os.path.join(os.environ.get("FF_TEST_TMP", "/tmp"), "badinput_catalogue")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with open(os.path.join(work, GOOD), "wb") as f:
        f.write(catalogue.GOOD16)
    only = set(filter(None, os.environ.get("FF_BADINPUT_ONLY", "").split(",")))
    requests, others, serve_files = [], [], []
    for c in catalogue.CASES:
        if only and c.name not in only:
            continue
        (requests if c.kind == "request" else others).append(c)
        if c.kind == "file" and c.serve:
            serve_files.append(c)
    counts = [0, 0]
    lock = threading.Lock()

    def report(c, ok, text):  # ok None: a known problem, reported but not counted
        with lock:
            if ok is None:
                print("KNOWN %-35s %s" % (c.name, text))
            else:
                counts[0 if ok else 1] += 1
                print(("ok   %-36s %s" if ok else "FAIL %-36s " + c.what + " -- %s") % (c.name, text[:150] if ok else text))
            sys.stdout.flush()

    def one(c):
        try:
            got = {"file": run_file_case, "cli": run_cli_case,
                   "serve": serve_cases.run_serve_config}[c.kind](binary, c, work)
            report(c, True, got)
        except (AssertionError, subprocess.TimeoutExpired, OSError) as ex:
            report(c, False, str(ex)[:600])

    # Cases are independent (their own file names and output folders): two at a time, while the
    # request cases run against their server.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(one, c) for c in others]
        if requests or serve_files:
            try:
                serve_cases.run_requests(requests, work, report, serve_files)
            except (AssertionError, OSError) as ex:
                report(catalogue.Case("serve (request cases)", "the server", None, None), False, str(ex)[:1500])
        for f in futures:
            f.result()
    passed, failed = counts
    print("%d passed, %d failed" % (passed, failed))
    if failed == 0 and not only:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
