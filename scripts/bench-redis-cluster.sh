#!/usr/bin/env bash
# Refresh through one instance, sessions on one Redis server vs on the Redis Cluster of
# scripts/redis-cluster.sh (three masters, three replicas, all on this machine): the same wrk
# command, rotation on, 32 clients. Uses the shared wrk scripts and token minter (BENCH_DIR,
# default ../shared/bench).
#   bash scripts/bench-redis-cluster.sh        # needs: wrk, redis-server, a release build
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-../shared/bench}
BIN=target/release/tessera
PORT=${PORT:-7101}
REDIS_PORT=${REDIS_PORT:-6390}
DUR=${DUR:-15}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --release
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bash scripts/redis-cluster.sh start >/dev/null
export BENCH_USER=bench BENCH_PASS='bench-Passw0rd!x'
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=off

serve() {  # $1 = label, $2 = redis_url
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  TESSERA_DATA_DIR="$WORK/data" TESSERA_AUTH_LISTEN=127.0.0.1:$PORT TESSERA_LOG=warn \
    TESSERA_REDIS_URL=$2 TESSERA_REDIS_PREFIX="bench-${WORK##*.}:" "$BIN" serve > "$WORK/$1.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
  echo "$BENCH_PASS" | TESSERA_DATA_DIR="$WORK/data" "$BIN" users create --username bench --role customer --password-stdin >/dev/null
}

measure() {  # $1 = label
  python3 "$BENCH_DIR/tools/mint_tokens.py" --base http://127.0.0.1:$PORT --path /auth/token/ -n 96 --parallel 4 \
    --user "$BENCH_USER" --password "$BENCH_PASS" --refresh-out "$WORK/r.txt" --access-out "$WORK/a.txt" >/dev/null
  REFRESH_PATH=/auth/token/refresh/ REFRESH_TOKENS_FILE="$WORK/r.txt" WRK_THREADS=2 WRK_REPORT="$WORK/$1.json" WRK_SCENARIO="$1" \
    wrk -t2 -c32 -d${DUR}s --timeout 30s -s "$BENCH_DIR/wrk/refresh.lua" http://127.0.0.1:$PORT >/dev/null
  python3 -c "import json; d=json.load(open('$WORK/$1.json')); print('%-28s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s' % ('$1', d['rps'], d['lat_ms']['p50'], d['lat_ms']['p99'], sum(d['errors'].values())))"
}

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
for run in 1 2; do
  serve single redis://127.0.0.1:$REDIS_PORT
  measure "refresh, one Redis ($run)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  serve cluster redis+cluster://127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
  measure "refresh, Redis Cluster ($run)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
