"""The s3 store backend against a real S3 peer on loopback (s3rver behind a proxy that verifies
every SigV4 signature with botocore): the whole store interface through ff_s3_tool, checked
from the other side with a botocore client; listing past 1000 keys; multipart and its abort."""
import concurrent.futures
import os
import subprocess
import sys
import time

from fftest import check, run_checks, scratch
import s3peer

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_s3_tool")
TMP = scratch("s3-store")
MiB = 1 << 20

if not s3peer.ensure_node_modules():
    print("s3rver is not installed and scripts/deps-node.sh could not install it")
    print("0 passed, 1 failed")
    sys.exit(1)

PEER = s3peer.S3Peer(TMP).__enter__()
S3 = PEER.client()
B = PEER.bucket


def tool(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(PEER.env())
    if env:
        e.update(env)
    return subprocess.run([TOOL, *args], capture_output=True, env=e, timeout=timeout)


def ok(*args, **kw):
    p = tool(*args, **kw)
    assert p.returncode == 0, f"ff_s3_tool {args[:2]} exited {p.returncode}: {p.stderr.decode()}"
    return p.stdout


def data_file(name, size, seed=1):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(os.urandom(size) if seed is None else bytes((i * 131 + seed) & 255 for i in range(size)))
    return path


def requests_since(n):
    with PEER.lock:
        return PEER.requests[n:]


@check
def put_then_read_with_botocore():
    path = data_file("small.png", 70000)
    ok("put", "temp/s1/processed/images/local/x_color.png", path, "1000")
    got = S3.get_object(Bucket=B, Key="temp/s1/processed/images/local/x_color.png")
    assert got["Body"].read() == open(path, "rb").read()
    assert got["ContentType"] == "image/png", got["ContentType"]
    path = data_file("empty.txt", 0)
    ok("put", "temp/s1/logs/empty_log_1.txt", path)
    got = S3.get_object(Bucket=B, Key="temp/s1/logs/empty_log_1.txt")
    assert got["Body"].read() == b"" and got["ContentType"].startswith("text/plain")


@check
def get_what_botocore_wrote():
    body = bytes(range(256)) * 100 + b"\0tail"
    S3.put_object(Bucket=B, Key="temp/s2/fits/a.fits", Body=body)
    out = ok("get", "temp/s2/fits/a.fits", str(len(body)))
    assert out == body
    p = tool("get", "temp/s2/fits/a.fits", str(len(body) - 1))
    assert p.returncode == 2 and b"allowed" in p.stderr, p.stderr
    p = tool("get", "temp/s2/fits/missing.fits", "100")
    assert p.returncode == 1 and b"no object" in p.stderr, p.stderr


@check
def stat_matches_head_object():
    S3.put_object(Bucket=B, Key="temp/s3/x.json", Body=b'{"a": 1}')
    head = S3.head_object(Bucket=B, Key="temp/s3/x.json")
    size, mtime, etag = ok("stat", "temp/s3/x.json").decode().split()
    assert int(size) == head["ContentLength"] == 8
    assert etag == head["ETag"], (etag, head["ETag"])
    assert abs(int(mtime) - head["LastModified"].timestamp()) < 2
    assert tool("stat", "temp/s3/none.json").returncode == 1


@check
def delete_is_idempotent():
    S3.put_object(Bucket=B, Key="temp/s4/gone.txt", Body=b"x")
    ok("delete", "temp/s4/gone.txt")
    try:
        S3.head_object(Bucket=B, Key="temp/s4/gone.txt")
        raise AssertionError("object still there after delete")
    except S3.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey")
    ok("delete", "temp/s4/gone.txt")


@check
def list_past_1000_keys():
    keys = {f"temp/many/fits/f{i:05d}.fits" for i in range(1234)}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: S3.put_object(Bucket=B, Key=k, Body=k.encode()), sorted(keys)))
    S3.put_object(Bucket=B, Key="temp/manyother/x.txt", Body=b"outside the prefix")
    S3.put_object(Bucket=B, Key="temp/many/folder/", Body=b"")  # a console 'folder' marker
    n = len(PEER.requests)
    out = ok("list", "temp/many/").decode().splitlines()
    listed = {line.split()[0] for line in out}
    assert listed == keys, (len(listed), len(keys), sorted(listed ^ keys)[:5])
    for line in out[:3]:
        key, size, mtime, etag = line.split()
        assert int(size) == len(key) and etag.startswith('"') and int(mtime) > 1.6e9
    pages = [r for r in requests_since(n) if "list-type=2" in r[1]]
    assert len(pages) == 2 and "continuation-token=" in pages[1][1], pages
    out = ok("list", "temp/many/", "5").decode().splitlines()
    assert len(out) == 5


@check
def multipart_upload_past_one_part():
    path = data_file("big.npy", 20 * MiB + 12345, seed=None)
    n = len(PEER.requests)
    ok("put", "temp/s5/processed/data/big_data.npy", path, str(3 * MiB + 1))
    reqs = requests_since(n)
    assert sum(1 for r in reqs if r[0] == "POST" and "uploads=" in r[1]) == 1, reqs
    assert sum(1 for r in reqs if r[0] == "PUT" and "partNumber=" in r[1]) == 3, reqs
    assert sum(1 for r in reqs if r[0] == "POST" and "uploadId=" in r[1]) == 1, reqs
    got = S3.get_object(Bucket=B, Key="temp/s5/processed/data/big_data.npy")
    assert got["Body"].read() == open(path, "rb").read()


@check
def exactly_one_part_is_a_single_put():
    path = data_file("one.bin", 8 * MiB)
    n = len(PEER.requests)
    ok("put", "temp/s6/one.bin", path)
    reqs = requests_since(n)
    assert [r[0] for r in reqs] == ["PUT"] and "?" not in reqs[0][1], reqs
    assert "-" not in S3.head_object(Bucket=B, Key="temp/s6/one.bin")["ETag"]


@check
def abort_leaves_nothing_and_keeps_the_old_object():
    S3.put_object(Bucket=B, Key="temp/s7/x.csv", Body=b"old")
    path = data_file("abort.bin", 17 * MiB)
    n = len(PEER.requests)
    ok("put-abort", "temp/s7/x.csv", path)
    reqs = requests_since(n)
    assert any(r[0] == "DELETE" and "uploadId=" in r[1] for r in reqs), reqs
    assert S3.get_object(Bucket=B, Key="temp/s7/x.csv")["Body"].read() == b"old"
    ok("put-abort", "temp/s7/new.csv", data_file("abort-small.bin", 1000))
    assert tool("stat", "temp/s7/new.csv").returncode == 1


@check
def awkward_key_names_round_trip():
    key = "temp/s8/fits/a b+c=d&e~f(1)ü.fits"
    path = data_file("awk.fits", 999)
    ok("put", key, path)
    assert S3.get_object(Bucket=B, Key=key)["Body"].read() == open(path, "rb").read()
    assert ok("get", key, "1000") == open(path, "rb").read()
    assert ok("list", "temp/s8/").decode().split(" ")[0] == "temp/s8/fits/a"  # key has spaces
    assert key in ok("list", "temp/s8/").decode()
    ok("delete", key)


@check
def wrong_secret_is_refused():
    p = tool("get", "temp/s3/x.json", "100", env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert p.returncode == 2 and b"403" in p.stderr and b"SignatureDoesNotMatch" in p.stderr, p.stderr
    p = tool("stat", "temp/s3/x.json", env={"AWS_SESSION_TOKEN": ""})
    assert p.returncode == 2 and b"403" in p.stderr, p.stderr


@check
def every_accepted_request_was_verified():
    # only the two deliberate failures above may have been refused
    assert len(PEER.rejected()) == 2, PEER.rejected()[:3]
    assert len(PEER.requests) > 20


@check
def settings_errors_name_the_variable():
    p = tool("stat", "x", env={"FITSFLOW_S3_BUCKET": ""})
    assert p.returncode == 2 and b"FITSFLOW_S3_BUCKET" in p.stderr, p.stderr
    p = tool("stat", "x", env={"FITSFLOW_S3_PATH_STYLE": "maybe"})
    assert p.returncode == 2 and b"FITSFLOW_S3_PATH_STYLE" in p.stderr, p.stderr
    p = tool("stat", "x", env={"FITSFLOW_STORE": "gcs"})
    assert p.returncode == 2 and b"FITSFLOW_STORE" in p.stderr, p.stderr
    p = tool("stat", "x", env={"AWS_ACCESS_KEY_ID": ""})
    assert p.returncode == 2 and b"AWS_ACCESS_KEY_ID" in p.stderr, p.stderr
    p = tool("stat", "x", env={"FITSFLOW_S3_ENDPOINT": "http://127.0.0.1:1"})
    assert p.returncode == 2 and b"cannot reach S3" in p.stderr, p.stderr


t0 = time.time()
try:
    run_checks()
finally:
    PEER.__exit__(None, None, None)
