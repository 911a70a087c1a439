#!/usr/bin/env bash
# A curl transcript against a real `winpod serve`: a bad Windows pod (denied, with paths), a
# Windows pod whose memory limit differs from its request (allowed, warned), a Linux pod (allowed,
# nothing to say), and a malformed body (4xx). Certificates are made on the spot, never kept.
#   usage: tests/webhook/transcript.sh        (from the repository root; needs curl)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$PY" - "$work" <<'PYEOF'
import sys
from pathlib import Path
from winpod.certs import make_ca, make_serving_cert
work = Path(sys.argv[1])
ca = make_ca()
serving = make_serving_cert(ca, ["localhost"], ["127.0.0.1"])
(work / "ca.crt").write_bytes(ca.cert_pem)
(work / "tls.crt").write_bytes(serving.cert_pem)
(work / "tls.key").write_bytes(serving.key_pem)
PYEOF

"$PY" -m winpod.cli serve --host 127.0.0.1 --port 0 \
  --cert-file "$work/tls.crt" --key-file "$work/tls.key" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
  port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
url="https://127.0.0.1:$port"

review() {  # $1 uid, $2 pod JSON
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","object":%s}}' "$1" "$2"
}
post() {  # $1 title, $2 body, $3 content type
  echo "### $1"
  echo "\$ curl -sS --cacert ca.crt -H 'Content-Type: $3' --data-binary @- '$url/validate?timeout=10s'"
  printf '%s' "$2" | curl -sS --cacert "$work/ca.crt" -H "Content-Type: $3" --data-binary @- \
    -w '\n(HTTP %{http_code})\n' "$url/validate?timeout=10s" | "$PY" -c '
import json, sys
text = sys.stdin.read()
body, _, status = text.rpartition("\n(HTTP ")
print(json.dumps(json.loads(body), indent=2)); print("(HTTP " + status.strip())'
  echo
}

WIN='"nodeSelector":{"kubernetes.io/os":"windows"},"os":{"name":"windows"},"tolerations":[{"key":"os","operator":"Equal","value":"windows","effect":"NoSchedule"}]'
IMG='"image":"mcr.microsoft.com/windows/servercore:ltsc2022"'
MEM='"resources":{"requests":{"memory":"256Mi"},"limits":{"memory":"256Mi"}}'

post "bad Windows pod: privileged container, hostPID" "$(review bad-1 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad\"},\"spec\":{$WIN,\"hostPID\":true,\"containers\":[{\"name\":\"app\",$IMG,$MEM,\"securityContext\":{\"privileged\":true}}]}}")" application/json
post "Windows pod, memory limit 1Gi != request 512Mi" "$(review warn-1 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"mem\"},\"spec\":{$WIN,\"containers\":[{\"name\":\"app\",$IMG,\"resources\":{\"requests\":{\"memory\":\"512Mi\"},\"limits\":{\"memory\":\"1Gi\"}}}]}}")" application/json
post "Linux pod" "$(review linux-1 '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"nodeSelector":{"kubernetes.io/os":"linux"},"containers":[{"name":"web","image":"nginx:1.27"}]}}')" application/json
post "malformed body" '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {' application/json
post "wrong content type" "$(review ct-1 '{}')" text/plain

echo "### /mutate: a Windows image and no placement (the patch shown decoded)"
echo "\$ curl -sS --cacert ca.crt -H 'Content-Type: application/json' --data-binary @- '$url/mutate?timeout=10s'"
review mutate-1 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"iis\"},\"spec\":{\"containers\":[{\"name\":\"app\",$IMG,$MEM}]}}" |
  curl -sS --cacert "$work/ca.crt" -H "Content-Type: application/json" --data-binary @- \
    "$url/mutate?timeout=10s" | "$PY" -c '
import base64, json, sys
review = json.load(sys.stdin)
response = review["response"]
if "patch" in response:
    response["patch"] = json.loads(base64.b64decode(response["patch"]))
print(json.dumps(review, indent=2))'
echo

echo "### the server's log lines for these reviews"
grep '"event":"review"' "$work/server.log"
