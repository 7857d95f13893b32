#!/usr/bin/env python3
"""End-to-end scenario with real clients: the aws CLI, boto3 and curl against a real
`bascule serve`. Content hashes are compared end to end. Exits non-zero on any failure and
ends with an 'N passed, N failed' line.

Usage: scenario.py --bin path/to/bascule [--big-mb 110]
"""
import argparse, datetime, hashlib, json, os, random, shutil, subprocess, sys, tempfile, time, traceback

import boto3

RESULTS = []


def check(name, fn):
    start = time.time()
    try:
        fn()
        RESULTS.append((name, True))
        print(f"PASS {name} ({time.time() - start:.1f}s)", flush=True)
    except Exception:
        RESULTS.append((name, False))
        print(f"FAIL {name}", flush=True)
        traceback.print_exc()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = sha256_file(full)
    return out


def make_folder(root, big_mb):
    rnd = random.Random(42)
    os.makedirs(os.path.join(root, "pdf"), exist_ok=True)
    os.makedirs(os.path.join(root, "images/2026"), exist_ok=True)
    os.makedirs(os.path.join(root, "video"), exist_ok=True)
    for i in range(20):
        with open(os.path.join(root, "pdf", f"chapitre-{i}.pdf"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(0, 300_000)))
    for i in range(10):
        with open(os.path.join(root, "images/2026", f"photo {i}.jpg"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(1, 2_000_000)))
    with open(os.path.join(root, "README.txt"), "w") as f:
        f.write("Cours de mathématiques — é à ü\n")
    open(os.path.join(root, "empty.txt"), "wb").close()
    block = rnd.randbytes(1 << 20)
    for name in ("cours-1.mp4", "cours-2.mp4"):
        with open(os.path.join(root, "video", name), "wb") as f:
            for j in range(big_mb):
                f.write(block[j % 7:] + block[: j % 7])


class Server:
    def __init__(self, binary, workdir):
        self.data = os.path.join(workdir, "data")
        # Customer keys (SSE-C) over plain HTTP are refused unless allowed: the scenario
        # server has no TLS.
        config = os.path.join(workdir, "bascule.toml")
        with open(config, "w") as f:
            f.write("[encryption]\nallow_insecure_sse_c = true\n")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", config, "--data-dir", self.data,
             "--s3-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "BASCULE_LOG": "warn"})
        self.endpoint = None
        for line in self.proc.stdout:
            if line.startswith("S3 endpoint: "):
                self.endpoint = line.split(": ", 1)[1].strip()
            if line.startswith("Admin endpoint: "):
                self.admin = line.split(": ", 1)[1].strip()
                break
        if not self.endpoint:
            raise RuntimeError("bascule did not start")
        creds = open(os.path.join(self.data, "credentials")).read()
        field = lambda k: next(l.split("=", 1)[1].strip() for l in creds.splitlines() if l.startswith(k))
        self.ak, self.sk = field("aws_access_key_id"), field("aws_secret_access_key")
        self.binary = binary

    def admin_cli(self, *args):
        out = subprocess.run([self.binary, "admin", "--json", "--endpoint", self.admin, "--data-dir", self.data, *args],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--big-mb", type=int, default=110)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bascule-scenario-", dir=os.environ.get("SCENARIO_TMP"))
    srv = Server(os.path.abspath(args.bin), work)
    # DEFAULT client settings: the aws CLI v1 and boto3 presign URLs and POST forms with
    # SigV2 and sign everything else with SigV4; Bascule takes both.
    config_file = os.path.join(work, "aws-config")
    with open(config_file, "w") as f:
        f.write("[default]\nregion = us-east-1\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": srv.ak, "AWS_SECRET_ACCESS_KEY": srv.sk,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": config_file, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def aws(*a, capture=False):
        cmd = ["aws", "--endpoint-url", srv.endpoint, *a]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(a)} failed: {r.stderr}")
        return r.stdout

    s3 = boto3.client("s3", endpoint_url=srv.endpoint, aws_access_key_id=srv.ak, aws_secret_access_key=srv.sk,
                      region_name="us-east-1")
    src = os.path.join(work, "src")
    make_folder(src, args.big_mb)
    want = tree_hashes(src)

    def sync_up_and_down():
        aws("s3", "mb", "s3://cours")
        aws("s3", "sync", src, "s3://cours/maths/")
        down = os.path.join(work, "down")
        aws("s3", "sync", "s3://cours/maths/", down)
        got = tree_hashes(down)
        assert got == want, f"hash mismatch: {set(got.items()) ^ set(want.items())}"
        head = s3.head_object(Bucket="cours", Key="maths/video/cours-1.mp4")
        assert head["ContentLength"] == args.big_mb << 20
        assert head["ETag"].strip('"').endswith(tuple(f"-{n}" for n in range(2, 10001))), f"multipart ETag expected: {head['ETag']}"
        # A second sync uploads nothing.
        out = aws("s3", "sync", src, "s3://cours/maths/")
        assert "upload:" not in out, out

    def presign_with_curl():
        url = aws("s3", "presign", "s3://cours/maths/pdf/chapitre-3.pdf", "--expires-in", "300").strip()
        target = os.path.join(work, "presigned.pdf")
        subprocess.run(["curl", "-sf", "-o", target, url], check=True)
        assert sha256_file(target) == want["pdf/chapitre-3.pdf"]
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url.replace("chapitre-3", "chapitre-4")],
                           capture_output=True, text=True)
        assert r.stdout == "403", f"tampered URL answered {r.stdout}"

    def presigned_post_with_curl():
        post = s3.generate_presigned_post(
            "cours", "uploads/${filename}",
            Fields={"Content-Type": "application/pdf"},
            Conditions=[["starts-with", "$key", "uploads/"], {"Content-Type": "application/pdf"},
                        ["content-length-range", 1, 10_000_000]],
            ExpiresIn=600)
        path = os.path.join(src, "pdf", "chapitre-5.pdf")
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
        for k, v in post["fields"].items():
            cmd += ["-F", f"{k}={v}"]
        cmd += ["-F", f"file=@{path};filename=devoir.pdf", post["url"]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.stdout == "204", f"form POST answered {r.stdout}"
        body = s3.get_object(Bucket="cours", Key="uploads/devoir.pdf")
        assert body["ContentType"] == "application/pdf"
        assert hashlib.sha256(body["Body"].read()).hexdigest() == want["pdf/chapitre-5.pdf"]
        # A file outside the key condition is refused.
        bad = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
        for k, v in post["fields"].items():
            bad += ["-F", f"{k}={'other/x.pdf' if k == 'key' else v}"]
        bad += ["-F", f"file=@{path}", post["url"]]
        assert subprocess.run(bad, capture_output=True, text=True).stdout == "403"

    def range_reads():
        key = "maths/video/cours-2.mp4"
        local = open(os.path.join(src, "video", "cours-2.mp4"), "rb").read()
        for rng, part in [("bytes=0-99", local[:100]), ("bytes=-4096", local[-4096:]),
                          (f"bytes={(8 << 20) - 5}-{(8 << 20) + 5}", local[(8 << 20) - 5:(8 << 20) + 6]),
                          (f"bytes={len(local) - 10}-", local[-10:])]:
            r = s3.get_object(Bucket="cours", Key=key, Range=rng)
            assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
            assert r["Body"].read() == part, rng
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "cours", "Key": key}, ExpiresIn=300)
        out = subprocess.run(["curl", "-sf", "-H", "Range: bytes=1000-1999", url], capture_output=True, check=True).stdout
        assert out == local[1000:2000]

    def listing_with_delimiter():
        out = s3.list_objects_v2(Bucket="cours", Prefix="maths/", Delimiter="/")
        prefixes = sorted(p["Prefix"] for p in out.get("CommonPrefixes", []))
        assert prefixes == ["maths/images/", "maths/pdf/", "maths/video/"], prefixes
        assert sorted(o["Key"] for o in out["Contents"]) == ["maths/README.txt", "maths/empty.txt"]
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="cours", Prefix="maths/", PaginationConfig={"PageSize": 7})
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        assert sorted(keys) == sorted("maths/" + k for k in want), "paginated listing"
        cli = aws("s3", "ls", "s3://cours/maths/")
        assert "PRE pdf/" in cli and "README.txt" in cli, cli

    def acls_with_anonymous_curl():
        # A public-read bucket lists to anyone; its objects follow their own ACLs.
        aws("s3", "mb", "s3://public-cours")
        aws("s3api", "put-bucket-acl", "--bucket", "public-cours", "--acl", "public-read")
        s3.put_object(Bucket="public-cours", Key="private.pdf", Body=b"secret", ACL="private")
        aws("s3", "cp", os.path.join(src, "pdf", "chapitre-3.pdf"), "s3://public-cours/open.pdf",
            "--acl", "public-read")
        def anon(path):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{srv.endpoint}{path}"],
                               capture_output=True, text=True)
            return r.stdout
        assert anon("/public-cours/private.pdf") == "403", "private object served anonymously"
        assert anon("/public-cours/open.pdf") == "200"
        assert anon("/public-cours?list-type=2") == "200"
        grants = s3.get_object_acl(Bucket="public-cours", Key="open.pdf")["Grants"]
        # Groups first, then the owner, as AWS and RGW list them.
        assert [g["Permission"] for g in grants] == ["READ", "FULL_CONTROL"], grants
        aws("s3", "rm", "--recursive", "s3://public-cours/")
        aws("s3", "rb", "s3://public-cours")

    def s3cmd_signurl_with_curl():
        cfg = os.path.join(work, "s3cmd.cfg")
        host = srv.endpoint.removeprefix("http://")
        with open(cfg, "w") as f:
            f.write(f"[default]\naccess_key = {srv.ak}\nsecret_key = {srv.sk}\nhost_base = {host}\n"
                    f"host_bucket = {host}\nuse_https = False\nsignature_v2 = True\n")
        expiry = str(int(time.time()) + 300)
        r = subprocess.run(["s3cmd", "-c", cfg, "signurl", "s3://cours/maths/pdf/chapitre-3.pdf", expiry],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        url = r.stdout.strip().replace("https://", "http://")
        target = os.path.join(work, "s3cmd.pdf")
        subprocess.run(["curl", "-sf", "-o", target, url], check=True)
        assert sha256_file(target) == want["pdf/chapitre-3.pdf"]

    def policy_lets_a_second_user_read_one_prefix():
        srv.admin_cli("user", "create", "reader")
        key = srv.admin_cli("key", "create", "reader")
        reader = boto3.client("s3", endpoint_url=srv.endpoint, aws_access_key_id=key["access_key"],
                              aws_secret_access_key=key["secret_key"], region_name="us-east-1")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/reader"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cours/maths/pdf/*"}]}
        s3.put_bucket_policy(Bucket="cours", Policy=json.dumps(policy))
        body = reader.get_object(Bucket="cours", Key="maths/pdf/chapitre-3.pdf")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == want["pdf/chapitre-3.pdf"]
        try:
            reader.get_object(Bucket="cours", Key="maths/README.txt")
            raise AssertionError("read outside the prefix was allowed")
        except reader.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
        s3.delete_bucket_policy(Bucket="cours")

    def deletion():
        # boto3's own DeleteObjects document, with keys that end in spaces.
        for k in ["tmp/a ", "tmp/a"]:
            s3.put_object(Bucket="cours", Key=k, Body=b"x")
        out = s3.delete_objects(Bucket="cours", Delete={"Objects": [{"Key": "tmp/a "}], "Quiet": False})
        assert [d["Key"] for d in out.get("Deleted", [])] == ["tmp/a "], out
        left = [o["Key"] for o in s3.list_objects_v2(Bucket="cours", Prefix="tmp/")["Contents"]]
        assert left == ["tmp/a"], left
        aws("s3", "rm", "--recursive", "s3://cours/maths/pdf/")
        left = s3.list_objects_v2(Bucket="cours", Prefix="maths/pdf/")
        assert left["KeyCount"] == 0
        aws("s3", "rm", "--recursive", "s3://cours/")
        assert s3.list_objects_v2(Bucket="cours")["KeyCount"] == 0
        aws("s3", "rb", "s3://cours")
        assert "cours" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    def versions_lifecycle_and_lock():
        # The aws CLI and boto3 with their defaults: versioning, a restore from an old
        # version, a lifecycle configuration and a compliance-locked exam record.
        aws("s3api", "create-bucket", "--bucket", "archive")
        aws("s3api", "put-bucket-versioning", "--bucket", "archive",
            "--versioning-configuration", "Status=Enabled")
        v1 = s3.put_object(Bucket="archive", Key="syllabus.pdf", Body=b"v1")["VersionId"]
        s3.put_object(Bucket="archive", Key="syllabus.pdf", Body=b"v2")
        aws("s3", "rm", "s3://archive/syllabus.pdf")
        listed = json.loads(aws("s3api", "list-object-versions", "--bucket", "archive", capture=True))
        assert [v["VersionId"] for v in listed["Versions"]][-1] == v1, listed
        assert listed["DeleteMarkers"][0]["IsLatest"] is True, listed
        s3.copy_object(Bucket="archive", Key="syllabus.pdf",
                       CopySource={"Bucket": "archive", "Key": "syllabus.pdf", "VersionId": v1})
        assert s3.get_object(Bucket="archive", Key="syllabus.pdf")["Body"].read() == b"v1"
        # Browser form POSTs (boto3's presigned POST sent by curl) are versions too.
        post = s3.generate_presigned_post("archive", "form.pdf", ExpiresIn=600)
        ids = []
        for body in (b"one", b"two"):
            path = os.path.join(work, "form.bin")
            with open(path, "wb") as f:
                f.write(body)
            cmd = ["curl", "-s", "-D", "-", "-o", "/dev/null"]
            for k, v in post["fields"].items():
                cmd += ["-F", f"{k}={v}"]
            out = subprocess.run(cmd + ["-F", f"file=@{path}", post["url"]], capture_output=True, text=True).stdout
            vid = [l.split(":", 1)[1].strip() for l in out.splitlines() if l.lower().startswith("x-amz-version-id:")]
            assert vid and vid[0] != "null", out
            ids.append(vid[0])
        assert ids[0] != ids[1], ids
        assert s3.get_object(Bucket="archive", Key="form.pdf", VersionId=ids[0])["Body"].read() == b"one"
        s3.put_bucket_lifecycle_configuration(Bucket="archive", LifecycleConfiguration={"Rules": [
            {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
        rules = s3.get_bucket_lifecycle_configuration(Bucket="archive")["Rules"]
        assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30, rules
        s3.create_bucket(Bucket="exams", ObjectLockEnabledForBucket=True)
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        v = s3.put_object(Bucket="exams", Key="record.pdf", Body=b"grades", ObjectLockMode="COMPLIANCE",
                          ObjectLockRetainUntilDate=until)["VersionId"]
        try:
            s3.delete_object(Bucket="exams", Key="record.pdf", VersionId=v, BypassGovernanceRetention=True)
            raise AssertionError("a compliance-locked version was deleted")
        except s3.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
        assert s3.get_object_retention(Bucket="exams", Key="record.pdf", VersionId=v)["Retention"]["Mode"] == "COMPLIANCE"

    def encryption_with_the_aws_cli():
        aws("s3", "mb", "s3://secure")
        pdf = os.path.join(src, "pdf", "chapitre-3.pdf")
        video = os.path.join(src, "video", "cours-1.mp4")
        head = lambda key: json.loads(aws("s3api", "head-object", "--bucket", "secure", "--key", key, capture=True))
        # SSE-S3, single PUT and multipart.
        aws("s3", "cp", pdf, "s3://secure/s3.pdf", "--sse", "AES256")
        assert head("s3.pdf")["ServerSideEncryption"] == "AES256"
        aws("s3", "cp", video, "s3://secure/video.mp4", "--sse", "AES256")
        assert head("video.mp4")["ServerSideEncryption"] == "AES256"
        out = os.path.join(work, "video.mp4")
        aws("s3", "cp", "s3://secure/video.mp4", out)
        assert sha256_file(out) == sha256_file(video), "SSE-S3 multipart object changed"
        # SSE-KMS under a key made with the admin CLI.
        srv.admin_cli("kms", "key", "create", "course-data")
        aws("s3", "cp", pdf, "s3://secure/kms.pdf", "--sse", "aws:kms", "--sse-kms-key-id", "course-data")
        h = head("kms.pdf")
        assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == "course-data", h
        # SSE-C: the key goes with every request; without it the read fails.
        key = "0123456789abcdef0123456789abcdef"
        aws("s3", "cp", video, "s3://secure/c.mp4", "--sse-c", "AES256", "--sse-c-key", key)
        out = os.path.join(work, "c.mp4")
        aws("s3", "cp", "s3://secure/c.mp4", out, "--sse-c", "AES256", "--sse-c-key", key)
        assert sha256_file(out) == sha256_file(video), "SSE-C object changed"
        try:
            aws("s3", "cp", "s3://secure/c.mp4", out)
            raise AssertionError("an SSE-C object was read without its key")
        except AssertionError as e:
            assert "without its key" not in str(e), e
        # A bucket default (boto3): writes without a header are encrypted.
        s3.put_bucket_encryption(Bucket="secure", ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_object(Bucket="secure", Key="default.txt", Body=b"encrypted by default")
        assert s3.head_object(Bucket="secure", Key="default.txt")["ServerSideEncryption"] == "AES256"
        aws("s3", "rm", "--recursive", "s3://secure/")
        aws("s3", "rb", "s3://secure")

    def boto3_signature_version_2():
        # boto3 with its SigV2 signer (signature_version='s3'), every call header-signed.
        from botocore.client import Config
        v2 = boto3.client("s3", endpoint_url=srv.endpoint, aws_access_key_id=srv.ak,
                          aws_secret_access_key=srv.sk, region_name="us-east-1",
                          config=Config(signature_version="s3"))
        v2.create_bucket(Bucket="signed-v2")
        v2.put_bucket_versioning(Bucket="signed-v2", VersioningConfiguration={"Status": "Enabled"})
        v2.put_object(Bucket="signed-v2", Key="notes/a.txt", Body=b"version two")
        assert v2.get_object(Bucket="signed-v2", Key="notes/a.txt")["Body"].read() == b"version two"
        assert v2.list_objects_v2(Bucket="signed-v2", Prefix="notes/")["KeyCount"] == 1
        grants = v2.get_bucket_acl(Bucket="signed-v2")["Grants"]
        assert grants[0]["Permission"] == "FULL_CONTROL", grants
        v2.put_object_tagging(Bucket="signed-v2", Key="notes/a.txt",
                              Tagging={"TagSet": [{"Key": "course", "Value": "maths"}]})
        assert v2.get_object_tagging(Bucket="signed-v2", Key="notes/a.txt")["TagSet"][0]["Value"] == "maths"
        v2.delete_object(Bucket="signed-v2", Key="notes/a.txt")
        versions = v2.list_object_versions(Bucket="signed-v2")
        assert len(versions["Versions"]) == 1 and len(versions["DeleteMarkers"]) == 1, versions

    try:
        for name, fn in [("aws s3 sync up and down (multipart over 100 MB)", sync_up_and_down),
                         ("boto3 with SigV2 (signature_version='s3')", boto3_signature_version_2),
                         ("aws s3 presign fetched with curl", presign_with_curl),
                         ("s3cmd signurl (SigV2) fetched with curl", s3cmd_signurl_with_curl),
                         ("boto3 generate_presigned_post sent as a curl form", presigned_post_with_curl),
                         ("range reads (boto3 and curl)", range_reads),
                         ("listing with delimiter (boto3, aws CLI)", listing_with_delimiter),
                         ("ACLs: a private object in a public-read bucket (curl)", acls_with_anonymous_curl),
                         ("a bucket policy lets a second user read one prefix", policy_lets_a_second_user_read_one_prefix),
                         ("versions, lifecycle and object lock (aws CLI, boto3)", versions_lifecycle_and_lock),
                         ("encryption: --sse, --sse-kms-key-id, --sse-c, bucket default", encryption_with_the_aws_cli),
                         ("deletion", deletion)]:
            check(name, fn)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for _, ok in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"scenario: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
