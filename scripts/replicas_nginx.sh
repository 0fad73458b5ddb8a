#!/usr/bin/env bash
# Two facematch replicas on one PostgreSQL behind nginx, run for real on this machine: the
# set-up docs/deployment.md describes. Sends face matches through nginx, shows that both
# replicas serve them, kills one replica with SIGKILL, and shows that nginx keeps every
# request answered by the other. Needs nginx (Debian: nginx-light) and postgresql.
#
#   scripts/replicas_nginx.sh [REQUESTS]      (default 20 per phase)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source scripts/lib_pg.sh
require_photos
command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx-light)" >&2; exit 1; }
N=${1:-20}

cargo build --release --quiet -p facematch
BIN=${FACEMATCH_BIN:-target/release/facematch}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    if [[ ${STATUS:-1} != 0 ]]; then
        for f in "$TMP"/nginx-error.log "$TMP"/replica-*.log; do
            [[ -f $f ]] && { echo "--- $f" >&2; tail -5 "$f" >&2; }
        done
    fi
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [[ -f $TMP/nginx.pid ]] && kill -QUIT "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    pg_stop
    rm -rf "$TMP"
}
trap cleanup EXIT

pg_start
echo "== PostgreSQL on 127.0.0.1:$PG_PORT"
"$BIN" db migrate --database "$PG_URL"
head -c 32 /dev/urandom >"$TMP/webhook.key" && chmod 600 "$TMP/webhook.key"
KEY=$("$BIN" keys create --credits 100000 --name replicas --database "$PG_URL")

P1=$(first_free_port 18200 18299)
P2=$(first_free_port $((P1 + 1)) 18299)
PN=$(first_free_port $((P2 + 1)) 18299)
for port in "$P1" "$P2"; do
    "$BIN" serve --listen "127.0.0.1:$port" --database "$PG_URL" --webhook-key-file "$TMP/webhook.key" \
        --workers 1 --log warn >"$TMP/replica-$port.log" 2>&1 &
    PIDS+=($!)
done

sed -e "s|@TMP@|$TMP|g" -e "s|@P1@|$P1|g" -e "s|@P2@|$P2|g" -e "s|@PN@|$PN|g" \
    docs/deployment/nginx-replicas.conf >"$TMP/nginx.conf"
# Under root nginx's workers would run as `nobody`, who cannot use this script's private
# temporary folder: keep them as the user running the script (a real deployment keeps its
# usual user and temp paths).
if [[ $(id -u) == 0 ]]; then sed -i '1i user root;' "$TMP/nginx.conf"; fi
nginx -c "$TMP/nginx.conf" -p "$TMP"
echo "== nginx on 127.0.0.1:$PN -> replicas 127.0.0.1:$P1, 127.0.0.1:$P2"

for _ in $(seq 1 240); do
    a=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P1/health/ready" || true)
    b=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/health/ready" || true)
    [[ $a == 200 && $b == 200 ]] && break
    sleep 0.5
done
[[ $a == 200 && $b == 200 ]] || { echo "replicas not ready" >&2; tail "$TMP"/replica-*.log >&2; exit 1; }

served() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^facematch_face_match_decisions_total/ {s += $2} END {print s + 0}'; }

send() {
    local ok=0 other=0 code i
    for i in $(seq 1 "$N"); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $KEY" \
            -F "user_image=@$USER_IMG" -F "ref_image=@$REF_IMG" -F save_api_request=true \
            "http://127.0.0.1:$PN/v3/face-match/")
        if [[ $code == 200 ]]; then ok=$((ok + 1)); else other=$((other + 1)); echo "   got $code" >&2; fi
    done
    echo "$ok $other"
}

read -r ok other < <(send)
echo "== phase 1 (both replicas up): $ok x 200, $other other; replica $P1 served $(served "$P1"), replica $P2 served $(served "$P2")"
kill -KILL "${PIDS[0]}"
echo "== replica $P1 killed (SIGKILL)"
read -r ok2 other2 < <(send)
echo "== phase 2 (one replica): $ok2 x 200, $other2 other; replica $P2 served $(served "$P2") in all"
BALANCE=$(curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$PN/v3/billing/balance/" )
echo "== balance through nginx: $BALANCE (100000 - $((ok + ok2)) expected)"
[[ $other == 0 && $other2 == 0 ]] && STATUS=0
