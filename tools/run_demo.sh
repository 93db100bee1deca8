#!/usr/bin/env bash
# `make run`: the aggregator on its embedded SQLite with a demo district, and this machine's
# kiosk window enrolled to it. Everything lives under var/ (delete it to start afresh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/bin
PORT="${AGGREGATOR_PORT:-8700}"
URL="http://127.0.0.1:$PORT"
DB="sqlite:///var/aggregator.db"
mkdir -p var

# Another server on the port answered the health check below in place of ours: the kiosk was
# enrolled against it ("enrolment refused: unknown enrolment code") and var/aggregator.log
# was empty. Whatever listens there now, the aggregator could not.
port_in_use() {
  $VENV/python -c '
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn: TIME_WAIT is free
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(0)
sys.exit(1)' "$PORT"
}
port_taken_message() {
  echo "run_demo: port $PORT is in use by another program; set AGGREGATOR_PORT to use another, e.g. AGGREGATOR_PORT=$((PORT + 1)) make run" >&2
}
if port_in_use; then
  port_taken_message
  exit 1
fi

if [ ! -f var/aggregator.db ]; then
  echo "== loading the demo district into var/aggregator.db (a minute on a small machine)"
  $VENV/aggregator demo --database "$DB" --months 3 --enroll-code-file var/enroll-code.txt
  # Dashboard accounts for the demo (local use only; pick real passwords in production). Their
  # passwords are in the README, so they are not asked to change them at the first sign-in.
  echo "demo-supervisor-2026" | $VENV/aggregator create-user --database "$DB" --username supervisor \
      --role supervisor --region R-D --password-stdin --no-must-change-password
  echo "demo-manager-2026" | $VENV/aggregator create-user --database "$DB" --username manager \
      --role unit_manager --unit U-01 --password-stdin --no-must-change-password
fi

# The server secret signs dashboard sessions and QR follow-up tokens: kept under var/, so that
# restarting the demo keeps both valid (the server makes a new one per start when unset).
if [ -z "${AGGREGATOR_SECRET:-}" ]; then
  [ -s var/aggregator-secret ] || (umask 077 && $VENV/python -c "import secrets; print(secrets.token_hex(32))" >var/aggregator-secret)
  export AGGREGATOR_SECRET="$(cat var/aggregator-secret)"
fi

echo "== starting the aggregator on $URL (log: var/aggregator.log)"
$VENV/aggregator serve --database "$DB" --host 127.0.0.1 --port "$PORT" >var/aggregator.log 2>&1 &
AGG_PID=$!
trap 'kill $AGG_PID 2>/dev/null || true' EXIT
# Our aggregator must still run when the health check answers: an answer after it stopped
# came from another server on the port.
aggregator_stopped() {
  local status=0
  wait $AGG_PID || status=$?
  echo "run_demo: the aggregator stopped while starting (exit status $status); the end of var/aggregator.log:" >&2
  tail -n 20 var/aggregator.log >&2
  if port_in_use || grep -qi "address already in use" var/aggregator.log; then port_taken_message; fi
  exit 1
}
ready=""
for _ in $(seq 1 60); do
  kill -0 $AGG_PID 2>/dev/null || aggregator_stopped
  if $VENV/python -c "import urllib.request; urllib.request.urlopen('$URL/healthz', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
sleep 0.5   # a server that cannot listen exits at once: give it the time to
kill -0 $AGG_PID 2>/dev/null || aggregator_stopped
if [ -z "$ready" ]; then
  echo "run_demo: the aggregator did not answer $URL/healthz within 30 s; the end of var/aggregator.log:" >&2
  tail -n 20 var/aggregator.log >&2
  exit 1
fi

# The demo kiosk's config: the documented config.yaml, pointed at the local server.
if [ ! -f var/kiosk-demo.yaml ]; then
  sed -e "s#^  server: \"\"#  server: \"$URL\"#" -e "s#^  data_dir: var/kiosk#  data_dir: kiosk#" \
      -e "s#^  fullscreen: true#  fullscreen: false#" config.yaml >var/kiosk-demo.yaml
fi
if [ ! -f var/kiosk/enrolment.json ]; then
  echo "== enrolling the demo kiosk"
  $VENV/kiosk enroll --config var/kiosk-demo.yaml --server "$URL" --code "$(cat var/enroll-code.txt)"
fi

echo "== dashboard: $URL/dashboard/  (supervisor / demo-supervisor-2026, manager / demo-manager-2026)"
echo "== API docs: $URL/docs   public results: $URL/public/units   mobile rating page: $URL/r/W-001"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "${SDL_VIDEODRIVER:-}" != "kmsdrm" ]; then
  echo "No display here: the kiosk window cannot open. The aggregator keeps running (Ctrl-C stops it)."
  wait $AGG_PID
else
  echo "== starting the kiosk window (close it or press Ctrl-C to stop both)"
  $VENV/kiosk run --config var/kiosk-demo.yaml --windowed
fi
