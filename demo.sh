#!/bin/sh
# pgwait's main job, for real, in one command.
#
#   ./demo.sh
#
# Builds pgwait, then starts a stand-in outbox poller through pgwait BEFORE its database
# exists. A throwaway PostgreSQL appears a few seconds later the way the official Docker
# image starts one (initialise, create the app's role on a socket-only server, restart on
# TCP), and a "migration" creates the outbox table a little after that. The transcript
# shows pgwait holding the app and why, and the app starting once the table exists.
# Everything is stopped and removed at the end, also on Ctrl-C.
#
# Needs Rust and the PostgreSQL server binaries (initdb, pg_ctl, postgres, psql).

set -eu

WORK=""
PGWAIT_PID=""
DB_STARTED=no

say() {
    if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
        printf '\033[1mdemo:\033[0m %s\n' "$*"
    else
        printf 'demo: %s\n' "$*"
    fi
}

die() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 1
}

find_bindir() {
    newest=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    for dir in "${PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" "$newest"; do
        if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
            BINDIR=$dir
            return
        fi
    done
    die "PostgreSQL server binaries not found: set PG_BINDIR, or install them (Debian: apt-get install postgresql)"
}

build_pgwait() {
    command -v cargo >/dev/null 2>&1 || die "cargo is not installed; install Rust first"
    say "building pgwait (cargo build --release)"
    (cd "$(dirname "$0")" && cargo build --release --locked --quiet) || die "the build failed"
    PGWAIT="$(cd "$(dirname "$0")" && pwd)/target/release/pgwait"
}

# Runs a server command as the `postgres` OS user when we are root (PostgreSQL refuses to
# run as root), as ourselves otherwise.
as_server_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cleanup() {
    status=$?
    trap - EXIT INT TERM HUP
    if [ -n "$PGWAIT_PID" ] && kill -0 "$PGWAIT_PID" 2>/dev/null; then
        kill "$PGWAIT_PID" 2>/dev/null || true
        wait "$PGWAIT_PID" 2>/dev/null || true
    fi
    if [ "$DB_STARTED" = yes ]; then
        as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -n "$WORK" ]; then
        rm -rf "$WORK"
    fi
    say "cleaned up: server stopped, $WORK removed"
    exit "$status"
}

make_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgwait-demo.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    mkdir -p "$WORK/sock"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$WORK"
    fi
    chmod 755 "$WORK"
}

# A port nothing listens on: pgwait itself checks.
choose_port() {
    PORT=54330
    while "$PGWAIT" "127.0.0.1:$PORT" --timeout 100ms --quiet 2>/dev/null; do
        PORT=$((PORT + 1))
    done
}

write_app() {
    cat >"$WORK/outbox-poller" <<EOF
#!/bin/sh
# The stand-in app: reads the outbox three times, then stops (a real one runs forever).
echo "outbox-poller: started as PID \$\$, pgwait's own PID"
for i in 1 2 3; do
    n=\$(PGPASSWORD=demo-secret "$BINDIR/psql" -X -h 127.0.0.1 -p $PORT -U app -d app -Atc \
        "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")
    echo "outbox-poller: \$n message(s) waiting to be sent"
    sleep 1
done
echo "outbox-poller: done"
EOF
    chmod 755 "$WORK/outbox-poller"
}

sql() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$PORT" "$@"
}

start_app_through_pgwait() {
    say "starting the app through pgwait, before its database exists:"
    say "  pgwait postgres://app:***@127.0.0.1:$PORT/app --role app --table outbox_messages -- outbox-poller"
    "$PGWAIT" "postgres://app:demo-secret@127.0.0.1:$PORT/app" \
        --role app --table outbox_messages --timeout 60s -- "$WORK/outbox-poller" &
    PGWAIT_PID=$!
}

start_database_late() {
    sleep 2
    say "the database appears: initdb"
    printf 'demo-superuser-secret\n' >"$WORK/pwfile"
    [ "$(id -u)" != 0 ] || chown postgres "$WORK/pwfile"
    as_server_user "$BINDIR/initdb" -D "$WORK/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --pwfile="$WORK/pwfile" --no-sync -E UTF8 --locale=C \
        >"$WORK/initdb.log" 2>&1 || die "initdb failed: $(cat "$WORK/initdb.log")"
    say "init-time server on the Unix socket only (as the official image does), creating role app"
    DB_STARTED=yes
    as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
        -o "-p $PORT -k $WORK/sock -c listen_addresses=''" start >/dev/null
    sql -U postgres -d postgres -c "CREATE ROLE app LOGIN PASSWORD 'demo-secret'" \
        -c "CREATE DATABASE app OWNER app"
    as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -w stop >/dev/null
    say "the real server starts, listening on TCP"
    as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
        -o "-p $PORT -k $WORK/sock -c listen_addresses=127.0.0.1" start >/dev/null
}

run_migration_late() {
    sleep 2
    say "the migration creates outbox_messages (and queues a message)"
    sql -U app -d app \
        -c "CREATE TABLE outbox_messages (id bigserial PRIMARY KEY, topic text NOT NULL,
                payload jsonb NOT NULL, sent_at timestamptz)" \
        -c "INSERT INTO outbox_messages (topic, payload) VALUES ('orders', '{\"id\": 1}')"
}

finish() {
    status=0
    wait "$PGWAIT_PID" || status=$?
    PGWAIT_PID=""
    if [ "$status" = 0 ]; then
        say "the app ran only once its role and table existed, and exited 0"
    else
        die "pgwait or the app exited $status"
    fi
}

main() {
    find_bindir
    build_pgwait
    make_workdir
    choose_port
    write_app
    start_app_through_pgwait
    start_database_late
    run_migration_late
    finish
}

main "$@"
