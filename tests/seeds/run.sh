#!/usr/bin/env bash
# Each seed's own client against Tessera configured with that seed's block of the README's
# "Coming from simplejwt" settings (its aliases and error_format = "drf"): the proof that a
# client written for one of the five Django apps works with nothing changed but the base URL.
#
#   bash tests/seeds/run.sh [TESSERA_BIN]   (default: $TESSERA_BIN, else target/debug/tessera)
#
# The settings are read from README.md, so what the README tells an operator is what runs here.
# The clients (clients.py, standard library only) use only their seed's documented paths, body
# fields and encodings, and response fields.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-${TESSERA_BIN:-target/debug/tessera}}
[ -x "$BIN" ] || { echo "no tessera binary at $BIN: run cargo build, or pass its path" >&2; exit 1; }
BIN=$(realpath "$BIN")
for var in $(compgen -e | grep '^TESSERA_'); do unset "$var"; done

WORK=$(mktemp -d -t tessera-seeds.XXXXXX)
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
cleanup() {
  local status=$?
  stop_server
  if [ "$status" -ne 0 ] && [ -s "$WORK/serve.log" ]; then
    echo "---- tessera serve log ----"; tail -n 40 "$WORK/serve.log"; echo "---- end of log ----"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The README's block, one settings file per "# Seed NNN" comment.
awk -v dir="$WORK" '
  /^```toml$/ { fence = 1; next }
  fence && /^```$/ { fence = 0; file = ""; next }
  fence && /^# Seed [0-9][0-9][0-9]/ { file = dir "/seed" $3 ".toml" }
  fence && file { print > file }
' README.md
SEEDS=(000 001 002 003 004)
for seed in "${SEEDS[@]}"; do
  [ -s "$WORK/seed$seed.toml" ] || { echo "README.md: no settings block for seed $seed" >&2; exit 1; }
done

ready() {
  curl -fsS -o /dev/null "http://$TESSERA_AUTH_LISTEN/readyz" 2>/dev/null &&
    curl -fsS -o /dev/null "http://$TESSERA_CUSTOMERS_LISTEN/readyz" 2>/dev/null
}
# Starts `tessera serve` on two free ports; another process may take a port between our
# picking it and the server binding it, so a server that exits early is tried again.
start_server() {
  local attempt
  for attempt in 1 2 3; do
    read -r AUTH_PORT CUSTOMERS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
    export TESSERA_AUTH_LISTEN=127.0.0.1:$AUTH_PORT
    export TESSERA_CUSTOMERS_LISTEN=127.0.0.1:$CUSTOMERS_PORT
    "$BIN" serve >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 60); do
      ready && return 0
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.5
    done
    stop_server
    echo "tessera serve did not get ready (attempt $attempt):" >&2
    tail -n 5 "$WORK/serve.log" >&2
  done
  return 1
}

FAILED=()
for seed in "${SEEDS[@]}"; do
  echo "==== seed $seed"
  export TESSERA_CONFIG=$WORK/seed$seed.toml
  export TESSERA_DATA_DIR=$WORK/data$seed
  # The accounts a seed's README has its operator make (createsuperuser).
  ADMIN_PASSWORD='Seed-admin-Passw0rd!'
  echo "$ADMIN_PASSWORD" |
    "$BIN" users create --username admin --email admin@example.com --gst-no gst12345 \
      --role admin --password-stdin >"$WORK/create.log" 2>&1 || { cat "$WORK/create.log"; exit 1; }
  start_server || exit 1
  if python3 tests/seeds/clients.py "$seed" "http://$TESSERA_AUTH_LISTEN" \
      "http://$TESSERA_CUSTOMERS_LISTEN" admin "$ADMIN_PASSWORD"; then
    echo "==== seed $seed: ok"
  else
    echo "==== seed $seed: FAILED"; tail -n 20 "$WORK/serve.log"
    FAILED+=("$seed")
  fi
  stop_server
done
[ ${#FAILED[@]} -eq 0 ] || { echo "seed clients failed: ${FAILED[*]}" >&2; exit 1; }
echo "seeds: every seed's client ran its documented steps against Tessera"
