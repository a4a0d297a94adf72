#!/usr/bin/env bash
# The README's API tour, run as written: every bash block from "## API tour" up to "### Use from
# another service" (the token service's tour and the customer service's), in order, against a
# fresh `tessera serve` on SQLite in a temporary directory, with an admin account made by
# `tessera users create` as the README says.
#
#   bash examples/tour.sh [TESSERA_BIN]   (default: $TESSERA_BIN, else target/debug/tessera)
#
# The blocks are read from README.md itself, so the tour cannot drift from what runs here; only
# the two base URLs are pointed at this run's free ports. curl fails on an HTTP error status
# (--fail-with-body), so a step that answers 4xx or 5xx stops the tour with its answer.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-${TESSERA_BIN:-target/debug/tessera}}
[ -x "$BIN" ] || { echo "no tessera binary at $BIN: run cargo build, or pass its path" >&2; exit 1; }
BIN=$(realpath "$BIN")
# Settings from the caller's shell (a TESSERA_DATABASE_URL, say) must not reach this server.
for var in $(compgen -e | grep '^TESSERA_'); do unset "$var"; done

WORK=$(mktemp -d -t tessera-tour.XXXXXX)
SERVER_PID=
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ] && [ -s "$WORK/serve.log" ]; then
    echo "---- tessera serve log ----"; tail -n 40 "$WORK/serve.log"; echo "---- end of log ----"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r AUTH_PORT CUSTOMERS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
export TESSERA_DATA_DIR=$WORK/data
export TESSERA_AUTH_LISTEN=127.0.0.1:$AUTH_PORT
export TESSERA_CUSTOMERS_LISTEN=127.0.0.1:$CUSTOMERS_PORT

ADMIN_PASSWORD='Tour-admin-Passw0rd!'
echo "$ADMIN_PASSWORD" |
  "$BIN" users create --username root --email root@example.com --role admin --password-stdin \
    >"$WORK/create-admin.log" 2>&1 || { cat "$WORK/create-admin.log"; exit 1; }
"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 60); do
  curl -fsS -o /dev/null "http://$TESSERA_AUTH_LISTEN/readyz" 2>/dev/null &&
    curl -fsS -o /dev/null "http://$TESSERA_CUSTOMERS_LISTEN/readyz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "tessera serve exited before it was ready" >&2; exit 1; }
  sleep 0.5
done
curl -fsS -o /dev/null "http://$TESSERA_AUTH_LISTEN/readyz" ||
  { echo "tessera serve was not ready on $TESSERA_AUTH_LISTEN within 30 s" >&2; exit 1; }

TOUR=$WORK/tour.sh
awk '
  /^## API tour/ { inside = 1; next }
  /^### Use from another service/ { inside = 0 }
  inside && /^```bash$/ { block = 1; next }
  block && /^```$/ { block = 0; print ""; next }
  block { print }
' README.md |
  sed -e "s|^BASE=http://127.0.0.1:7001\$|BASE=http://$TESSERA_AUTH_LISTEN|" \
      -e "s|^C=http://127.0.0.1:7002\$|C=http://$TESSERA_CUSTOMERS_LISTEN|" >"$TOUR"
grep -q '^BASE=http://127.0.0.1:[0-9]' "$TOUR" && grep -q '^C=http://127.0.0.1:[0-9]' "$TOUR" ||
  { echo "README.md: the API tour's blocks or their BASE= and C= lines were not found" >&2; exit 1; }

# Each request is named on stderr (its URL) before its answer; an HTTP error stops the tour.
curl() {
  local arg url=
  for arg in "$@"; do case $arg in http://*) url=$arg ;; esac; done
  printf '\n>> %s\n' "${url:-curl $*}" >&2
  command curl --fail-with-body --show-error "$@"
}
# The README's `tessera ...` commands, on this run's data folder (TESSERA_DATA_DIR).
tessera() { "$BIN" "$@"; }
# shellcheck source=/dev/null
source "$TOUR"
echo
echo "tour: every command of the README's API tour ran, and every request answered 2xx"
