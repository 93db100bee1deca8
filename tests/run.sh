#!/usr/bin/env bash
# Runs the whole suite the way CI does. Starts a throwaway PostgreSQL cluster for the
# aggregator's PostgreSQL tests when the binaries are there and no URL was given.
set -euo pipefail
cd "$(dirname "$0")/.."
export KIVY_NO_ARGS=1 SDL_VIDEODRIVER=offscreen KIVY_LOG_LEVEL=warning
# What the run makes in /tmp goes when it ends (a developer's /tmp kept ~80 MB per run: the
# PostgreSQL cluster, Kivy homes, the tests' own temp dirs). pytest's tmp_path dirs stay where
# pytest keeps them (its last 3 runs, under /tmp/pytest-of-$USER) to look at after a failure.
RUN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/kiosk-tests.XXXXXX")"
stop_pg() { :; }
cleanup() { stop_pg; rm -rf "$RUN_TMP"; }
trap cleanup EXIT
export PYTEST_DEBUG_TEMPROOT="${PYTEST_DEBUG_TEMPROOT:-${TMPDIR:-/tmp}}"
mkdir "$RUN_TMP/tmp"
export TMPDIR="$RUN_TMP/tmp" KIVY_HOME="$RUN_TMP/kivy-home"
if [ -z "${AGGREGATOR_TEST_PG_URL:-}" ] && [ -f tests/aggregator/start_pg.sh ] && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  PG_LOG="$RUN_TMP/start_pg.log"
  AGGREGATOR_TEST_PG_URL="$(bash tests/aggregator/start_pg.sh 2>"$PG_LOG" | tail -1)"
  export AGGREGATOR_TEST_PG_URL
  PG_DATA="$(sed -n 's/.*cluster in \([^ ]*\) .*/\1/p' "$PG_LOG")"
  PG_CTL="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl"
  stop_pg() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$PG_CTL -D '$PG_DATA' -m fast stop" >/dev/null 2>&1 || true
    else "$PG_CTL" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true; fi
    case "$PG_DATA" in /tmp/aggregator-pg.*/data) rm -rf "${PG_DATA%/data}" ;; esac
  }
  echo "PostgreSQL for tests: $AGGREGATOR_TEST_PG_URL ($PG_DATA)"
fi
.venv/bin/python -m pytest "$@"
