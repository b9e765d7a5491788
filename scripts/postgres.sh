#!/usr/bin/env bash
# Start a private PostgreSQL server on 127.0.0.1 for the workbench's PostgreSQL tests.
#
# What it does (each step is skipped when already done, so running it twice is cheap):
#   1. installs PostgreSQL from the Debian packages if no server binaries are found (needs root);
#   2. initialises a cluster in $PG_DIR/data (PostgreSQL refuses to run as root, so when this
#      script runs as root the cluster belongs to the `postgres` OS user the package creates);
#   3. starts the server on 127.0.0.1:$PG_PORT (socket and log in $PG_DIR) and waits for it;
#   4. creates the role `workbench` (password `workbench`, may create databases: the tests make
#      one database per test) and the database `workbench_test`.
#
# stdout is one line, for `eval "$(bash scripts/postgres.sh)"`:
#   export WORKBENCH_TEST_PG_URL=postgresql+psycopg://workbench:workbench@127.0.0.1:55432/workbench_test
# Progress goes to stderr.
#
# Usage:
#   bash scripts/postgres.sh          start (install and initialise if needed)
#   bash scripts/postgres.sh stop     stop the server (fast shutdown); safe when nothing runs
#   bash scripts/postgres.sh status   say whether it runs; exit 0 when it does
#
# Settings (environment):
#   PG_PORT  port on 127.0.0.1 (default: 55432)
#   PG_DIR   cluster directory (default: ~/.cache/workbench-pg; as root /var/tmp/workbench-pg,
#            because the `postgres` user cannot enter /root)
#
# This is a throwaway test server: it listens on 127.0.0.1 only, with a fixed password.
set -euo pipefail

PORT=${PG_PORT:-55432}
if [ "$(id -u)" -eq 0 ]; then
  DIR=${PG_DIR:-/var/tmp/workbench-pg}
else
  DIR=${PG_DIR:-$HOME/.cache/workbench-pg}
fi
DATA="$DIR/data"
SOCK="$DIR/run"
LOGFILE="$DIR/server.log"
ROLE=workbench
PASSWORD=workbench
DATABASE=workbench_test
URL="postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The server binaries: the newest Debian-packaged version, else whatever is on PATH.
find_bindir() {
  local candidate
  for candidate in $(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/psql" ]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v pg_ctl >/dev/null 2>&1; then
    candidate=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/psql" ]; then
      echo "$candidate"
      return 0
    fi
  fi
  return 1
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install_server() {
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed; run this script as root once, or \
install the Debian package yourself: sudo apt-get install -y postgresql"
  log "installing PostgreSQL from the Debian packages (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
}

running() {
  [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init_cluster() {
  log "initialising a cluster in $DATA"
  mkdir -p "$DIR"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "the OS user 'postgres' is missing; reinstall the \
postgresql package (it creates that user)"
    chown postgres: "$DIR"
    as_owner test -w "$DIR" || die "user postgres cannot write to $DIR; choose another PG_DIR"
  fi
  local pwfile
  pwfile=$(as_owner mktemp "$DIR/pw.XXXXXX")
  as_owner sh -c "echo '$PASSWORD' > '$pwfile'"
  # Superuser over the private socket only; the test role over TCP with a password.
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >&2
  rm -f "$pwfile"
}

start_server() {
  as_owner mkdir -p "$SOCK"
  as_owner chmod 700 "$SOCK"
  log "starting the server on 127.0.0.1:$PORT (log: $LOGFILE)"
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK" >&2; then
    log "the server did not start; last log lines:"
    tail -20 "$LOGFILE" >&2 || true
    exit 1
  fi
}

psql_super() {
  as_owner "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

create_role_and_database() {
  if [ "$(psql_super -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
    log "creating role $ROLE"
    psql_super -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
  fi
  if [ "$(psql_super -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
    log "creating database $DATABASE"
    psql_super -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
  fi
}

stop_server() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    log "stopped the server in $DATA"
  else
    log "no server runs from $DATA; nothing to stop"
  fi
}

ACTION=${1:-start}
case "$ACTION" in
  start)
    BIN=$(find_bindir) || { install_server; BIN=$(find_bindir) || die "no pg_ctl after install"; }
    [ -f "$DATA/PG_VERSION" ] || init_cluster
    if running; then
      log "a server already runs from $DATA"
    else
      start_server
    fi
    create_role_and_database
    log "ready: $URL"
    echo "export WORKBENCH_TEST_PG_URL=$URL"
    ;;
  stop)
    BIN=$(find_bindir) || { log "PostgreSQL is not installed; nothing to stop"; exit 0; }
    stop_server
    ;;
  status)
    BIN=$(find_bindir) || die "PostgreSQL is not installed"
    if running; then log "running from $DATA on port $PORT"; else die "not running"; fi
    ;;
  *)
    die "unknown action '$ACTION' (use: start, stop, status)"
    ;;
esac
