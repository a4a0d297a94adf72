# Shared by scripts/bench-refresh.sh, bench-redis-cluster.sh and bench-requests.sh (sourced,
# not run): a release build, wrk, the shared wrk scripts and token minter (BENCH_DIR, default
# ../shared/bench), and three steps: `serve LABEL [VAR=value ...]` starts `tessera serve` with
# a fresh data folder and a `bench` account, `measure LABEL` loads refresh at 32 clients, and
# `report` prints a load's figures with the server's CPU time per request.
# BIN=path/to/tessera (from the repository's root) measures another build; to compare two,
# run each in turn, several times: the machine drifts.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-../shared/bench}
BIN=${BIN:-target/release/tessera}
PORT=${PORT:-7101}
REDIS_PORT=${REDIS_PORT:-6390}
DUR=${DUR:-15}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
if [ ! -x "$BIN" ]; then
  [ "$BIN" = target/release/tessera ] || { echo "no executable $BIN" >&2; exit 1; }
  cargo build --release
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export BENCH_USER=bench BENCH_PASS='bench-Passw0rd!x'
# Minting logs in far faster than a person; the limits would only measure themselves.
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=off

serve() {  # $1 = label, rest = extra env
  local label=$1; shift
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  env TESSERA_DATA_DIR="$WORK/data" TESSERA_AUTH_LISTEN=127.0.0.1:$PORT TESSERA_LOG=warn "$@" "$BIN" serve > "$WORK/$label.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
  echo "$BENCH_PASS" | env TESSERA_DATA_DIR="$WORK/data" "$@" "$BIN" users create --username bench --role customer --password-stdin >/dev/null
}

measure() {  # $1 = label
  local before after
  python3 "$BENCH_DIR/tools/mint_tokens.py" --base http://127.0.0.1:$PORT --path /auth/token/ -n 96 --parallel 4 \
    --user "$BENCH_USER" --password "$BENCH_PASS" --refresh-out "$WORK/r.txt" --access-out "$WORK/a.txt" >/dev/null
  before=$(awk '{print $14 + $15}' /proc/$SERVER/stat)
  REFRESH_PATH=/auth/token/refresh/ REFRESH_TOKENS_FILE="$WORK/r.txt" WRK_THREADS=2 WRK_REPORT="$WORK/$1.json" WRK_SCENARIO="$1" \
    wrk -t2 -c32 -d${DUR}s --timeout 30s -s "$BENCH_DIR/wrk/refresh.lua" http://127.0.0.1:$PORT >/dev/null
  after=$(awk '{print $14 + $15}' /proc/$SERVER/stat)
  report "$WORK/$1.json" "$1" $((after - before))
}

report() {  # $1 = wrk's JSON report, $2 = label, $3 = the server's CPU ticks during the load
  python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report, label, ticks, hz = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
done = report["rps"] * report["duration_s"]
print("%-28s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %7.1f us/request  errors %s" % (
    label, report["rps"], report["lat_ms"]["p50"], report["lat_ms"]["p99"], 1e6 * ticks / hz / max(done, 1),
    sum(report["errors"].values())))
PY
}
