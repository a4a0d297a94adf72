#!/usr/bin/env bash
# Refresh through one instance, sessions on one Redis server vs on the Redis Cluster of
# scripts/redis-cluster.sh (three masters, three replicas, all on this machine): the same wrk
# command, rotation on, 32 clients. Uses the shared wrk scripts and token minter (BENCH_DIR,
# default ../shared/bench).
#   bash scripts/bench-redis-cluster.sh        # needs: wrk, redis-server, a release build
# shellcheck source=scripts/bench-refresh-lib.sh
source "$(dirname "$0")/bench-refresh-lib.sh"
bash scripts/redis-cluster.sh start >/dev/null
PREFIX="TESSERA_REDIS_PREFIX=bench-${WORK##*.}:"

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
for run in 1 2; do
  serve single TESSERA_REDIS_URL=redis://127.0.0.1:$REDIS_PORT "$PREFIX"
  measure "refresh, one Redis ($run)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  serve cluster TESSERA_REDIS_URL=redis+cluster://127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403 "$PREFIX"
  measure "refresh, Redis Cluster ($run)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
