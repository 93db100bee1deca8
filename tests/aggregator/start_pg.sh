#!/bin/sh
# Start a throwaway PostgreSQL cluster for the aggregator tests and print its URL.
#
#   export AGGREGATOR_TEST_PG_URL=$(tests/aggregator/start_pg.sh)
#
# Runs as root (CI) or as any user: initdb refuses root, so the cluster is owned by the
# `postgres` system user. It lives in a temp dir, listens on 127.0.0.1 on a free port, trusts
# local connections (throwaway, loopback only) and creates the database `aggregator_test`.
# Stop it with: pg_ctl -D "$dir" stop  (the dir is printed on stderr).
set -eu
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "start_pg.sh: no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d /tmp/aggregator-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then
    chown postgres "$DIR"
    AS="su postgres -s /bin/sh -c"
else
    AS="sh -c"
fi
$AS "$PGBIN/initdb -D '$DIR/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8" >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
$AS "$PGBIN/pg_ctl -D '$DIR/data' -l '$DIR/server.log' -w -o \"-k '$DIR' -p $PORT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >&2 \
    || { cat "$DIR/server.log" >&2; exit 1; }
$AS "$PGBIN/createdb -h 127.0.0.1 -p $PORT -U postgres aggregator_test"
echo "start_pg.sh: cluster in $DIR/data (stop: su postgres -c '$PGBIN/pg_ctl -D $DIR/data stop')" >&2
echo "postgresql://postgres@127.0.0.1:$PORT/aggregator_test"
