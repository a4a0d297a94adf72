#!/usr/bin/env bash
# The user-space instructions one request costs, counted by callgrind. Unlike req/s under wrk,
# which moves by a third between runs on a shared 2-core machine, the count repeats within
# about 3% whatever else the machine does: it tells whether a hot-path change saved work.
# It counts `tessera serve` answering N keep-alive GETs of REQUEST_PATH, less a run answering
# none (start-up, warm-up and shutdown cancel out), divided by N. The kernel's share (the
# socket calls, about half of a trivial request's CPU) is not counted.
#   bash scripts/bench-instructions.sh                       # GET /healthz, 2 000 requests
#   BIN=/tmp/old/tessera bash scripts/bench-instructions.sh  # another build, to compare
#   N=500 REQUEST_PATH=/.well-known/jwks.json bash scripts/bench-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/tessera}
N=${N:-2000}
REQUEST_PATH=${REQUEST_PATH:-/healthz}
PORT=${PORT:-7201}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
if [ ! -x "$BIN" ]; then
  [ "$BIN" = target/release/tessera ] || { echo "no executable $BIN" >&2; exit 1; }
  cargo build --release
fi
# Request logs on, as perf_vs_peer.sh runs Tessera: the closing line is part of a request.
export TESSERA_DATA_DIR=$WORK/data TESSERA_AUTH_LISTEN=127.0.0.1:$PORT \
  TESSERA_CUSTOMERS_LISTEN=127.0.0.1:$((PORT + 1)) TESSERA_LOG=${TESSERA_LOG:-info}

up() {
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0; sleep 0.2; done
  echo "tessera serve did not answer on :$PORT (its log: $WORK)" >&2
  exit 1
}

# A native start first makes the data folder and its keys: RSA key generation under valgrind
# takes minutes.
"$BIN" serve >"$WORK/first.log" 2>&1 &
up
kill -INT $! && wait $! || true

count() {  # $1 = requests after the warm-up; prints the run's total instructions
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$1" "$BIN" serve >"$WORK/valgrind.$1.log" 2>&1 &
  local server=$!
  up
  python3 - "$REQUEST_PATH" "$1" "$PORT" <<'PY'
import http.client, sys
path, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(200 + n):  # the first 200 settle caches and metrics series in both runs
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200, f"GET {path}: {answer.status}"
PY
  kill -INT "$server"
  wait "$server" || true
  callgrind_annotate "$WORK/callgrind.$1" | awk '/PROGRAM TOTALS/ && !seen++ { gsub(",", "", $1); print $1 }'
}

none=$(count 0)
some=$(count "$N")
python3 -c 'import sys; none, some, n = map(int, sys.argv[1:4]); print("GET %s: %.0f instructions a request (user space, %d requests)" % (sys.argv[4], (some - none) / n, n))' \
  "$none" "$some" "$N" "$REQUEST_PATH"
