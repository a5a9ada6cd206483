#!/usr/bin/env bash
# pgwait's performance targets, measured against a real PostgreSQL server and against the
# usual baseline, a shell loop around pg_isready or psql with `sleep 1`, in the same run.
#
#   bench/run.sh [RUNS]          # RUNS per latency scenario, default 20
#   bench/run.sh instructions    # only the instruction counts (valgrind), which repeat
#
# It prints a Markdown report (README "Performance" records one). What it measures:
#
# 1. table latency: pgwait waits with --table for a table a "migration" creates; the time
#    from the CREATE TABLE's return to the command's first instruction.
# 2. outage latency: pgwait waits while the server is down; the time from the moment the
#    server accepts connections (a pg_isready loop without pauses tells) to the command's
#    first instruction.
# 3. signal latency: SIGTERM while pgwait waits; the time from kill(1) to its exit.
# 4. CPU while waiting, 30 s each: pgwait against a refused port, pgwait holding its session
#    while a --table check does not hold (with the server backend's own CPU), and the
#    baseline loop.
# 5. instructions (valgrind --tool=callgrind, repeatable whatever else the machine does):
#    per refused attempt, per check poll on the open session, and a whole successful run,
#    next to one pg_isready run.
#
# Needs: cargo, PostgreSQL server binaries and psql, GNU time (/usr/bin/time).

set -euo pipefail

SECTION=all
if [[ ${1:-} == instructions ]]; then
  SECTION=instructions
  shift
fi
RUNS=${1:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=""
PORT=0

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ns() { date +%s%N; }

find_bindir() {
  local newest
  newest=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  for dir in "${PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" "$newest"; do
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then BINDIR=$dir; return; fi
  done
  die "PostgreSQL server binaries not found (set PG_BINDIR)"
}

as_server_user() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  if [[ -n "$WORK" ]]; then
    as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
}

setup() {
  log "building pgwait (release)"
  (cd "$ROOT" && cargo build --release --locked --quiet)
  PGWAIT="$ROOT/target/release/pgwait"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgwait-bench.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  chmod 755 "$WORK"
  [[ $(id -u) != 0 ]] || chown postgres "$WORK"
  PORT=55400
  while "$PGWAIT" "127.0.0.1:$PORT" -t 100ms -q 2>/dev/null; do PORT=$((PORT + 1)); done
  printf 'bench-superuser\n' >"$WORK/pw"
  [[ $(id -u) != 0 ]] || chown postgres "$WORK/pw"
  as_server_user "$BINDIR/initdb" -D "$WORK/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --pwfile="$WORK/pw" --no-sync -E UTF8 --locale=C >/dev/null
  start_server
  DB=postgres sql -c "CREATE ROLE app LOGIN PASSWORD 'bench'" -c "CREATE DATABASE app OWNER app"
  URL="postgres://app:bench@127.0.0.1:$PORT/app?sslmode=disable"
}

start_server() {
  as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
    -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
}

stop_server() {
  as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null
}

# psql as the superuser over the socket, in database $DB (default app).
sql() {
  "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d "${DB:-app}" "$@"
}

# Waits until FILE contains WORDS.
wait_for_text() {
  local file=$1 words=$2
  until grep -q "$words" "$file" 2>/dev/null; do sleep 0.01; done
}

# Median and 90th percentile (nearest rank) of numbers on stdin, in ms with one decimal.
stats() {
  sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    p = v[int(NR * 0.9 + 0.999)]
    printf "%.1f %.1f\n", m / 1e6, p / 1e6 }'
}

# A random pause of 200-500 ms, so that events do not line up with poll intervals.
jitter() { sleep "0.$((RANDOM % 300 + 200))"; }

# $1: the waiter to measure (pgwait or baseline), started before the table exists.
table_latency() {
  local waiter=$1 i t0 t1 table
  for ((i = 0; i < RUNS; i++)); do
    table="bench_${waiter}_$i"
    rm -f "$WORK/t1" "$WORK/err"
    case "$waiter" in
      pgwait)
        "$PGWAIT" "$URL" --table "$table" -- sh -c "date +%s%N > $WORK/t1" 2>"$WORK/err" &
        wait_for_text "$WORK/err" "does not exist yet" ;;
      baseline)
        sh -c "until [ \"\$(PGPASSWORD=bench '$BINDIR/psql' -X -At -h 127.0.0.1 -p $PORT -U app \
            -d app -c \"SELECT to_regclass('$table') IS NOT NULL\")\" = t ]; do sleep 1; done
            date +%s%N > $WORK/t1" & ;;
    esac
    jitter
    sql -c "CREATE TABLE $table ()"
    t0=$(now_ns)
    wait
    t1=$(cat "$WORK/t1")
    echo $((t1 - t0))
  done
}

# $1: the waiter to measure, started while the server is down.
outage_latency() {
  local waiter=$1 i t0 t1
  for ((i = 0; i < RUNS; i++)); do
    stop_server
    rm -f "$WORK/t0" "$WORK/t1"
    case "$waiter" in
      pgwait) "$PGWAIT" "$URL" -q -- sh -c "date +%s%N > $WORK/t1" & ;;
      baseline)
        sh -c "until '$BINDIR/pg_isready' -q -h 127.0.0.1 -p $PORT; do sleep 1; done
               date +%s%N > $WORK/t1" & ;;
    esac
    local waiter_pid=$!
    sleep 1
    jitter
    # The reference: pg_isready in a loop without pauses, started before the server.
    sh -c "until '$BINDIR/pg_isready' -q -h 127.0.0.1 -p $PORT; do :; done
           date +%s%N > $WORK/t0" &
    local oracle_pid=$!
    as_server_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" \
      -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    wait "$oracle_pid" "$waiter_pid"
    t0=$(cat "$WORK/t0")
    t1=$(cat "$WORK/t1")
    echo $((t1 - t0))
    # Let pg_ctl's own wait finish before the next stop.
    until "$BINDIR/pg_isready" -q -h "$WORK" -p "$PORT"; do sleep 0.05; done
  done
}

# Time from SIGTERM to exit while pgwait polls a refused port.
signal_latency() {
  local i t0 t1 pid dead=$((PORT + 1000))
  for ((i = 0; i < RUNS; i++)); do
    "$PGWAIT" "127.0.0.1:$dead" -t 0 -q 2>/dev/null &
    pid=$!
    jitter
    t0=$(now_ns)
    kill -TERM "$pid"
    wait "$pid" || true
    t1=$(now_ns)
    echo $((t1 - t0))
  done
}

# CPU seconds (user+system) a command used in 30 s of waiting, as GNU time reports it.
cpu_of() {
  /usr/bin/time -f "%U %S" -o "$WORK/time" timeout -s INT 30 "$@" >/dev/null 2>&1 || true
  tail -n 1 "$WORK/time" | awk '{ printf "%.3f\n", $1 + $2 }'
}

# CPU seconds of the server backend serving pgwait's open session over 30 s.
backend_cpu_of_session() {
  rm -f "$WORK/err"
  "$PGWAIT" "$URL" --table never_created -t 0 2>"$WORK/err" &
  local pgwait_pid=$!
  wait_for_text "$WORK/err" "does not exist yet"
  local backend
  backend=$(sql -At -c "SELECT pid FROM pg_stat_activity WHERE usename = 'app' LIMIT 1")
  local before after ticks
  before=$(awk '{ print $14 + $15 }' "/proc/$backend/stat")
  local pgwait_before
  pgwait_before=$(awk '{ print $14 + $15 }' "/proc/$pgwait_pid/stat")
  sleep 30
  after=$(awk '{ print $14 + $15 }' "/proc/$backend/stat")
  ticks=$(getconf CLK_TCK)
  local pgwait_after
  pgwait_after=$(awk '{ print $14 + $15 }' "/proc/$pgwait_pid/stat")
  kill -INT "$pgwait_pid"
  wait "$pgwait_pid" || true
  awk -v b="$before" -v a="$after" -v pb="$pgwait_before" -v pa="$pgwait_after" -v t="$ticks" \
    'BEGIN { printf "%.3f %.3f\n", (pa - pb) / t, (a - b) / t }'
}

# Instructions pgwait executes (user space), and the attempts it reports, for one run.
callgrind() {
  local out
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 || true)
  local collected attempts
  collected=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
  attempts=$(sed -n 's/.*(\([0-9]*\) attempts).*/\1/p' <<<"$out" | tail -n 1)
  echo "$collected ${attempts:-1}"
}

# Instructions per attempt: two runs of different lengths, so that start-up cancels out.
per_attempt() {
  local short long
  read -r -a short < <(callgrind "$@" -t 1s)
  read -r -a long < <(callgrind "$@" -t 3s)
  awk -v i1="${short[0]}" -v a1="${short[1]}" -v i2="${long[0]}" -v a2="${long[1]}" \
    'BEGIN { printf "%.0f\n", (i2 - i1) / (a2 - a1) }'
}

instructions() {
  command -v valgrind >/dev/null 2>&1 || die "valgrind is needed (Debian: apt-get install valgrind)"
  local dead=$((PORT + 1000)) refused session run isready
  refused=$(per_attempt "$PGWAIT" "127.0.0.1:$dead")
  session=$(per_attempt "$PGWAIT" "$URL" --table never_created)
  read -r run _ < <(callgrind "$PGWAIT" -q "$URL")
  read -r isready _ < <(callgrind "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT")
  cat <<EOF
| instructions (callgrind, user space) | count |
| --- | --- |
| one refused attempt, pause included | $refused |
| one check poll on the open session (\`--table\`) | $session |
| a whole pgwait run: start, SCRAM login, \`SELECT 1\`, exit | $run |
| baseline: one \`pg_isready\` run | $isready |
EOF
}

main() {
  find_bindir
  if [[ $SECTION == instructions ]]; then
    setup
    instructions
    return
  fi
  [[ -x /usr/bin/time ]] || die "GNU time is needed (Debian: apt-get install time)"
  setup
  log "table latency: $RUNS runs each"
  read -r tp_med tp_p90 < <(table_latency pgwait | stats)
  read -r tb_med tb_p90 < <(table_latency baseline | stats)
  log "outage latency: $RUNS runs each"
  read -r op_med op_p90 < <(outage_latency pgwait | stats)
  read -r ob_med ob_p90 < <(outage_latency baseline | stats)
  log "signal latency: $RUNS runs"
  read -r sig_med sig_p90 < <(signal_latency | stats)
  log "CPU while waiting: 30 s each"
  local dead=$((PORT + 1000))
  refused_pgwait=$(cpu_of "$PGWAIT" "127.0.0.1:$dead" -t 0 -q)
  refused_pg=$(cpu_of "$PGWAIT" "postgres://app:bench@127.0.0.1:$dead/app" -t 0 -q)
  refused_base=$(cpu_of sh -c "until '$BINDIR/pg_isready' -q -h 127.0.0.1 -p $dead; do sleep 1; done")
  read -r session_pgwait session_backend < <(backend_cpu_of_session)

  cat <<EOF
## Performance ($(date -u +%Y-%m-%d), $RUNS runs per latency row, $(nproc) cores, PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'))

| scenario | pgwait median | pgwait p90 | baseline median | baseline p90 | baseline / pgwait (median) |
| --- | --- | --- | --- | --- | --- |
| table created → command starts (\`--table\`) | $tp_med ms | $tp_p90 ms | $tb_med ms | $tb_p90 ms | $(awk -v b="$tb_med" -v p="$tp_med" 'BEGIN { printf "%.0fx", b / p }') |
| server accepts connections → command starts | $op_med ms | $op_p90 ms | $ob_med ms | $ob_p90 ms | $(awk -v b="$ob_med" -v p="$op_med" 'BEGIN { printf "%.0fx", b / p }') |
| SIGTERM while waiting → pgwait has exited (130) | $sig_med ms | $sig_p90 ms | | | |

Baselines: \`until psql -c "SELECT to_regclass(...) IS NOT NULL"; do sleep 1; done\` and
\`until pg_isready; do sleep 1; done\`. Outage latency is measured from a pg_isready loop
without pauses, so it can come out slightly negative when pgwait sees the server first.

| CPU over 30 s of waiting | CPU time | share of one core |
| --- | --- | --- |
| pgwait, tcp target, connection refused | ${refused_pgwait} s | $(awk -v c="$refused_pgwait" 'BEGIN { printf "%.2f%%", c / 30 * 100 }') |
| pgwait, postgres target, connection refused | ${refused_pg} s | $(awk -v c="$refused_pg" 'BEGIN { printf "%.2f%%", c / 30 * 100 }') |
| pgwait, session open, \`--table\` check every ~50 ms | ${session_pgwait} s | $(awk -v c="$session_pgwait" 'BEGIN { printf "%.2f%%", c / 30 * 100 }') |
| the server backend serving that session | ${session_backend} s | $(awk -v c="$session_backend" 'BEGIN { printf "%.2f%%", c / 30 * 100 }') |
| baseline: pg_isready loop with \`sleep 1\` | ${refused_base} s | $(awk -v c="$refused_base" 'BEGIN { printf "%.2f%%", c / 30 * 100 }') |
EOF
}

main "$@"
