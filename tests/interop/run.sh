#!/usr/bin/env bash
# Interop checks: code Tessera does not control (PyJWT, jose, clients generated from the
# committed OpenAPI documents, Django, a real gateway) against a live `tessera serve`.
#
#   tests/interop/run.sh [TESSERA_BIN]      (default: $TESSERA_BIN, else target/debug/tessera)
#
# Needs python3, node 20+ with npm, curl, Redis on 127.0.0.1:6379 and (for the Django checks)
# PostgreSQL on 127.0.0.1:5432, as `cargo test` does. Runs every check even after a failure,
# prints the server's log if anything failed, and exits non-zero then. Safe to run again:
# the Python venv and node_modules are reused while their pinned requirements are unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/interop
NODE_DIR=$HERE/node

TESSERA_BIN=${1:-${TESSERA_BIN:-target/debug/tessera}}
[ -x "$TESSERA_BIN" ] || { echo "no tessera binary at $TESSERA_BIN: run cargo build, or pass its path" >&2; exit 1; }
TESSERA_BIN=$(realpath "$TESSERA_BIN")
for tool in python3 node npm curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (needed by $0)" >&2; exit 1; }
done
# Settings from the caller's shell (a TESSERA_DATABASE_URL, say) must not reach the test server.
for var in $(compgen -e | grep '^TESSERA_' | grep -vx TESSERA_BIN); do unset "$var"; done

INTEROP_TMP=$(mktemp -d -t tessera-interop.XXXXXX)
SERVER_PID=
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ] && [ -s "$INTEROP_TMP/server.log" ]; then
    echo "---- tessera serve log ----"; cat "$INTEROP_TMP/server.log"; echo "---- end of log ----"
  fi
  rm -rf "$INTEROP_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT   # so that an interrupted run still stops the server
trap 'exit 143' TERM

# Python: one venv per content of the requirements files (and Python version), kept between
# runs. The stamp is written last, so a venv whose install broke off is made again.
REQ_SHA=$( (python3 --version; cat $HERE/requirements.txt $HERE/django/requirements.txt) | sha256sum | cut -c1-16)
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tessera-interop/venv-$REQ_SHA
if [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r $HERE/requirements.txt
  touch "$VENV/.complete"
fi
PYTHON=$VENV/bin/python

# Node: npm ci (exactly package-lock.json), skipped while the lock file is the one installed.
LOCK_SHA=$(sha256sum $NODE_DIR/package-lock.json | cut -d' ' -f1)
if [ "$(cat $NODE_DIR/node_modules/.lock-sha 2>/dev/null)" != "$LOCK_SHA" ]; then
  (cd $NODE_DIR && npm ci --no-audit --no-fund --loglevel=error)
  echo "$LOCK_SHA" >$NODE_DIR/node_modules/.lock-sha
fi

# A fresh server on free loopback ports (bound and released by the OS, so never in use),
# its own data dir and Redis prefix, and no rate limits: the checks log in many times.
read -r AUTH_PORT CUSTOMERS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
export TESSERA_BIN PYTHON INTEROP_TMP
export TESSERA_DATA_DIR=$INTEROP_TMP/data
TESSERA_INTROSPECTION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export TESSERA_INTROSPECTION_SECRET
export AUTH_URL=http://127.0.0.1:$AUTH_PORT
export CUSTOMERS_URL=http://127.0.0.1:$CUSTOMERS_PORT
export PG_URL=postgres://postgres@127.0.0.1:5432/postgres
TESSERA_AUTH_LISTEN=127.0.0.1:$AUTH_PORT \
TESSERA_CUSTOMERS_LISTEN=127.0.0.1:$CUSTOMERS_PORT \
TESSERA_REDIS_URL=redis://127.0.0.1:6379/0 \
TESSERA_REDIS_PREFIX="tessera-interop-${INTEROP_TMP##*.}:" \
TESSERA_LOGIN_RATE_LIMIT=off \
TESSERA_LOGIN_USERNAME_RATE_LIMIT=off \
TESSERA_REGISTER_RATE_LIMIT=off \
TESSERA_ANONYMOUS_RATE_LIMIT=off \
  "$TESSERA_BIN" serve >"$INTEROP_TMP/server.log" 2>&1 &
SERVER_PID=$!

ready() { curl -fsS -o /dev/null "$AUTH_URL/readyz" && curl -fsS -o /dev/null "$CUSTOMERS_URL/readyz"; }
for _ in $(seq 60); do
  ready 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || break   # exited: no use waiting
  sleep 1
done
ready || { echo "tessera serve is not ready on $AUTH_URL and $CUSTOMERS_URL; is Redis up?" \
  "(redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no)" >&2; exit 1; }

failed=()
check() {  # check NAME COMMAND...: run it, remember a failure, go on with the next check
  local start=$SECONDS
  echo "==== $1"
  if "${@:2}"; then echo "==== $1: ok ($((SECONDS - start))s)"; else echo "==== $1: FAILED"; failed+=("$1"); fi
}
typescript_client() {
  # Types regenerated from the committed documents every run, so a document change that
  # breaks client code fails tsc (strict) before the compiled test runs.
  rm -rf $NODE_DIR/generated $NODE_DIR/dist
  $NODE_DIR/node_modules/.bin/openapi-typescript openapi/auth.json -o $NODE_DIR/generated/auth.ts &&
    $NODE_DIR/node_modules/.bin/openapi-typescript openapi/customers.json -o $NODE_DIR/generated/customers.ts &&
    $NODE_DIR/node_modules/.bin/tsc -p $NODE_DIR/tsconfig.json &&
    node --test $NODE_DIR/dist/client.test.js
}

check "python: PyJWT, generated client, Django" "$PYTHON" -m pytest -q -p no:cacheprovider $HERE/python
check "node: jose" node --test $NODE_DIR/jwks.test.mjs
check "node: openapi-typescript + openapi-fetch" typescript_client
check "gateway" bash $HERE/gateway/run.sh

if [ ${#failed[@]} -gt 0 ]; then
  echo "interop: FAILED: ${failed[*]}"
  exit 1
fi
echo "interop: all checks passed"
