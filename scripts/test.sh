#!/usr/bin/env bash
# The whole test run (`make test`): system packages, the local services the marked tests
# use (PostgreSQL and a small LLM server, both on 127.0.0.1 and stopped at the end),
# then lint, type checks and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PY")
export PYTHON=$PY LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)" >&2; }
# In CI every service must come up; elsewhere a missing one only skips its tests.
service_failed() {
  echo "test.sh: $1 did not start" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
}

step "system packages"
bash scripts/system-deps.sh

step "services"
# Stop at the end only what this run started; a server the user already runs stays up.
bash scripts/postgres.sh status >/dev/null 2>&1 && pg_was_up=1 || pg_was_up=
curl -sf --max-time 2 "http://127.0.0.1:${LLM_PORT:-8091}/health" >/dev/null 2>&1 && llm_was_up=1 || llm_was_up=
stop_services() {
  [ -n "$llm_was_up" ] || bash scripts/stop-local-llm.sh >/dev/null 2>&1 || true
  [ -n "$pg_was_up" ] || bash scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap stop_services EXIT
if pg_env=$(bash scripts/postgres.sh); then eval "$pg_env"; else service_failed PostgreSQL; fi
llm_started=$(date +%s)
if api=$(bash scripts/local-llm.sh | tail -n 1); then
  export LLM_API_BASE=$api
  echo "test.sh: local LLM server ready at $api in $(( $(date +%s) - llm_started )) s" >&2
else
  service_failed "the local LLM server"
fi

step "lint and types"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"

step "tests"
"$PY" -m pytest --durations=15 "$@"
