#!/usr/bin/env bash
# The customer service under load at 32 concurrent clients: GET /customers/ (50 rows, bearer
# verified through the JWKS) against the same server's unauthenticated /healthz as the
# ceiling, and the token service's verify, forward-auth and introspection endpoints. Uses the
# shared wrk scripts and token minter (BENCH_DIR, default ../shared/bench), the same the Django
# peer was measured with.
#   bash scripts/bench-customers.sh          # needs: wrk, a release build
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-../shared/bench}
BIN=target/release/tessera
DUR=${DUR:-15}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --release
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
AUTH=http://127.0.0.1:7201 CUSTOMERS=http://127.0.0.1:7202
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=off
export TESSERA_INTROSPECTION_SECRET=bench-introspection-secret-0123456789abcdef
export TESSERA_DATA_DIR="$WORK/data" TESSERA_AUTH_LISTEN=127.0.0.1:7201 TESSERA_CUSTOMERS_LISTEN=127.0.0.1:7202 TESSERA_LOG=warn
"$BIN" serve > "$WORK/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf -o /dev/null $CUSTOMERS/readyz && break; sleep 0.1; done
echo 'bench-Passw0rd!x' | "$BIN" users create --username bench --role customer --password-stdin >/dev/null
python3 "$BENCH_DIR/tools/mint_tokens.py" --base $AUTH --path /auth/token/ -n 1 --user bench --password 'bench-Passw0rd!x' \
  --refresh-out "$WORK/r.txt" --access-out "$WORK/a.txt" >/dev/null
for i in $(seq 50); do
  curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$WORK/a.txt")" -H 'content-type: application/json' \
    -d "{\"name\":\"Customer $i\",\"mobile\":\"+9198$(printf %08d $i)\",\"customer_type\":\"retail\"}" $CUSTOMERS/customers/
done

run() {  # $1 = label, $2 = script, $3 = base URL; env configures the script
  WRK_THREADS=2 WRK_REPORT="$WORK/report.json" wrk -t2 -c32 -d${DUR}s --timeout 30s -s "$BENCH_DIR/wrk/$2" "$3" >/dev/null
  python3 -c "import json; d=json.load(open('$WORK/report.json')); print('%-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s' % ('$1', d['rps'], d['lat_ms']['p50'], d['lat_ms']['p99'], sum(d['errors'].values())))"
}
export ACCESS_TOKEN_FILE="$WORK/a.txt"
PING_PATH=/healthz run "customers GET /healthz (ceiling)" ping.lua $CUSTOMERS
PROTECTED_PATH='/customers/?page_size=50' run "customers GET /customers/ (50 rows)" protected_get.lua $CUSTOMERS
VERIFY_PATH=/auth/token/verify/ run "auth POST /auth/token/verify/" verify.lua $AUTH
PROTECTED_PATH=/auth/forward/ run "auth GET /auth/forward/" protected_get.lua $AUTH
INTROSPECT_TOKEN=$(cat "$WORK/a.txt") INTROSPECTION_SECRET=$TESSERA_INTROSPECTION_SECRET \
  wrk -t2 -c32 -d${DUR}s --timeout 30s -s scripts/introspect.lua $AUTH | tail -1
