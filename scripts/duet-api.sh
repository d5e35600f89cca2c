#!/usr/bin/env bash
# Calls Duet's HTTP API with a signed request (docs/http-api.md):
#   DUET_APP_ID=N DUET_SECRET=S [DUET_URL=http://127.0.0.1:8080] scripts/duet-api.sh METHOD PATH [JSON]
# e.g. scripts/duet-api.sh GET /api/v1/rooms
#      scripts/duet-api.sh POST /api/v1/rooms/r1/messages '{"message":"hello"}'
set -euo pipefail
method=${1:?METHOD}
path=${2:?PATH}
body=${3:-}
app=${DUET_APP_ID:?set DUET_APP_ID}
secret=${DUET_SECRET:?set DUET_SECRET}
base=${DUET_URL:-http://127.0.0.1:8080}
ts=$(date +%s)
nonce=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
body_hash=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
sig=$(printf '%s\n%s\n%s\n%s\n%s\n%s' "$app" "$ts" "$nonce" "$method" "$path" "$body_hash" |
  openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')
args=(-sS -X "$method" "$base$path" -H 'content-type: application/json'
  -H "X-Duet-AppID: $app" -H "X-Duet-Timestamp: $ts" -H "X-Duet-Nonce: $nonce" -H "X-Duet-Signature: $sig")
[ -n "$body" ] && args+=(--data-binary "$body")
curl "${args[@]}"
echo
