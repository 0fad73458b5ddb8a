#!/usr/bin/env bash
# HTTP load benchmark of `facematch serve` on loopback: builds release, starts a server
# on a temporary database with a fresh key, runs the `load` example (facematch-lab)
# with two ~1 MP JPEGs of the same person, then stops the server (SIGTERM) and prints
# its peak RSS.
#
#   scripts/bench_load.sh                 # 200 requests at concurrency 1,2,4,8
#   scripts/bench_load.sh --quick         # a few requests (smoke test, e.g. for CI)
#   scripts/bench_load.sh -- --requests 50 --concurrency 4   # extra args to `load`
#
# Environment: FACEMATCH_WORKERS / FACEMATCH_QUEUE pass through to the server;
# BENCH_PORT picks the port (default: the first free one from 18080).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
POSTGRES=0
LOAD_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --postgres) POSTGRES=1; shift ;;
        --) shift; LOAD_ARGS+=("$@"); break ;;
        *) echo "usage: $0 [--quick] [--postgres] [-- LOAD_ARGS...]" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
source scripts/lib_pg.sh
require_photos

echo "== building (release)" >&2
# Two commands: with `--example`, a `-p facematch` in the same command would build only
# its library, not the binary this script runs.
cargo build --release --quiet -p facematch --bin facematch
cargo build --release --quiet -p facematch-lab --example load
# FACEMATCH_BIN runs another build of the server (e.g. the one before a change) under the same load tool.
BIN=${FACEMATCH_BIN:-target/release/facematch}
LOAD=target/release/examples/load

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    stop_server
    pg_stop
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT=${BENCH_PORT:-$(first_free_port 18080 18180)}
URL=http://127.0.0.1:$PORT

# --postgres: the same run on a throwaway PostgreSQL cluster on this machine instead of the
# embedded SQLite file (the database's share of a request).
DB=$TMP/db
DB_ARGS=()
if [[ $POSTGRES == 1 ]]; then
    pg_start
    DB=$PG_URL
    head -c 32 /dev/urandom >"$TMP/webhook.key" && chmod 600 "$TMP/webhook.key"
    DB_ARGS=(--webhook-key-file "$TMP/webhook.key")
fi
echo "== database: $DB" >&2

KEY=$("$BIN" keys create --credits 100000 --name bench-load --database "$DB")

echo "== starting facematch serve on $URL (log: server.log in $TMP)" >&2
"$BIN" serve --listen "127.0.0.1:$PORT" --database "$DB" "${DB_ARGS[@]}" --log warn \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Ready when /health answers 200 (models loaded).
wait_until_ready "$URL/health" "$TMP/server.log"

if [[ $QUICK == 1 ]]; then
    DEFAULTS=(--requests 8 --concurrency 1,2 --warmup 1 --max-secs 60)
else
    DEFAULTS=(--requests 200 --concurrency 1,2,4,8 --warmup 4 --max-secs 120)
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo);" \
    "workers ${FACEMATCH_WORKERS:-default (cores)}, queue ${FACEMATCH_QUEUE:-default (2 x workers)}"
echo "== $LOAD --url $URL --key *** --user $USER_IMG --ref $REF_IMG ${DEFAULTS[*]} ${LOAD_ARGS[*]:-}"
status=0
FACEMATCH_KEY=$KEY "$LOAD" --url "$URL" --user "$USER_IMG" --ref "$REF_IMG" \
    --server-pid "$SERVER_PID" "${DEFAULTS[@]}" "${LOAD_ARGS[@]}" || status=$?

if [[ $POSTGRES == 1 ]]; then
    # Statements the server sent per face match (pg_stat_statements counts every statement,
    # BEGIN and COMMIT included; each is one round trip with the prepared-statement cache).
    STATS=$(pg_psql -A -t -F ' ' -c "SELECT (SELECT sum(calls) FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'facematch')),
        (SELECT 100000 - credits FROM api_keys)" facematch)
    read -r CALLS MATCHES <<<"$STATS"
    echo "== PostgreSQL: $CALLS statements for $MATCHES face matches" \
        "($(awk -v c="$CALLS" -v m="$MATCHES" 'BEGIN {printf "%.1f", c / m}') per match, health checks included)"
fi

# Peak RSS before stopping (VmHWM: the high-water mark of resident memory).
HWM=$(awk '/VmHWM/ {print $2, $3}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")
RSS=$(awk '/VmRSS/ {print $2, $3}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")
echo "== server peak RSS (VmHWM): $HWM (VmRSS now: $RSS)"

kill -TERM "$SERVER_PID"
if ! wait "$SERVER_PID"; then
    echo "server exited with an error:" >&2; tail -20 "$TMP/server.log" >&2; status=1
fi
SERVER_PID=
if grep -qiE 'panick|internal error' "$TMP/server.log"; then
    echo "server log has errors:" >&2; grep -iE 'panick|internal error' "$TMP/server.log" | head >&2
    status=1
fi
exit "$status"
