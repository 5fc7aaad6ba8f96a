#!/usr/bin/env bash
# Start a throw-away PostgreSQL for the tests (Debian packages; installs them when missing).
# Prints the SQLAlchemy URL on stdout; everything else goes to stderr.
set -euo pipefail
PORT="${QA_PG_PORT:-55432}"
DATA="${QA_PG_DATA:-/tmp/callqa-pg}"
bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(bin_dir)" ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi
BIN="$(bin_dir)"
[ -n "$BIN" ] || { echo "postgresql binaries not found" >&2; exit 1; }
# PostgreSQL refuses to run as root: use the postgres account the package creates.
RUN=()
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); fi
if ! "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
  "${RUN[@]}" "$BIN/initdb" -D "$DATA" -U callqa --auth=trust -E UTF8 >&2
  "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
fi
echo "postgresql+psycopg://callqa@127.0.0.1:$PORT/postgres"
