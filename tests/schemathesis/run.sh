#!/usr/bin/env bash
# Fuzzes the live OpenAPI documents of both services with schemathesis, against a fresh
# `tessera serve` on SQLite and then on PostgreSQL: the token service with an admin's token,
# the customer service with a registered customer's.
#
#   tests/schemathesis/run.sh [TESSERA_BIN]   (default: $TESSERA_BIN, else target/debug/tessera)
#
# Checks: not_a_server_error, status_code_conformance, response_schema_conformance and
# content_type_conformance. Seeded and bounded: the token service is fuzzed with seed ST_SEED
# (default 5) and the customer service with ST_SEED+1, on both databases alike: a service's two
# runs send much the same requests, so a failure on one database only is a difference between
# them. ST_MAX_EXAMPLES (default 300 cases per operation and phase) bounds the run, ST_WORKERS
# (default 1) is its concurrency. About 3 minutes on 2 cores, warm. Other seeds find other
# cases: a clean run is no proof.
#
# Needs python3, curl, psql and PostgreSQL on 127.0.0.1:5432 where user `postgres` may create
# databases (TESSERA_TEST_DATABASE_URL points elsewhere, as for `cargo test`); each run makes a
# database of its own and drops it. Refresh sessions stay in the SQL database: no Redis. Runs
# all four fuzzing runs even after a failure, prints a summary and the servers' errors, and
# exits non-zero then. The Python venv is reused while requirements.txt is unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=tests/schemathesis

TESSERA_BIN=${1:-${TESSERA_BIN:-target/debug/tessera}}
[ -x "$TESSERA_BIN" ] || { echo "no tessera binary at $TESSERA_BIN: run cargo build, or pass its path" >&2; exit 1; }
TESSERA_BIN=$(realpath "$TESSERA_BIN")
for tool in python3 curl psql; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (needed by $0)" >&2; exit 1; }
done
PG_ADMIN_URL=${TESSERA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# Settings from the caller's shell (a TESSERA_DATABASE_URL, say) must not reach the test server.
for var in $(compgen -e | grep '^TESSERA_'); do unset "$var"; done

SEED=${ST_SEED:-5}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-300}
# One worker: schemathesis is CPU-bound under the GIL, so a second is no faster here, and on
# Python 3.11 concurrent workers now and then die in hypothesis with "AST constructor recursion
# depth mismatch" (CPython's ast.parse is not thread-safe there).
WORKERS=${ST_WORKERS:-1}
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance

FUZZ_TMP=$(mktemp -d -t tessera-schemathesis.XXXXXX)
SERVER_PID=
PG_DB=
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then
    psql -X -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "could not drop the PostgreSQL database $PG_DB" >&2
  fi
  if [ "$status" -ne 0 ]; then
    local log
    for log in "$FUZZ_TMP"/*/server.log; do
      [ -s "$log" ] || continue
      # A fuzzed server logs every one of thousands of requests: show its errors and warnings
      # (the causes of 500s), and the whole log only when it never got that far.
      echo "---- tessera serve log ($(basename "$(dirname "$log")")) ----"
      local requests errors
      requests=$(grep -c 'request done' "$log" || true)
      errors=$(grep -cE ' (ERROR|WARN) ' "$log" || true)
      if [ "$requests" -gt 100 ]; then
        echo "($requests requests, $errors ERROR/WARN lines; up to 60 of them follow)"
        grep -E ' (ERROR|WARN) ' "$log" | head -n 60 || true
      else
        cat "$log"
      fi
      echo "---- end of log ----"
    done
  fi
  rm -rf "$FUZZ_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT   # so that an interrupted run still stops the server and drops its database
trap 'exit 143' TERM

# Python: one venv per content of the requirements file (and Python version), kept between
# runs. The stamp is written last, so a venv whose install broke off is made again.
REQ_SHA=$( (python3 --version; cat $HERE/requirements.txt) | sha256sum | cut -c1-16)
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tessera-schemathesis/venv-$REQ_SHA
if [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r $HERE/requirements.txt
  touch "$VENV/.complete"
fi
PYTHON=$VENV/bin/python
export PYTHONDONTWRITEBYTECODE=1

SERVER_ENV=()
start_server() {  # start_server NAME [SETTING=VALUE...]: tessera serve on free loopback ports
  local dir=$FUZZ_TMP/$1
  shift
  mkdir -p "$dir"
  local auth_port customers_port
  read -r auth_port customers_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
  AUTH_URL=http://127.0.0.1:$auth_port
  CUSTOMERS_URL=http://127.0.0.1:$customers_port
  # No rate limits (the fuzzer logs in and registers thousands of times) and access tokens
  # that outlive the run.
  SERVER_ENV=(
    TESSERA_DATA_DIR="$dir/data"
    TESSERA_AUTH_LISTEN="127.0.0.1:$auth_port"
    TESSERA_CUSTOMERS_LISTEN="127.0.0.1:$customers_port"
    TESSERA_LOGIN_RATE_LIMIT=off
    TESSERA_LOGIN_USERNAME_RATE_LIMIT=off
    TESSERA_REGISTER_RATE_LIMIT=off
    TESSERA_ANONYMOUS_RATE_LIMIT=off
    TESSERA_ACCESS_TOKEN_LIFETIME=1h
    "$@"
  )
  env "${SERVER_ENV[@]}" "$TESSERA_BIN" serve >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  ready() { curl -fsS -o /dev/null "$AUTH_URL/readyz" && curl -fsS -o /dev/null "$CUSTOMERS_URL/readyz"; }
  for _ in $(seq 60); do
    ready 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || break   # exited: no use waiting
    sleep 1
  done
  ready || { echo "tessera serve is not ready on $AUTH_URL and $CUSTOMERS_URL" >&2; exit 1; }
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

RUNS=()   # LABEL=REPORT_DIR, for the summary
fuzz() {  # fuzz LABEL BASE_URL BEARER_TOKEN SEED: one schemathesis run, its failures remembered
  local label=$1 url=$2 token=$3 seed=$4 report=$FUZZ_TMP/reports/${#RUNS[@]} excludes start=$SECONDS
  RUNS+=("$label=$report")
  mapfile -t excludes < <("$PYTHON" $HERE/helper.py excludes "$url/openapi.json")
  echo "==== schemathesis: $label ($url/openapi.json, seed $seed)"
  # From the temporary directory: schemathesis and hypothesis keep state in the working one.
  if (cd "$FUZZ_TMP" && "$VENV/bin/st" --config-file "$ROOT/$HERE/schemathesis.toml" run "$url/openapi.json" \
      --checks "$CHECKS" --seed "$seed" --max-examples "$MAX_EXAMPLES" --workers "$WORKERS" \
      --header "Authorization: Bearer $token" "${excludes[@]}" \
      --generation-database none --request-timeout 10 --no-color \
      --report json --report-dir "$report"); then
    echo "==== schemathesis: $label: ok ($((SECONDS - start))s)"
  else
    echo "==== schemathesis: $label: FAILED ($((SECONDS - start))s)"
  fi
}

fuzz_backend() {  # fuzz_backend NAME [SETTING=VALUE...]: a server on that database, both services fuzzed
  local name=$1 tokens
  start_server "$@"
  # An admin made the way an operator would, a customer account registered through the API,
  # and a few customers for the customer service's {id} operations to find.
  FUZZ_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  export FUZZ_ADMIN_PASSWORD
  printf '%s\n' "$FUZZ_ADMIN_PASSWORD" |
    env "${SERVER_ENV[@]}" "$TESSERA_BIN" users create --username fuzz-admin \
      --email fuzz-admin@example.com --role admin --password-stdin >"$FUZZ_TMP/$name/users.log" 2>&1 ||
    { cat "$FUZZ_TMP/$name/users.log" >&2; exit 1; }
  mapfile -t tokens < <("$PYTHON" $HERE/helper.py setup "$AUTH_URL" "$CUSTOMERS_URL" fuzz-admin)
  [ "${#tokens[@]}" -eq 2 ] || { echo "could not register the customer account or log in" >&2; exit 1; }
  fuzz "$name: auth (admin token)" "$AUTH_URL" "${tokens[0]}" "$SEED"
  fuzz "$name: customers (customer token)" "$CUSTOMERS_URL" "${tokens[1]}" "$((SEED + 1))"
  stop_server
}

echo "schemathesis: seeds $SEED (auth) and $((SEED + 1)) (customers), at most $MAX_EXAMPLES examples per operation, $WORKERS workers, $TESSERA_BIN"

fuzz_backend sqlite

PG_DB=tessera_st_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:16])')
psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || {
  echo "cannot create a database at $PG_ADMIN_URL; is PostgreSQL up?" \
    "(pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2
  exit 1
}
PG_URL=${PG_ADMIN_URL%/*}/$PG_DB
# Both services on the one database (their migration tables are separate).
fuzz_backend postgres TESSERA_DATABASE_URL="$PG_URL" TESSERA_CUSTOMERS_DATABASE_URL="$PG_URL"

echo "==== summary"
"$PYTHON" $HERE/helper.py summary "${RUNS[@]}"
