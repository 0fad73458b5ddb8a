#!/usr/bin/env bash
# Business Console page times at scale: builds release, makes a temporary database with an
# admin and N made-up decisions (`facematch db seed`, default 100,000), starts `facematch
# serve`, signs in through the real form, then times R sequential GETs of each page
# (Manual Checks first page, a filtered page, a deep keyset page, the In Review queue, a
# decision page) with curl and prints p50/p95/max per page.
#
#   scripts/bench_console.sh                  # 100,000 decisions, 200 requests per page
#   scripts/bench_console.sh 10000 50         # N decisions, R requests per page
#   scripts/bench_console.sh --postgres       # the same on a throwaway PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."

POSTGRES=0
ARGS=()
for a in "$@"; do
    if [[ $a == --postgres ]]; then POSTGRES=1; else ARGS+=("$a"); fi
done
N=${ARGS[0]:-100000}
R=${ARGS[1]:-200}

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
source scripts/lib_pg.sh

cargo build --release --quiet -p facematch --bin facematch
BIN=${FACEMATCH_BIN:-target/release/facematch}

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    stop_server
    pg_stop
    rm -rf "$TMP"
}
trap cleanup EXIT

DB=$TMP/db
DB_ARGS=()
if [[ $POSTGRES == 1 ]]; then
    pg_start
    DB=$PG_URL
    head -c 32 /dev/urandom >"$TMP/webhook.key" && chmod 600 "$TMP/webhook.key"
    DB_ARGS=(--webhook-key-file "$TMP/webhook.key")
fi
EMAIL=bench@example.com
PASSWORD=bench-console-password
echo "$PASSWORD" | "$BIN" users create --email "$EMAIL" --role admin --password-stdin --database "$DB" 2>/dev/null
start=$(date +%s)
"$BIN" db seed --account "$EMAIL" --fake-decisions "$N" --database "$DB" >&2
echo "== seeded $N decisions in $(( $(date +%s) - start )) s" >&2

PORT=${BENCH_PORT:-$(first_free_port 18180 18280)}
URL=http://127.0.0.1:$PORT
"$BIN" serve --listen "127.0.0.1:$PORT" --database "$DB" "${DB_ARGS[@]}" --log warn \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_until_ready "$URL/health/live" "$TMP/server.log"

JAR=$TMP/jar
curl -s -c "$JAR" -b "$JAR" "$URL/console/sign-in" >"$TMP/signin.html"
CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$TMP/signin.html" | sed 's/.*value="//; s/"$//')
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$JAR" -b "$JAR" \
    --data-urlencode "csrf=$CSRF" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" "$URL/console/sign-in")
[[ $code == 303 ]] || { echo "sign-in failed: $code" >&2; exit 1; }

# A deep page: follow "Next page" 200 times (10,000 rows in), then time that page.
DEEP=/console/checks
for _ in $(seq 1 200); do
    next=$(curl -s -b "$JAR" "$URL$DEEP" | grep -o 'href="/console/checks?[^"]*" rel="next"' | head -1 \
        | sed 's/^href="//; s/" rel="next"$//; s/&amp;/\&/g')
    [[ -n $next ]] || break
    DEEP=$next
done
DECISION=$(curl -s -b "$JAR" "$URL/console/queue" | grep -o 'href="/console/checks/[0-9a-f-]*"' | head -1 \
    | sed 's/^href="//; s/"$//')

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "database: $([[ $POSTGRES == 1 ]] && echo PostgreSQL || echo SQLite); $N decisions; $R requests per page"
printf '%-28s %8s %8s %8s\n' page p50_ms p95_ms max_ms
for page in "/console/checks" "/console/checks?status=In+Review&score_min=40" \
    "/console/checks?vendor_data=user-123" "$DEEP" "/console/queue" "$DECISION"; do
    for _ in $(seq 1 "$R"); do
        curl -s -o /dev/null -b "$JAR" -w '%{http_code} %{time_total}\n' "$URL$page"
    done >"$TMP/times"
    if grep -qv '^200 ' "$TMP/times"; then
        echo "non-200 answers for $page:" >&2; sort "$TMP/times" | uniq -c | head >&2; exit 1
    fi
    label=$page
    [[ $page == "$DEEP" ]] && label="checks, page 201 (keyset)"
    [[ $page == "$DECISION" ]] && label="decision page"
    awk '{print $2 * 1000}' "$TMP/times" | sort -n | awk -v label="${label:0:28}" '
        { v[NR] = $1 }
        END { printf "%-28s %8.1f %8.1f %8.1f\n", label, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.95 + 0.5)], v[NR] }'
done
echo "== server peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$SERVER_PID/status")"
