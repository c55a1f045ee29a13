"""`fitsflow lambda` against a Runtime API peer that speaks the documented protocol, over a
verifying S3 peer: the trigger's presign and start (an Invoke API call checked with botocore's
SigV4), the X-Ray trace id passed on, event and handler errors, the asdf function producing a
bundle that python-asdf reads, and main/clean (full runs once the session runner and clean job
are in the build)."""
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np

from fftest import AIA_171, BIN, check, run_checks, scratch
import lambdapeer
import s3peer

TMP = scratch("lambda-rt")
SID = "0123456789abcdef"

if not s3peer.ensure_node_modules():
    print("s3rver is not installed and scripts/deps-node.sh could not install it")
    print("0 passed, 1 failed")
    sys.exit(1)

S3 = s3peer.S3Peer(TMP).__enter__()
RT = lambdapeer.RuntimePeer(region=S3.region, token=S3.token).__enter__()


def run_lambda(handler, events, extra_env=None, timeout=120, seconds=600):
    """Queues events (each with `seconds` until its deadline), runs the binary for exactly that
    many invocations, returns the results."""
    rids = [RT.add_event(e, trace_id=t, seconds=seconds) for e, t in events]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": RT.api,
           "_HANDLER": handler, "FITSFLOW_MAIN_FUNCTION": "fitsflow-Main",
           "FITSFLOW_LAMBDA_ENDPOINT": RT.endpoint, "AWS_REGION": S3.region,
           "FITSFLOW_OFFLINE": "1", "TMPDIR": TMP}
    env.update(S3.env())
    env.update(extra_env or {})
    p = subprocess.run([BIN, "lambda", "--max-invocations", str(len(events))], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p, [RT.result(r) for r in rids]


def api_event(query, method="GET"):
    """An API Gateway HTTP API payload 2.0 event."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return {"version": "2.0", "routeKey": "GET /FitsFlow-2-Trigger", "rawPath": "/FitsFlow-2-Trigger",
            "rawQueryString": qs, "headers": {"host": "abc.execute-api.eu-west-2.amazonaws.com"},
            "queryStringParameters": query or None,
            "requestContext": {"http": {"method": method, "path": "/FitsFlow-2-Trigger",
                                        "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
                               "requestId": "r1", "stage": "$default"},
            "isBase64Encoded": False}


def http_body(result):
    assert result and result[1] == "response", result
    r = result[2]
    assert set(r) >= {"statusCode", "headers", "body"} and r["isBase64Encoded"] is False, r
    return r["statusCode"], json.loads(r["body"])


@check
def trigger_presigns_an_upload_that_s3_accepts():
    name = "aia_171_level1.fits"
    p, res = run_lambda("trigger", [(api_event({"session_id": SID, "filename": name,
                                                "contentType": "application/fits"}), None)])
    assert p.returncode == 0, p.stderr
    status, body = http_body(res[0])
    assert status == 200 and body["key"] == f"temp/{SID}/fits/{name}", body
    assert "X-Amz-Expires=300&" in body["url"] and "X-Amz-Security-Token=" in body["url"]
    data = open(AIA_171, "rb").read()
    req = urllib.request.Request(body["url"], data=data, method="PUT",
                                 headers={"Content-Type": "application/fits",
                                          "x-amz-server-side-encryption": "AES256"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
    got = S3.client().get_object(Bucket=S3.bucket, Key=body["key"])["Body"].read()
    assert got == data


@check
def trigger_starts_main_through_a_signed_invoke():
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    n = len(RT.invokes)
    p, res = run_lambda("bootstrap.trigger", [(api_event({"session_id": SID}), trace)])
    assert p.returncode == 0, p.stderr
    status, body = http_body(res[0])
    assert status == 200 and body == {"status": "Processing Started!", "session_id": SID}, body
    calls = RT.invokes[n:]
    assert len(calls) == 1, calls
    function, payload, headers, problem = calls[0]
    assert problem is None, problem
    assert function == "fitsflow-Main"
    assert json.loads(payload) == {"session_id": SID}
    assert headers["x-amz-invocation-type"] == "Event"
    assert headers.get("x-amzn-trace-id") == trace, headers


@check
def trigger_refuses_bad_requests():
    events = [
        (api_event({"session_id": "UPPER-case!"}), None),
        (api_event({}), None),
        (api_event({"session_id": SID, "filename": "../../etc/passwd"}), None),
        (api_event({"session_id": SID, "filename": "x.exe"}), None),
        (api_event({"session_id": SID}, method="DELETE"), None),
    ]
    n = len(RT.invokes)
    p, res = run_lambda("trigger", events)
    assert p.returncode == 0, p.stderr
    codes = [http_body(r)[0] for r in res]
    assert codes == [400, 400, 400, 400, 405], codes
    assert len(RT.invokes) == n, "nothing may be started for a bad request"


@check
def trigger_of_a_session_without_uploads_is_a_404_and_starts_nothing():
    n = len(RT.invokes)
    p, res = run_lambda("trigger", [(api_event({"session_id": "feedfacefeedface"}), None)])
    assert p.returncode == 0, p.stderr
    status, body = http_body(res[0])
    assert status == 404 and "no uploads" in body["error"], body
    assert len(RT.invokes) == n, "nothing may be started for a session without uploads"
    keys = S3.client().list_objects_v2(Bucket=S3.bucket, Prefix="temp/feedfacefeedface/")
    assert keys.get("KeyCount", 0) == 0, keys


@check
def a_failed_invoke_is_a_502_not_a_crash():
    p, res = run_lambda("trigger", [(api_event({"session_id": SID}), None)],
                        extra_env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert p.returncode == 0, p.stderr
    assert http_body(res[0])[0] == 502


@check
def bad_events_become_invocation_errors_and_the_loop_goes_on():
    p, res = run_lambda("main", [(b"this is not json", None), ({"session_id": 5}, None),
                                 ({"session_id": "short"}, None)])
    assert p.returncode == 0, p.stderr
    assert res[0][1] == "error" and res[0][2]["errorType"] == "InvalidEvent", res[0]
    assert res[0][3].get("Lambda-Runtime-Function-Error-Type") == "InvalidEvent"
    assert res[1][1] == "error" and "session_id" in res[1][2]["errorMessage"], res[1]
    assert res[2][1] == "error" and res[2][2]["errorMessage"], res[2]
    assert res[2][2]["stackTrace"] == []


@check
def unknown_handler_is_an_init_error():
    n = len(RT.results)
    env = {"AWS_LAMBDA_RUNTIME_API": RT.api, "_HANDLER": "nosuch"}
    p = subprocess.run([BIN, "lambda"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    init = [r for r in RT.results[n:] if r[1] == "init"]
    assert len(init) == 1 and "nosuch" in init[0][2]["errorMessage"], RT.results[n:]
    assert init[0][2]["errorType"] == "Runtime.InitError"


@check
def asdf_function_builds_the_bundle_python_asdf_reads():
    import asdf
    from astropy.io import fits
    s3 = S3.client()
    s3.put_object(Bucket=S3.bucket, Key=f"temp/{SID}/fits/aia_171_level1.fits", Body=open(AIA_171, "rb").read())
    p, res = run_lambda("asdf", [({"session_id": SID, "file": "aia_171_level1.fits"}, None)],
                        extra_env={"FITSFLOW_ML_SIZE": "64"})
    assert p.returncode == 0, p.stderr
    assert res[0][1] == "response", res[0]
    out = res[0][2]
    assert out["status"] == "processed" and out["outputs"] > 3, out
    raw = s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/asdf/aia_171_level1.asdf")["Body"].read()
    with asdf.open(io.BytesIO(raw)) as af:
        img = np.asarray(af.tree["data"]["image"])
        with fits.open(AIA_171) as hd:
            ref = next(h.data for h in hd if h.data is not None)
        assert img.shape == ref.shape and np.array_equal(img, ref)
    npy = s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/data/aia_171_level1_data.npy")
    assert npy["ContentType"] == "application/octet-stream"
    png = s3.head_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/images/local/aia_171_level1_gray.png")
    assert png["ContentType"] == "image/png"
    # Level 1.5 at the ML size FITSFLOW_ML_SIZE asked for, in the bundle too.
    ml = s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/prep/aia_171_level1_ml.npy")["Body"].read()
    ml = np.load(io.BytesIO(ml))
    assert ml.shape == (64, 64) and ml.dtype == np.float32, (ml.shape, ml.dtype)
    with asdf.open(io.BytesIO(raw)) as af:
        assert af.tree["prep"]["status"] == "registered", af.tree["prep"]
        np.testing.assert_array_equal(np.asarray(af.tree["prep"]["ml"]), ml)
    lev15 = s3.head_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/prep/aia_171_level1_lev15.fits")
    assert lev15["ContentLength"] > 2880


@check
def main_stops_near_the_deadline_or_says_why_not():
    # 30 s left and a 60 s margin: the session must not start, and the error asks for the retry.
    p, res = run_lambda("main", [({"session_id": SID}, None)], seconds=30,
                        extra_env={"FITSFLOW_DEADLINE_MARGIN": "60"})
    assert p.returncode == 0, p.stderr
    kind, body = res[0][1], res[0][2]
    assert kind == "error", body
    if "not in this build" in body["errorMessage"]:
        return  # until the session runner is merged the build says so plainly
    assert body["errorType"] == "DeadlineNear" and "retry resumes" in body["errorMessage"], body


@check
def main_processes_the_session_or_says_why_not():
    p, res = run_lambda("main", [({"session_id": SID}, None)], timeout=300)
    assert p.returncode == 0, p.stderr
    kind, body = res[0][1], res[0][2]
    if kind == "error":
        # Until the session runner is merged the build says so plainly.
        assert "not in this build" in body["errorMessage"], body
        return
    assert body == {"session_id": SID, "status": "done"}, body
    s3 = S3.client()
    summary = s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/logs/summary_log_2.txt")["Body"].read()
    assert b"ALL FILES PROCESSED SUCCESSFULLY" in summary
    manifest = json.loads(s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/manifest.json")["Body"].read())
    assert manifest["files"][0]["status"] == "processed", manifest
    assert manifest["files"][0]["prep"]["status"] == "registered", manifest["files"][0]["prep"]
    assert manifest["stacks"]["slices"] == 1, manifest["stacks"]
    stack = s3.get_object(Bucket=S3.bucket, Key=f"temp/{SID}/processed/session/stack.npy")["Body"].read()
    assert np.load(io.BytesIO(stack)).shape == (1, 512, 512)


@check
def clean_runs_on_the_schedule_event_or_says_why_not():
    event = {"version": "0", "id": "c1", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2024-05-06T04:00:00Z", "region": S3.region,
             "resources": ["arn:aws:events:eu-west-2:123456789012:rule/clean"], "detail": {}}
    p, res = run_lambda("clean", [(event, None)], extra_env={"FITSFLOW_SDO_URL": "http://127.0.0.1:1"})
    assert p.returncode == 0, p.stderr
    kind, body = res[0][1], res[0][2]
    assert kind == "error", body  # offline: the daily movie cannot be fetched here
    assert ("not in this build" in body["errorMessage"]
            or "daily movie failed" in body["errorMessage"]), body


try:
    run_checks()
finally:
    RT.__exit__(None, None, None)
    S3.__exit__(None, None, None)
