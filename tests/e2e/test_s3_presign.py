"""Presigned S3 PUT URLs: byte-identical to botocore's generate_presigned_url for the same inputs
and timestamp (over regions, endpoints, addressing styles, tokens, awkward keys and content
types); a PUT through our URL to a verifying S3 peer succeeds, and tampered ones fail."""
import datetime
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import botocore.auth
import botocore.session
from botocore.config import Config

from fftest import check, run_checks, scratch
import s3peer

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", "build/tests"), "ff_s3_tool")
TMP = scratch("s3-presign")
_real_datetime = datetime.datetime


def tool_presign(env, key, ctype, expires, epoch):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FITSFLOW_"))}
    e.update(env)
    p = subprocess.run([TOOL, "presign", key, ctype, str(expires), str(epoch)], capture_output=True,
                       text=True, env=e, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def boto_presign(region, endpoint, path_style, creds, key, ctype, expires, when, bucket):
    class Fixed(_real_datetime):
        @classmethod
        def utcnow(cls):
            return when
    botocore.auth.datetime.datetime = Fixed
    try:
        s = botocore.session.get_session()
        c = s.create_client("s3", region_name=region, endpoint_url=endpoint,
                            aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                            aws_session_token=creds[2],
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path" if path_style else "virtual"}))
        return c.generate_presigned_url(
            "put_object", ExpiresIn=expires,
            Params={"Bucket": bucket, "Key": key, "ContentType": ctype, "ServerSideEncryption": "AES256"})
    finally:
        botocore.auth.datetime.datetime = _real_datetime


CASES = [
    # region, endpoint, path style, (ak, sk, token), key, content type, expires, bucket
    ("us-east-1", None, 0, ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None),
     "temp/0123456789abcdef/fits/aia_171.fits", "application/fits", 300, "fitsflow-bucket"),
    ("eu-west-2", None, 0, ("ASIAXXEXAMPLE", "secret+/=key", "IQoJb3JpZ2luX2VjE//////////wEaCXVz+token=="),
     "temp/s-1/fits/a b+c~d(1)ü.fits", "application/octet-stream", 300, "my-bucket"),
    ("eu-west-2", None, 1, ("AK", "SK", None), "temp/s/fits/x.fits", "image/fits; charset=x", 300, "my-bucket"),
    ("us-east-1", None, 1, ("AK", "SK", "t"), "temp/s/fits/x.fits", "application/fits", 300, "my-bucket"),
    ("ap-southeast-2", "https://s3.ap-southeast-2.amazonaws.com", 0, ("AK", "SK", None),
     "temp/s/fits/x.FITS", "application/fits", 300, "fitsflow-prod"),
    ("us-west-2", "http://127.0.0.1:4568", 1, ("S3RVER", "S3RVER", None), "temp/s/fits/%2F.fits",
     "application/fits", 60, "fitsflow-test"),
    ("eu-central-1", "https://minio.example.org:9000", 0, ("AK", "SK", None), "temp/s/fits/y.fits",
     "application/fits", 604800, "b-1"),
]


@check
def urls_identical_to_botocore():
    for i, (region, endpoint, path_style, creds, key, ctype, expires, bucket) in enumerate(CASES):
        for when in (_real_datetime(2024, 5, 6, 7, 8, 9), _real_datetime(2031, 12, 31, 23, 59, 59)):
            epoch = int(when.replace(tzinfo=datetime.timezone.utc).timestamp())
            env = {"FITSFLOW_STORE": "s3", "FITSFLOW_S3_BUCKET": bucket, "FITSFLOW_S3_REGION": region,
                   "FITSFLOW_S3_PATH_STYLE": str(path_style), "AWS_ACCESS_KEY_ID": creds[0],
                   "AWS_SECRET_ACCESS_KEY": creds[1]}
            if endpoint:
                env["FITSFLOW_S3_ENDPOINT"] = endpoint
            if creds[2]:
                env["AWS_SESSION_TOKEN"] = creds[2]
            ours = tool_presign(env, key, ctype, expires, epoch)
            theirs = boto_presign(region, endpoint, path_style, creds, key, ctype, expires, when, bucket)
            assert ours == theirs, f"case {i} at {when}:\n ours   {ours}\n botocore {theirs}"


def put(url, body, ctype="application/fits", sse="AES256"):
    headers = {"Content-Type": ctype}
    if sse:
        headers["x-amz-server-side-encryption"] = sse
    req = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@check
def put_through_our_url_and_tampered_ones():
    if not s3peer.ensure_node_modules():
        raise AssertionError("s3rver is not installed and scripts/deps-node.sh could not install it")
    with s3peer.S3Peer(TMP) as peer:
        now = int(time.time())
        key = "temp/0123456789abcdef/fits/aia 171.fits"
        url = tool_presign(peer.env(), key, "application/fits", 300, now)
        body = os.urandom(50000)
        status, _ = put(url, body)
        assert status == 200, status
        got = peer.client().get_object(Bucket=peer.bucket, Key=key)["Body"].read()
        assert got == body
        # every kind of tampering is refused by the verifier
        bad = {
            "other key": url.replace("aia%20171.fits", "aia%20172.fits"),
            "longer life": url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
            "other signature": url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
            "no token": url.replace("X-Amz-Security-Token=", "X-Amz-Security-Tokem="),
        }
        for what, u in bad.items():
            status, text = put(u, b"evil")
            assert status == 403, (what, status, text)
        status, _ = put(url, b"evil", ctype="text/html")
        assert status == 403, "a different Content-Type must not pass"
        status, _ = put(url, b"evil", sse=None)
        assert status == 403, "leaving out the encryption header must not pass"
        old = tool_presign(peer.env(), key, "application/fits", 300, now - 3600)
        status, _ = put(old, b"evil")
        assert status == 403, "an expired URL must not pass"
        assert peer.client().get_object(Bucket=peer.bucket, Key=key)["Body"].read() == body


@check
def refuses_bad_inputs():
    env = {"FITSFLOW_STORE": "s3", "FITSFLOW_S3_BUCKET": "b-1", "AWS_ACCESS_KEY_ID": "a",
           "AWS_SECRET_ACCESS_KEY": "b"}
    e = dict(os.environ)
    e.update(env)
    for args in (["../x", "a/b", "300", "0"], ["temp/x", "a/b", "0", "0"], ["temp/x", "a/b", "700000", "0"]):
        p = subprocess.run([TOOL, "presign", *args], capture_output=True, text=True, env=e, timeout=30)
        assert p.returncode == 2 and p.stderr.strip(), (args, p.stderr)
    e["FITSFLOW_STORE"] = "fs"
    p = subprocess.run([TOOL, "presign", "temp/x", "a/b", "300", "0"], capture_output=True, text=True,
                       env=e, timeout=30)
    assert p.returncode == 2 and "FITSFLOW_STORE=s3" in p.stderr, p.stderr


run_checks()
