#!/usr/bin/env bash
# Create .venv and install the project with every dependency pinned (constraints.txt).
# torch is pinned to the local CPU build in the same step, so nothing pulls CUDA packages.
# Quick when nothing changed: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.bootstrap-stamp
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing pinned dependencies into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        "torch==2.13.0" -c constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
fi
