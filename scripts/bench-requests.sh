#!/usr/bin/env bash
# The other rows of the README's performance table on Tessera alone: GET /healthz, POST
# verify and POST login at 32 clients, each with the server's CPU time per request (what the
# ratios to the peer come down to), and GET on examples/http_ceiling.rs (hyper alone, no
# routing, middleware or logs): the machine's ceiling for a trivial request. Uses the shared
# wrk scripts and token minter (BENCH_DIR, default ../shared/bench) and a release build.
#   bash scripts/bench-requests.sh
#   TESSERA_LOG=info,tessera::http::request_log=warn bash scripts/bench-requests.sh  # no request logs
# shellcheck source=scripts/bench-refresh-lib.sh
source "$(dirname "$0")/bench-refresh-lib.sh"

load() {  # $1 = scenario (a wrk script), $2 = label, $3 = port (default Tessera's)
  local before after
  before=$(awk '{print $14 + $15}' /proc/$SERVER/stat)
  WRK_THREADS=2 WRK_REPORT="$WORK/$1.json" PING_PATH=/healthz VERIFY_PATH=/auth/token/verify/ LOGIN_PATH=/auth/token/ \
    ACCESS_TOKEN_FILE="$WORK/a.txt" wrk -t2 -c32 -d${DUR}s --timeout 30s -s "$BENCH_DIR/wrk/$1.lua" "http://127.0.0.1:${3:-$PORT}" >/dev/null 2>&1
  after=$(awk '{print $14 + $15}' /proc/$SERVER/stat)
  report "$WORK/$1.json" "$2" $((after - before))
}

# As perf_vs_peer.sh runs it: request logs on, unless TESSERA_LOG says otherwise.
serve requests TESSERA_LOG="${TESSERA_LOG:-info}"
python3 "$BENCH_DIR/tools/mint_tokens.py" --base http://127.0.0.1:$PORT --path /auth/token/ -n 1 \
  --user "$BENCH_USER" --password "$BENCH_PASS" --access-out "$WORK/a.txt" >/dev/null
load ping "GET /healthz"
mv "$WORK/ping.json" "$WORK/healthz.json"
load verify "POST verify"
load login "POST login"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
cargo build --release --example http_ceiling --quiet
CEILING_PORT=$((PORT + 98))
target/release/examples/http_ceiling 127.0.0.1:$CEILING_PORT &
SERVER=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$CEILING_PORT/ && break; sleep 0.1; done
curl -sf -o /dev/null http://127.0.0.1:$CEILING_PORT/ || { echo "http_ceiling did not answer on :$CEILING_PORT" >&2; exit 1; }
load ping "GET, hyper alone" $CEILING_PORT
python3 -c 'import json, sys; rps = lambda f: json.load(open(f))["rps"]; print("GET /healthz answers %.0f%% of what hyper alone does" % (100 * rps(sys.argv[1]) / rps(sys.argv[2])))' \
  "$WORK/healthz.json" "$WORK/ping.json"
echo "machine: $(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $(NF-1)}') RS256 signs/s per core; argon2id: cargo bench --bench password_hash"
