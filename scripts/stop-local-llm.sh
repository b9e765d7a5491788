#!/usr/bin/env bash
# Stop the server that scripts/local-llm.sh started: SIGTERM, wait up to 10 s, then SIGKILL.
# Same settings as the start script (LLM_CACHE_DIR, LLM_PORT). Safe to run when nothing runs.
set -euo pipefail

CACHE=${LLM_CACHE_DIR:-$HOME/.cache/local-llm}
PORT=${LLM_PORT:-8091}
PIDFILE="$CACHE/llama-server-$PORT.pid"

if [ ! -f "$PIDFILE" ]; then
  echo "local-llm: no pid file at $PIDFILE; nothing to stop" >&2
  exit 0
fi
PID=$(cat "$PIDFILE")
if kill -0 "$PID" 2>/dev/null; then
  kill "$PID"
  for _ in $(seq 1 50); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$PID" 2>/dev/null; then
    echo "local-llm: pid $PID ignored SIGTERM for 10 s; sending SIGKILL" >&2
    kill -9 "$PID" 2>/dev/null || true
  fi
fi
rm -f "$PIDFILE"
echo "local-llm: stopped (pid $PID)" >&2
