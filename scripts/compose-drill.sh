#!/usr/bin/env bash
# The failover drill on the compose deployment, as CI runs it: start two zones behind
# HAProxy, write through the one endpoint, switch over and back under a boto3 writer (no
# request may fail), stop the primary's container, promote the
# secondary, keep writing through the same endpoint, bring the old primary back (it
# rejoins as secondary), check that both zones hold the same objects, tear down.
# Needs the images (scripts/images.sh), docker-compose, the aws CLI and curl.
set -euo pipefail
cd "$(dirname "$0")/../deploy"

project="bascule-drill-$$"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export BASCULE_HTTP_PORT="$(free_port)" BASCULE_PROMETHEUS_PORT="$(free_port)"
export BASCULE_REPLICATION_SECRET="drill-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
compose() { docker-compose -p "$project" -f compose.yaml "$@"; }
cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "drill failed; zone logs:"
    compose logs --no-color --tail 60 zone-a zone-b haproxy || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT

step() { echo "-- $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# Retries a command until it succeeds (at most $1 seconds).
until_ok() {
  local within=$1; shift
  local deadline=$((SECONDS + within))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { "$@" || true; fail "timed out: $*"; }
    sleep 1
  done
}

step "starting two zones, HAProxy and Prometheus (project $project)"
compose up -d
endpoint="http://127.0.0.1:$BASCULE_HTTP_PORT"
zone_admin() { echo "http://127.0.0.1:$(compose port "$1" 9001 | cut -d: -f2)"; }
zone_s3() { echo "http://127.0.0.1:$(compose port "$1" 9000 | cut -d: -f2)"; }
until_ok 60 compose exec -T zone-a test -s /var/lib/bascule/credentials
creds="$(compose exec -T zone-a cat /var/lib/bascule/credentials)"
# The credentials file names the endpoint the host reaches (HAProxy), and no log keeps the
# secret.
grep -q "endpoint_url = $endpoint" <<<"$creds" || fail "the credentials file names another endpoint: $creds"
AWS_ACCESS_KEY_ID="$(sed -n 's/^aws_access_key_id *= *//p' <<<"$creds" | tr -d '\r')"
AWS_SECRET_ACCESS_KEY="$(sed -n 's/^aws_secret_access_key *= *//p' <<<"$creds" | tr -d '\r')"
if compose logs --no-color zone-a zone-b | grep -qF "$AWS_SECRET_ACCESS_KEY"; then
  fail "the admin secret is in docker-compose logs"
fi
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
token_of() { compose exec -T "$1" cat /var/lib/bascule/admin.token | tr -d '\r\n'; }
zone_status() { curl -sf -H "Authorization: Bearer $(token_of "$1")" "$(zone_admin "$1")/admin/v1/zone"; }
s3() { aws --endpoint-url "$endpoint" "$@"; }

step "writing through HAProxy ($endpoint)"
until_ok 60 s3 s3 mb s3://drill
for i in $(seq 1 20); do
  head -c $((1000 + i * 97)) /dev/urandom > "/tmp/$project-$i"
  s3 s3 cp --only-show-errors "/tmp/$project-$i" "s3://drill/before/$i"
done

step "switchover and back under a boto3 writer through the endpoint (default settings)"
# Goal: no failed client request. The demoted zone answers 503 + Retry-After for a
# moment; HAProxy retries on the other zone and boto3 retries the rest.
s3 s3 mb s3://switch >/dev/null
stop_file="/tmp/$project-writer.stop"
python3 - "$endpoint" "$stop_file" > "/tmp/$project-writer.json" <<'EOF_WRITER' &
import json, os, sys, time
import boto3
endpoint, stop = sys.argv[1], sys.argv[2]
c = boto3.client("s3", endpoint_url=endpoint)
acked, failed, gap, i = 0, [], 0.0, 0
last = time.monotonic()
while not os.path.exists(stop):
    try:
        c.put_object(Bucket="switch", Key=f"w/{i:05d}", Body=b"x" * 100)
        now = time.monotonic()
        gap, last, acked = max(gap, now - last), now, acked + 1
    except Exception as e:  # every failure is reported, none hidden
        failed.append(f"{i}: {e}")
    i += 1
print(json.dumps({"acked": acked, "failed": failed, "longest_gap_s": round(gap, 3)}))
EOF_WRITER
writer=$!
sleep 2
compose exec -T zone-a bascule admin zone switchover
sleep 4
compose exec -T zone-b bascule admin zone switchover
sleep 4
touch "$stop_file"
wait "$writer"
echo "writer through two switchovers: $(cat "/tmp/$project-writer.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if not r["failed"] and r["acked"] > 0 else 1)' \
  "/tmp/$project-writer.json" || fail "client requests failed during a switchover"

step "stopping the primary's container (zone-a)"
http_code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
b_follows() { [ "$(http_code "$(zone_admin zone-b)/health/replication")" = 200 ]; }
until_ok 60 b_follows
compose stop -t 5 zone-a

step "promoting zone-b"
compose exec -T zone-b bascule admin zone promote

step "writing through the same endpoint"
until_ok 60 s3 s3 cp --only-show-errors "/tmp/$project-1" s3://drill/after/probe
for i in $(seq 1 20); do
  s3 s3 cp --only-show-errors "/tmp/$project-$i" "s3://drill/after/$i"
done

step "bringing zone-a back: it rejoins as secondary"
compose start zone-a
field_of() { zone_status "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
a_follows() { [ "$(field_of zone-a role)" = secondary ]; }
until_ok 90 a_follows
agreed() { [ "$(field_of zone-a last_seq)" = "$(field_of zone-b last_seq)" ]; }
until_ok 90 agreed

step "both zones hold the same objects"
listing() {
  aws --endpoint-url "$(zone_s3 "$1")" s3api list-objects-v2 --bucket drill \
    --query 'Contents[].[Key,ETag,Size]' --output text
}
a="$(listing zone-a)"; b="$(listing zone-b)"
[ "$a" = "$b" ] || fail "the zones disagree:
zone-a:
$a
zone-b:
$b"
count="$(wc -l <<<"$a")"
[ "$count" = 41 ] || fail "expected 41 objects, found $count"
for i in 1 20; do
  aws --endpoint-url "$(zone_s3 zone-a)" s3 cp --only-show-errors "s3://drill/after/$i" "/tmp/$project-got"
  cmp "/tmp/$project-$i" "/tmp/$project-got" || fail "after/$i differs on zone-a"
done

step "objects are encrypted at rest (SSE-S3 by default) and read back on both zones"
for z in zone-a zone-b; do
  for key in before/3 after/7; do
    enc="$(aws --endpoint-url "$(zone_s3 "$z")" s3api head-object --bucket drill --key "$key" \
      --query ServerSideEncryption --output text)"
    [ "$enc" = AES256 ] || fail "$key on $z is not encrypted ($enc)"
    aws --endpoint-url "$(zone_s3 "$z")" s3 cp --only-show-errors "s3://drill/$key" "/tmp/$project-got"
    cmp "/tmp/$project-${key#*/}" "/tmp/$project-got" || fail "$key differs on $z"
  done
done
rm -f /tmp/"$project"-*

step "HAProxy sends writes to zone-b, Prometheus scrapes both zones"
[ "$(http_code "$(zone_admin zone-b)/health/writable")" = 200 ] || fail "zone-b not writable"
[ "$(http_code "$(zone_admin zone-a)/health/writable")" = 503 ] || fail "zone-a writable"
targets_up() {
  curl -sf "http://127.0.0.1:$BASCULE_PROMETHEUS_PORT/api/v1/targets" \
    | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; sys.exit(0 if len(t)==2 and all(x["health"]=="up" for x in t) else 1)'
}
until_ok 60 targets_up
echo "compose drill passed"
