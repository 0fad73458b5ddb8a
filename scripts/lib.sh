# Shared by scripts/bench_load.sh and scripts/overload.sh (sourced, not run): the photos
# they send and a free loopback port for the server they start.

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
