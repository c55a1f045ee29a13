"""deploy/aws/package.sh: the zip, unpacked into an empty folder and started as Lambda starts a
custom runtime (env -i, only the Runtime API address, the handler and the function's own
settings), serves invocations, and every shared object it maps comes from the zip."""
import json
import os
import subprocess
import sys
import time
import zipfile

from fftest import BIN, check, run_checks, scratch
import lambdapeer

SOURCE = os.environ.get("FF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
TMP = scratch("lambda-pkg")
ZIP = os.path.join(TMP, "fitsflow-lambda.zip")
UNPACKED = os.path.join(TMP, "task")


@check
def package_builds_a_zip_with_bootstrap_binary_libraries_and_loader():
    p = subprocess.run(["bash", os.path.join(SOURCE, "deploy/aws/package.sh"), BIN, ZIP],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    with zipfile.ZipFile(ZIP) as z:
        names = z.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        z.extractall(UNPACKED)
    assert "bootstrap" in names and "fitsflow" in names, names
    assert modes["bootstrap"] & 0o111 and modes["fitsflow"] & 0o111
    libs = [n for n in names if n.startswith("lib/")]
    assert any("ld-linux" in n for n in libs) and any("libc.so" in n for n in libs), libs
    assert any("libcurl" in n for n in libs) and any("libcfitsio" in n for n in libs), libs
    for n in names:  # extractall drops the modes
        os.chmod(os.path.join(UNPACKED, n), modes[n] or 0o644)
    if not any("libasan" in n for n in libs):  # a sanitizer build is bigger and never deployed
        # SAM uploads the zip through S3, where Lambda's limit is 250 MB unpacked.
        with zipfile.ZipFile(ZIP) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        assert unpacked < 250 * 1000 * 1000, f"{unpacked} bytes unpacked: over Lambda's 250 MB"


def start(rt, extra=None):
    env = {"AWS_LAMBDA_RUNTIME_API": rt.api, "_HANDLER": "trigger"}
    env.update(extra or {})
    args = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] + ["./bootstrap", "--max-invocations", "1"]
    return subprocess.Popen(args, cwd=UNPACKED, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@check
def unpacked_zip_runs_with_an_empty_environment():
    with lambdapeer.RuntimePeer() as rt:
        proc = start(rt)
        # While it waits for its first invocation, look at what it has mapped.
        maps = ""
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                maps = open(f"/proc/{proc.pid}/maps").read()
            except OSError:
                maps = ""
            if "libcurl" in maps:
                break
            time.sleep(0.05)
        objs = {line.split()[-1] for line in maps.splitlines() if ".so" in line.split()[-1]}
        assert objs, "could not see the runtime's mappings"
        foreign = [o for o in objs if not os.path.realpath(o).startswith(os.path.realpath(UNPACKED))]
        assert not foreign, f"libraries loaded from outside the package: {foreign}"
        rid = rt.add_event({"version": "2.0", "queryStringParameters": {"session_id": "BAD!"},
                            "requestContext": {"http": {"method": "GET"}}})
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        res = rt.result(rid)
        assert res and res[1] == "response" and res[2]["statusCode"] == 400, res


@check
def unpacked_zip_presigns_with_the_functions_settings():
    with lambdapeer.RuntimePeer() as rt:
        proc = start(rt, {"FITSFLOW_STORE": "s3", "FITSFLOW_S3_BUCKET": "fitsflow-bucket",
                          "AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
                          "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"})
        rid = rt.add_event({"version": "2.0",
                            "queryStringParameters": {"session_id": "0123456789abcdef",
                                                      "filename": "a.fits", "contentType": "application/fits"},
                            "requestContext": {"http": {"method": "GET"}}})
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        res = rt.result(rid)
        body = json.loads(res[2]["body"])
        assert body["url"].startswith("https://fitsflow-bucket.s3.amazonaws.com/temp/0123456789abcdef/fits/a.fits?"), body
        assert "%2Feu-west-2%2Fs3%2Faws4_request" in body["url"]


run_checks()
