#!/usr/bin/env bash
# Refresh throughput and latency with rotation on, on the SQL store (SQLite) and on Redis, at
# 32 concurrent clients; then Redis with 10^3 and 10^6 live sessions, and Redis memory per
# session. Uses the shared wrk scripts and token minter (BENCH_DIR, default ../shared/bench).
#   bash scripts/bench-refresh.sh            # needs: wrk, redis-server, a release build
# shellcheck source=scripts/bench-refresh-lib.sh
source "$(dirname "$0")/bench-refresh-lib.sh"

serve sqlite
measure "refresh sqlite"
kill $SERVER; wait $SERVER 2>/dev/null || true

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
serve redis TESSERA_REDIS_URL=redis://127.0.0.1:$REDIS_PORT TESSERA_REDIS_PREFIX=tessera:
measure "refresh redis, 10^3 sessions" >/dev/null   # warm-up
redis-cli -p $REDIS_PORT flushall >/dev/null
python3 scripts/seed-sessions.py 1000 | redis-cli -p $REDIS_PORT --pipe >/dev/null
measure "refresh redis, 10^3 sessions"
before=$(redis-cli -p $REDIS_PORT info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
keys_before=$(redis-cli -p $REDIS_PORT dbsize)
python3 scripts/seed-sessions.py 999000 | redis-cli -p $REDIS_PORT --pipe >/dev/null
after=$(redis-cli -p $REDIS_PORT info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
keys_after=$(redis-cli -p $REDIS_PORT dbsize)
measure "refresh redis, 10^6 sessions"
echo "redis memory per live session: $(( (after - before) / (keys_after - keys_before) )) bytes ($keys_after keys)"
