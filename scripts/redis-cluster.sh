#!/usr/bin/env bash
# A real Redis Cluster on 127.0.0.1, three masters with a replica each, for the tests and the
# fleet script:
#
#   bash scripts/redis-cluster.sh start          (idempotent: a healthy cluster is left alone)
#   bash scripts/redis-cluster.sh stop
#   bash scripts/redis-cluster.sh masters        (the masters' ports, one per line)
#   bash scripts/redis-cluster.sh kill PORT      (stop one node, as a crash would)
#   bash scripts/redis-cluster.sh revive PORT    (start it again on its own node file: a former
#                                                 master rejoins as its successor's replica)
#
# Ports: REDIS_CLUSTER_PORTS (default 7401-7406; `redis-cli --cluster create` makes the first
# three masters); data under ${XDG_RUNTIME_DIR:-/tmp}/tessera-redis-cluster. Nothing is
# persisted but each node's cluster file. A dead master's replica takes over after
# cluster-node-timeout (2 s); meanwhile the other masters keep serving their own slots
# (cluster-require-full-coverage no).
set -euo pipefail
PORTS=${REDIS_CLUSTER_PORTS:-7401 7402 7403 7404 7405 7406}
ROOT=${XDG_RUNTIME_DIR:-/tmp}/tessera-redis-cluster
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  { echo "redis-cluster: redis-server and redis-cli are needed (apt-get install redis-server)" >&2; exit 1; }

up() { redis-cli -h 127.0.0.1 -p "$1" ping >/dev/null 2>&1; }

start_node() {
  local port=$1 dir=$ROOT/$1
  up "$port" && return 0
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-require-full-coverage no \
    --save "" --appendonly no --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
  for _ in $(seq 50); do up "$port" && return 0; sleep 0.1; done
  echo "redis-cluster: node $port did not start (see $dir/redis.log)" >&2
  return 1
}

healthy() {
  local port
  for port in $PORTS; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

case ${1:-start} in
  start)
    for port in $PORTS; do start_node "$port"; done
    if ! healthy; then
      first=${PORTS%% *}
      known=$(redis-cli -h 127.0.0.1 -p "$first" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')
      if [ "${known:-1}" -le 1 ]; then
        # shellcheck disable=SC2046
        redis-cli --cluster create $(for port in $PORTS; do printf '127.0.0.1:%s ' "$port"; done) \
          --cluster-replicas 1 --cluster-yes >"$ROOT/create.log" 2>&1 ||
          { cat "$ROOT/create.log" >&2; exit 1; }
      fi
      for _ in $(seq 100); do healthy && break; sleep 0.1; done
      if ! healthy && [ "${REDIS_CLUSTER_RETRY:-1}" = 1 ]; then
        # Half made (a create cut short, nodes from another layout): start again from nothing.
        echo "redis-cluster: the cluster on $PORTS is not ok; making it again" >&2
        bash "$0" stop
        REDIS_CLUSTER_RETRY=0 exec bash "$0" start
      fi
      healthy || { echo "redis-cluster: the cluster on $PORTS is not ok" >&2; exit 1; }
    fi
    echo "redis-cluster: ok on $PORTS"
    ;;
  stop)
    for port in $PORTS; do redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$ROOT"
    ;;
  masters)
    for port in $PORTS; do
      if redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -n 1 | grep -qx master; then
        echo "$port"
      fi
    done
    ;;
  kill)
    redis-cli -h 127.0.0.1 -p "$2" shutdown nosave >/dev/null 2>&1 || true
    ;;
  revive)
    start_node "$2"
    for _ in $(seq 100); do healthy && break; sleep 0.1; done
    healthy || { echo "redis-cluster: not ok after reviving $2" >&2; exit 1; }
    ;;
  *)
    echo "usage: $0 start|stop|masters|kill PORT|revive PORT" >&2; exit 2 ;;
esac
