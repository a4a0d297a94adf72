#!/usr/bin/env bash
# Gateway interop: Debian's nginx, configured by examples/gateway/nginx.conf (rendered with this
# run's addresses, nothing else changed), in front of a live Tessera. Proves that nginx's
# auth_request against GET /auth/forward/ lets good tokens through with X-Auth-* identity
# headers the client cannot forge, and answers bad ones itself (401 with WWW-Authenticate, 403
# for anonymous writes) without them ever reaching the customer service. Also checks
# examples/gateway/envoy.yaml against Envoy's v3 API (validate_envoy.py; no Envoy binary).
#
# Environment (from tests/interop/run.sh): AUTH_URL, CUSTOMERS_URL, PYTHON, INTEROP_TMP.
# Installs nginx with apt-get when it is missing (root, or passwordless sudo), without starting
# Debian's nginx service; runs its own nginx as the current user on a free loopback port.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
EXAMPLE=$ROOT/examples/gateway/nginx.conf

say() { echo "gateway: $*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}

: "${AUTH_URL:?gateway: AUTH_URL is not set (run tests/interop/run.sh, which starts a server)}"
: "${CUSTOMERS_URL:?gateway: CUSTOMERS_URL is not set (run tests/interop/run.sh)}"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || fail "no python at '$PYTHON' (PYTHON)"
[ -f "$EXAMPLE" ] || fail "missing $EXAMPLE"

# ---- nginx -------------------------------------------------------------------------------

find_nginx() {
    command -v nginx 2>/dev/null && return 0
    [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx && return 0
    return 1
}

# Debian 12's package `nginx` is the server itself (with auth_request); nginx-light/-core/-full
# only add dynamic modules on top, and Debian 13 has only `nginx`. Its maintainer scripts would
# start the system service on port 80: a policy-rc.d answering 101 ("action forbidden") stops
# that, with sysvinit and with systemd (deb-systemd-invoke honours it too); one already there
# (Docker images ship one) is left alone.
install_nginx() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo -n true 2>/dev/null ||
            fail "nginx is not installed and $(id -un) cannot install it: run 'sudo apt-get install nginx' once, then retry"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null ||
        fail "nginx is not installed and there is no apt-get: install nginx (with the auth_request module) and put it on PATH"

    local started=$SECONDS made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        $sudo sh -c 'printf "#!/bin/sh\n# tessera interop: no service starts during this install\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        made_policy=1
    fi
    say "installing Debian's nginx (apt-get; takes 10-60 s)"
    local status=0
    {
        $sudo apt-get update -qq &&
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 --no-install-recommends nginx
    } >"$WORK/apt.log" 2>&1 || status=$?
    if [ -n "$made_policy" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
    if [ $status -ne 0 ]; then
        cat "$WORK/apt.log" >&2
        fail "apt-get install nginx failed (exit $status): see above; 'apt-get install nginx' by hand shows why"
    fi
    # Installed for this test only: not a boot-time service either.
    if [ -d /run/systemd/system ]; then $sudo systemctl disable --quiet nginx 2>/dev/null || true; fi
    say "nginx installed in $((SECONDS - started)) s"
}

# ---- scratch space and clean-up ----------------------------------------------------------

if [ -n "${INTEROP_TMP:-}" ]; then
    mkdir -p "$INTEROP_TMP"
    WORK=$(mktemp -d "$INTEROP_TMP/gateway.XXXXXX")
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-gateway.XXXXXX")
fi

PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ $status -ne 0 ]; then
        for log in "$WORK/nginx/logs/error.log" "$WORK/nginx/nginx.out" "$WORK/recorder.log"; do
            if [ -s "$log" ]; then
                say "---- $log"
                tail -n 40 "$log" >&2
            fi
        done
    fi
    [ -n "${INTEROP_TMP:-}" ] || rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NGINX=$(find_nginx) || {
    install_nginx
    NGINX=$(find_nginx) || fail "apt-get installed nginx but there is no nginx binary on PATH or in /usr/sbin"
}
"$NGINX" -V 2>&1 | grep -q -- '--with-http_auth_request_module' ||
    fail "$NGINX lacks the auth_request module (nginx -V): install Debian's nginx package"

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # URL PID WHAT
    local i
    for i in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || fail "$3 exited at start"
        if curl -s -o /dev/null --max-time 2 "$1"; then return 0; fi
        sleep 0.1
    done
    fail "$3 did not answer at $1 within 10 s"
}

# ---- the recording upstream --------------------------------------------------------------

# nginx's customers upstream is a small recording proxy in front of the real customer
# service: it keeps the X-Auth-* headers nginx sent and counts what got through.
RECORDER_PORT=$(free_port)
"$PYTHON" "$HERE/recorder.py" "127.0.0.1:$RECORDER_PORT" "$CUSTOMERS_URL" >"$WORK/recorder.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$RECORDER_PORT/__recorder__" "$!" "the recording proxy"

# ---- render the example and start nginx --------------------------------------------------

authority() { # http://host:port[/...] -> host:port
    local rest=${1#*://}
    echo "${rest%%/*}"
}

# Started as root, nginx's workers would switch to "nobody", who cannot enter the scratch dir.
GLOBALS="daemon off;"
[ "$(id -u)" -ne 0 ] || GLOBALS="$GLOBALS user $(id -un) $(id -gn);"

gateway() { # DIR LISTEN TESSERA_AUTH CUSTOMERS_UPSTREAM: render the example into DIR, start nginx
    local dir=$1
    mkdir -p "$dir/logs" "$dir/temp"
    LISTEN=$2 TESSERA_AUTH=$3 CUSTOMERS_UPSTREAM=$4 \
        "$PYTHON" - "$EXAMPLE" "$dir/nginx.conf" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
for name in ("LISTEN", "TESSERA_AUTH", "CUSTOMERS_UPSTREAM"):
    text = text.replace("${%s}" % name, os.environ[name])
left = sorted(set(re.findall(r"\$\{[A-Z_]+\}", text)))
if left:
    sys.exit("unknown placeholders in examples/gateway/nginx.conf: %s" % ", ".join(left))
open(sys.argv[2], "w").write(text)
PY
    local args=(-p "$dir/" -c "$dir/nginx.conf" -e logs/error.log -g "$GLOBALS")
    "$NGINX" -t -q "${args[@]}" >"$dir/nginx.out" 2>&1 ||
        fail "nginx -t rejects the rendered examples/gateway/nginx.conf: $(cat "$dir/nginx.out")"
    "$NGINX" "${args[@]}" >>"$dir/nginx.out" 2>&1 &
    PIDS+=($!)
    wait_http "http://$2/" "$!" "nginx ($NGINX, $dir)"
}

GATEWAY_PORT=$(free_port)
gateway "$WORK/nginx" "127.0.0.1:$GATEWAY_PORT" "$(authority "$AUTH_URL")" "127.0.0.1:$RECORDER_PORT"
say "$("$NGINX" -v 2>&1) on 127.0.0.1:$GATEWAY_PORT, auth at $(authority "$AUTH_URL"), customers via 127.0.0.1:$RECORDER_PORT"

# The same gateway with Tessera unreachable (a port nobody listens on): 503, nothing let through.
DOWN_PORT=$(free_port)
gateway "$WORK/nginx-down" "127.0.0.1:$DOWN_PORT" "127.0.0.1:$(free_port)" "127.0.0.1:$RECORDER_PORT"

# ---- a venv that validates examples/gateway/envoy.yaml -----------------------------------

# No Envoy binary on Debian: envoy.yaml is checked against Envoy's v3 API protos instead.
ENVOY_REQUIREMENTS=$HERE/envoy-requirements.txt
ENVOY_VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tessera-interop/envoy-venv-$(sha256sum "$ENVOY_REQUIREMENTS" | cut -c1-12)
if [ ! -e "$ENVOY_VENV/.complete" ]; then
    say "creating $ENVOY_VENV (once; xds-protos from PyPI)"
    rm -rf "$ENVOY_VENV"
    mkdir -p "$(dirname "$ENVOY_VENV")"
    { "$PYTHON" -m venv "$ENVOY_VENV" &&
        "$ENVOY_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ENVOY_REQUIREMENTS"; } \
        >"$WORK/envoy-venv.log" 2>&1 || {
        cat "$WORK/envoy-venv.log" >&2
        fail "could not install $ENVOY_REQUIREMENTS into $ENVOY_VENV (PyPI reachable?)"
    }
    touch "$ENVOY_VENV/.complete"
fi

# ---- the checks --------------------------------------------------------------------------

GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" DOWN_GATEWAY_URL="http://127.0.0.1:$DOWN_PORT" \
    RECORDER_URL="http://127.0.0.1:$RECORDER_PORT" ENVOY_PYTHON="$ENVOY_VENV/bin/python" \
    ENVOY_YAML="$ROOT/examples/gateway/envoy.yaml" "$PYTHON" "$HERE/check.py"
