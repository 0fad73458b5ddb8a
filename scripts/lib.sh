# Shared by scripts/bench_load.sh, scripts/bench_console.sh and scripts/overload.sh
# (sourced, not run): the photos they send, a free loopback port for the server they start,
# and waiting for that server ($SERVER_PID) and stopping it.

FACES=../shared/data/faces/celebs/Barack_Obama
USER_IMG=$FACES/obama.jpg
REF_IMG=$FACES/obama1.jpg

# Exits when a photo is missing (the shared data must sit beside the repository).
require_photos() {
    local f
    for f in "$USER_IMG" "$REF_IMG"; do
        [[ -r $f ]] || { echo "missing photo $f" >&2; exit 1; }
    done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the first port in [$1, $2] nobody listens on; exits when there is none.
first_free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if port_free "$p"; then echo "$p"; return 0; fi
    done
    echo "no free port in $1-$2" >&2
    exit 1
}

# Waits until GET $1 answers 200 from the server $SERVER_PID, whose log is $2; exits (with
# the log) when the server exits first or after 120 s.
wait_until_ready() {
    local url=$1 log=$2 code
    for _ in $(seq 1 240); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited:" >&2; cat "$log" >&2; exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.5
    done
    echo "server not ready after 120 s" >&2; cat "$log" >&2; exit 1
}

# Stops the server $SERVER_PID (SIGTERM, then waits for it) if it still runs.
stop_server() {
    if [[ -n ${SERVER_PID:-} ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
