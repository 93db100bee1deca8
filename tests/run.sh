#!/usr/bin/env bash
# Runs the whole suite the way CI does. Starts a throwaway PostgreSQL cluster for the
# aggregator's PostgreSQL tests when the binaries are there and no URL was given.
set -euo pipefail
cd "$(dirname "$0")/.."
export KIVY_NO_ARGS=1 SDL_VIDEODRIVER=offscreen KIVY_LOG_LEVEL=warning
export KIVY_HOME="$(mktemp -d)"
if [ -z "${AGGREGATOR_TEST_PG_URL:-}" ] && [ -f tests/aggregator/start_pg.sh ] && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  PG_LOG="$(mktemp)"
  AGGREGATOR_TEST_PG_URL="$(bash tests/aggregator/start_pg.sh 2>"$PG_LOG" | tail -1)"
  export AGGREGATOR_TEST_PG_URL
  PG_DATA="$(sed -n 's/.*cluster in \([^ ]*\) .*/\1/p' "$PG_LOG")"
  PG_CTL="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl"
  stop_pg() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$PG_CTL -D '$PG_DATA' -m fast stop" >/dev/null 2>&1 || true
    else "$PG_CTL" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true; fi
  }
  trap stop_pg EXIT
  echo "PostgreSQL for tests: $AGGREGATOR_TEST_PG_URL ($PG_DATA)"
fi
.venv/bin/python -m pytest "$@"
