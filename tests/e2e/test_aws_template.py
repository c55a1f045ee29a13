"""deploy/aws/template.yaml: passes cfn-lint (npm, with the current resource specification; a
broken copy fails), each function's policy names only the prefixes and actions it needs,
deploy/aws/policies/*.json say the same, and the bucket, schedule, runtime and logs are as the
issue asks."""
import json
import os
import subprocess
import sys

import yaml

from fftest import check, run_checks, scratch
import s3peer

SOURCE = os.environ.get("FF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
TEMPLATE = os.path.join(SOURCE, "deploy/aws/template.yaml")
LINT = os.path.join(SOURCE, "deploy/aws/lint.js")
TMP = scratch("aws-template")


class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"{self.tag} {self.value!r}"

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return Tag("!" + suffix, v)


CfnLoader.add_multi_constructor("!", _tag)
T = yaml.load(open(TEMPLATE), Loader=CfnLoader)
R = T["Resources"]


def lint(path):
    return subprocess.run(["node", LINT, path], capture_output=True, text=True, timeout=120)


@check
def cfn_lint_passes_and_can_fail():
    if not s3peer.ensure_node_modules():
        raise AssertionError("npm packages missing and scripts/deps-node.sh could not install them")
    p = lint(TEMPLATE)
    assert p.returncode == 0 and "template valid" in p.stdout, p.stdout + p.stderr
    bad = os.path.join(TMP, "bad.yaml")
    with open(bad, "w") as f:
        f.write(open(TEMPLATE).read().replace("      Handler: clean", "      Handlr: clean"))
    p = lint(bad)
    assert p.returncode != 0 and "Handlr" in p.stdout, p.stdout


def arn_of(resource):
    """What a Resource entry points at: ('bucket', ''), ('object', 'temp/*'), ('function', 'MainFunction')."""
    if isinstance(resource, Tag) and resource.tag == "!GetAtt":
        name = resource.value.split(".")[0] if isinstance(resource.value, str) else resource.value[0]
        if name == "DataBucket":
            return ("bucket", "")
        return ("function", name)
    if isinstance(resource, Tag) and resource.tag == "!Sub":
        s = resource.value
        assert s.startswith("${DataBucket.Arn}/"), s
        return ("object", s[len("${DataBucket.Arn}/"):])
    raise AssertionError(f"unexpected Resource {resource!r}")


def statements(fn):
    props = R[fn]["Properties"]
    out = []
    for pol in props.get("Policies", []):
        assert isinstance(pol, dict) and "Statement" in pol, f"{fn}: only inline statements allowed"
        out += pol["Statement"]
    return out


def grants(fn):
    """{(action, target)} and the ListBucket prefixes of fn's policy."""
    g, prefixes = set(), set()
    for st in statements(fn):
        assert st["Effect"] == "Allow", st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for a in actions:
            assert "*" not in a, f"{fn}: wildcard action {a}"
            for r in resources:
                assert r != "*", f"{fn}: Resource *"
                g.add((a, arn_of(r)))
                if a == "s3:ListBucket":
                    cond = st.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
                    assert cond, f"{fn}: ListBucket without an s3:prefix condition"
                    prefixes |= set(cond if isinstance(cond, list) else [cond])
    return g, prefixes


TEMP_RW = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


@check
def trigger_may_presign_temp_uploads_and_start_main_only():
    g, prefixes = grants("TriggerFunction")
    assert g == {("s3:PutObject", ("object", "temp/*")),
                 ("lambda:InvokeFunction", ("function", "MainFunction"))}, g
    assert not prefixes


@check
def main_and_asdf_touch_temp_only():
    for fn in ("MainFunction", "AsdfFunction"):
        g, prefixes = grants(fn)
        objects = {(a, t) for a, t in g if t[0] == "object"}
        assert {t for _, t in objects} == {("object", "temp/*")}, (fn, g)
        assert {a for a, _ in objects} <= TEMP_RW, (fn, g)
        assert {a for a, t in g if t[0] != "object"} == {"s3:ListBucket"}, (fn, g)
        assert prefixes == {"temp/*"}, (fn, prefixes)
        assert not any(a.startswith("lambda:") for a, _ in g), fn


@check
def clean_touches_temp_and_daily_videos_only():
    g, prefixes = grants("CleanFunction")
    targets = {t for _, t in g}
    assert targets == {("object", "temp/*"), ("object", "daily_videos/*"), ("bucket", "")}, g
    assert {a for a, t in g if t == ("object", "temp/*")} <= {"s3:GetObject", "s3:DeleteObject"}, g
    assert {a for a, t in g if t == ("object", "daily_videos/*")} <= TEMP_RW - {"s3:DeleteObject"}, g
    assert prefixes == {"temp/*", "daily_videos/*"}, prefixes
    assert not any(a.startswith("lambda:") for a, _ in g)


@check
def policy_files_match_the_template():
    folder = os.path.join(SOURCE, "deploy/aws/policies")
    for fn, name in (("TriggerFunction", "trigger"), ("MainFunction", "main"),
                     ("AsdfFunction", "asdf"), ("CleanFunction", "clean")):
        doc = json.load(open(os.path.join(folder, f"{name}.json")))

        def norm(r):
            kind, what = arn_of(r)
            return {"bucket": "${BucketArn}", "object": "${BucketArn}/" + what,
                    "function": "${MainFunctionArn}"}[kind]
        want = []
        for st in statements(fn):
            st = dict(st)
            res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            st["Resource"] = [norm(r) for r in res]
            st["Action"] = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            want.append(st)
        assert doc == {"Version": "2012-10-17", "Statement": want}, (name, doc, want)


@check
def bucket_is_private_encrypted_with_cors_and_a_temp_backstop():
    b = R["DataBucket"]["Properties"]
    sse = b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "AES256"}
    assert all(b["PublicAccessBlockConfiguration"].values()) and len(b["PublicAccessBlockConfiguration"]) == 4
    cors = b["CorsConfiguration"]["CorsRules"][0]
    assert set(cors["AllowedMethods"]) == {"GET", "PUT", "HEAD"}
    rules = b["LifecycleConfiguration"]["Rules"]
    assert any(r["Prefix"] == "temp/" and r["ExpirationInDays"] == 1 and r["Status"] == "Enabled" for r in rules)
    pol = R["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    read = [s for s in pol if s["Effect"] == "Allow"]
    assert len(read) == 1 and read[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read[0]["Action"] == "s3:GetObject" and "AWS:SourceArn" in read[0]["Condition"]["StringEquals"]
    deny_put = [s for s in pol if s["Effect"] == "Deny" and s["Action"] == "s3:PutObject"]
    assert deny_put and "NotResource" in deny_put[0]
    origin = R["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert "OriginAccessControlId" in origin and origin["S3OriginConfig"]["OriginAccessIdentity"] == ""


@check
def functions_schedule_api_and_logs():
    assert T["Globals"]["Function"]["Runtime"] == "provided.al2023"
    handlers = {R[f]["Properties"]["Handler"] for f in
                ("TriggerFunction", "MainFunction", "AsdfFunction", "CleanFunction")}
    assert handlers == {"trigger", "main", "asdf", "clean"}
    ev = R["CleanFunction"]["Properties"]["Events"]["Nightly"]
    assert ev["Type"] == "Schedule" and ev["Properties"]["Schedule"] == "cron(0 4 * * ? *)"
    api = R["HttpApi"]["Properties"]
    assert api["ProtocolType"] == "HTTP" and api["CorsConfiguration"]["AllowMethods"] == ["GET", "OPTIONS"]
    assert R["TriggerIntegration"]["Properties"]["PayloadFormatVersion"] == "2.0"
    assert R["TriggerRoute"]["Properties"]["RouteKey"] == "GET /FitsFlow-2-Trigger"
    for fn in ("TriggerFunction", "MainFunction", "AsdfFunction", "CleanFunction"):
        logs = [r for r in R.values() if r["Type"] == "AWS::Logs::LogGroup"
                and r["Properties"]["LogGroupName"] == Tag("!Sub", "/aws/lambda/${%s}" % fn)]
        assert len(logs) == 1 and "RetentionInDays" in logs[0]["Properties"], fn


run_checks()
