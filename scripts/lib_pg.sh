# A throwaway PostgreSQL cluster for the scripts (sourced, not run): pg_start makes one in a
# temporary folder on a free port and sets PG_URL; pg_stop stops and removes it. Debian's
# `postgresql` package provides the binaries; under root the cluster runs as `postgres`.

pg_bin() {
    local dir
    if [[ -n ${FACEMATCH_PG_BIN:-} ]]; then echo "$FACEMATCH_PG_BIN"; return; fi
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x $dir/initdb ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
    echo "$dir"
}

pg_as() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local root bin
    bin=$(pg_bin)
    # A folder of its own directly in the temporary directory: the server's user must be
    # able to reach it (a root-only parent such as another mktemp folder would not do).
    root=$(mktemp -d "${TMPDIR:-/tmp}/facematch-script-pg.XXXXXX")
    PG_ROOT=$root
    PG_PORT=$(first_free_port 25432 25532)
    if [[ $(id -u) == 0 ]]; then chown postgres "$root"; fi
    pg_as "$bin/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --locale=C >"$root/initdb.log" 2>&1 ||
        { echo "initdb failed:" >&2; cat "$root/initdb.log" >&2; return 1; }
    # Settings for a benchmark machine, not for production (docs/deployment.md has those).
    pg_as "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$root -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" start >/dev/null
    pg_psql -c "CREATE DATABASE facematch" postgres
    pg_psql -c "CREATE EXTENSION pg_stat_statements" facematch
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/facematch"
}

# psql as the superuser on the throwaway cluster: pg_psql [psql args...] DBNAME
pg_psql() {
    "$(pg_bin)/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

pg_stop() {
    [[ -n ${PG_ROOT:-} && -d $PG_ROOT/data ]] || return 0
    pg_as "$(pg_bin)/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
}
