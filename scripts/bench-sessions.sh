#!/usr/bin/env bash
# Session management at scale, sessions in Redis: 10^5 live sessions over 10^3 accounts, one
# of them holding 10^3. Measures GET /auth/sessions/ for that account (wrk, 4 connections) and
# POST /auth/logout-all/ ending its 10^3 sessions (100 times, re-seeded before each).
#   bash scripts/bench-sessions.sh     # needs: wrk, redis-server, python3, a release build
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TESSERA_BIN:-target/release/tessera}
PORT=${PORT:-7111}
REDIS_PORT=${REDIS_PORT:-6391}
PREFIX=bench:
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --release
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
export TESSERA_DATA_DIR="$WORK/data" TESSERA_REDIS_URL=redis://127.0.0.1:$REDIS_PORT TESSERA_REDIS_PREFIX=$PREFIX
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=off TESSERA_LOG=warn
echo 'bench-Passw0rd!x' | "$BIN" users create --username bench --role customer --password-stdin >/dev/null
TESSERA_AUTH_LISTEN=127.0.0.1:$PORT "$BIN" serve > "$WORK/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
ACCESS=$(curl -sf http://127.0.0.1:$PORT/auth/token/ -d username=bench -d 'password=bench-Passw0rd!x' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')

# Account 1 (bench) has its login's session and 999 more; 999 other accounts have 99 each.
python3 scripts/seed-sessions.py --accounts 1 --per-account 999 --first-account 1 $PREFIX | redis-cli -p $REDIS_PORT --pipe >/dev/null
python3 scripts/seed-sessions.py --accounts 999 --per-account 99 --first-account 2 $PREFIX | redis-cli -p $REDIS_PORT --pipe >/dev/null
echo "live sessions: $(redis-cli -p $REDIS_PORT --scan --pattern "$PREFIX*:f:*" | wc -l) in Redis"

listed=$(curl -sf http://127.0.0.1:$PORT/auth/sessions/ -H "Authorization: Bearer $ACCESS" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "GET /auth/sessions/ lists $listed sessions"
wrk -t1 -c4 -d10s --latency -H "Authorization: Bearer $ACCESS" http://127.0.0.1:$PORT/auth/sessions/ |
  awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{printf "GET /auth/sessions/ (10^3 sessions): %s req/s  p50 %s  p99 %s\n", rps, p50, p99}'

python3 - "$PORT" "$REDIS_PORT" "$ACCESS" "$PREFIX" <<'PY'
import http.client, subprocess, sys, time
port, redis_port, access, prefix = sys.argv[1:5]
seed = ["python3", "scripts/seed-sessions.py", "--accounts", "1", "--per-account", "1000", "--first-account", "1", prefix]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
def logout_all():
    conn.request("POST", "/auth/logout-all/?keep_current=true", headers={"Authorization": f"Bearer {access}"})
    response = conn.getresponse()
    return response.status, response.read()
logout_all()  # the listing's sessions: each timed call then ends exactly the 10^3 seeded before it
timings = []
for _ in range(100):
    subprocess.run(f"{' '.join(seed)} | redis-cli -p {redis_port} --pipe >/dev/null", shell=True, check=True)
    start = time.perf_counter()
    status, body = logout_all()
    timings.append((time.perf_counter() - start) * 1000)
    assert status == 200 and body == b'{"ended":1000}', body
timings.sort()
print("POST /auth/logout-all/ (ends 10^3 sessions): p50 %.2f ms  p99 %.2f ms  max %.2f ms" %
      (timings[49], timings[98], timings[-1]))
PY
