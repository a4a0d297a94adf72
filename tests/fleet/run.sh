#!/usr/bin/env bash
# A fleet on real engines: three `tessera auth` instances on one PostgreSQL database and one
# Redis Cluster of three masters and their replicas (scripts/redis-cluster.sh), driven through their public ports
# by tests/fleet/fleet.py (Python's standard library only):
#   - a 50-way concurrent refresh of one token, spread over the three, has exactly one winner,
#     and the reuse revokes the family everywhere;
#   - a login limit of 5/m per username is the fleet's: the sixth guess is 429 on every instance;
#   - a logout on one instance is seen by the others;
#   - `tessera keys rotate` reaches all three without a restart;
#   - with one Redis master killed, requests whose session lives on it are 503 with Retry-After
#     (never a 500) and the rest go on; once its replica has taken over, all recover without
#     a restart.
#
#   bash tests/fleet/run.sh [TESSERA_BIN]   (default: $TESSERA_BIN, else target/debug/tessera)
#
# Needs python3, curl, psql, redis-server and redis-cli, and PostgreSQL on 127.0.0.1:5432
# where user `postgres` may create databases.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-${TESSERA_BIN:-target/debug/tessera}}
[ -x "$BIN" ] || { echo "no tessera binary at $BIN: run cargo build, or pass its path" >&2; exit 1; }
BIN=$(realpath "$BIN")
for tool in python3 curl psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "fleet: $tool is needed" >&2; exit 1; }
done
for var in $(compgen -e | grep '^TESSERA_'); do unset "$var"; done

bash scripts/redis-cluster.sh start
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d -t tessera-fleet.XXXXXX)
PG_DB=tessera_fleet_${WORK##*.}
PG_DB=$(echo "$PG_DB" | tr '[:upper:]' '[:lower:]')
PIDS=()
cleanup() {
  local status=$? pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A master the script stopped is brought back for whoever uses the cluster next.
  bash scripts/redis-cluster.sh start >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ]; then
    for log in "$WORK"/auth-*.log; do echo "---- $log"; tail -n 30 "$log"; done
  fi
  psql -X -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || {
  echo "fleet: cannot create a database at $PG_ADMIN_URL; start PostgreSQL with" \
    "pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2; exit 1; }

read -r -a PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
export TESSERA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$PG_DB
export TESSERA_REDIS_URL=redis+cluster://127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
export TESSERA_REDIS_PREFIX="tessera-fleet-${WORK##*.}:"
TESSERA_KEY_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export TESSERA_KEY_SECRET
# One issuer for the fleet, as behind one load balancer.
export TESSERA_PUBLIC_URL=http://fleet.test
export TESSERA_KEY_RELOAD_INTERVAL=1s
export TESSERA_KEY_PREPUBLISH=0s
export TESSERA_REFRESH_REUSE_GRACE=0s
export TESSERA_REQUIRE_GST_NO=false
# Per username, shared through the cluster; the others off (the checks register many users).
export TESSERA_LOGIN_RATE_LIMIT=off TESSERA_LOGIN_USERNAME_RATE_LIMIT=5/m
export TESSERA_REGISTER_RATE_LIMIT=off TESSERA_ANONYMOUS_RATE_LIMIT=off
"$BIN" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; exit 1; }
URLS=()
for i in 0 1 2; do
  TESSERA_AUTH_LISTEN=127.0.0.1:${PORTS[$i]} "$BIN" auth >"$WORK/auth-$i.log" 2>&1 &
  PIDS+=($!)
  URLS+=("http://127.0.0.1:${PORTS[$i]}")
done
for url in "${URLS[@]}"; do
  for _ in $(seq 60); do curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && break; sleep 0.5; done
  curl -fsS -o /dev/null "$url/readyz" || { echo "fleet: $url is not ready" >&2; exit 1; }
done

export FLEET_URLS="${URLS[*]}" FLEET_BIN=$BIN
python3 tests/fleet/fleet.py
