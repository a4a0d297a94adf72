#!/usr/bin/env bash
# The figures the README's "Sizing" is built from, measured on this machine:
#   - RS256 signatures per second on one core (one per login, refresh or anonymous token);
#   - logins per second on one core: `tessera auth` with one hashing worker, under wrk;
#   - Redis bytes per live session, 10^4 sessions over 10^3 accounts in the store's layout.
#   bash scripts/sizing.sh     # needs: openssl, wrk, redis-server, python3, a release build
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TESSERA_BIN:-target/release/tessera}
PORT=${PORT:-7121}
REDIS_PORT=${REDIS_PORT:-6392}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --release
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

sign=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $(NF-1)}')
echo "RS256 signatures/s, one core: $sign"

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
for _ in $(seq 50); do redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
used() { redis-cli -p $REDIS_PORT info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
before=$(used)
python3 scripts/seed-sessions.py --accounts 1000 --per-account 10 sizing: |
  redis-cli -p $REDIS_PORT --pipe >/dev/null
after=$(used)
echo "Redis bytes per session (10^4 sessions, 10 per account): $(( (after - before) / 10000 ))"

export TESSERA_DATA_DIR="$WORK/data" TESSERA_LOG=warn TESSERA_HASH_CONCURRENCY=1
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=off
echo 'sizing-Passw0rd!x' | "$BIN" users create --username sizing --password-stdin >/dev/null
TESSERA_AUTH_LISTEN=127.0.0.1:$PORT TESSERA_KEY_SECRET=sizing-secret-of-at-least-32-characters \
  "$BIN" auth >"$WORK/auth.log" 2>&1 &
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
cat >"$WORK/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=sizing&password=sizing-Passw0rd%21x"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
out=$(wrk -t1 -c4 -d10s -s "$WORK/login.lua" http://127.0.0.1:$PORT/auth/token/)
if grep -q 'Non-2xx' <<<"$out"; then echo "$out"; echo "logins failed" >&2; exit 1; fi
echo "logins/s, one hashing worker (one core): $(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
