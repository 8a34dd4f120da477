#!/usr/bin/env bash
# Create .venv (if missing) and install hdnnp-toolkit into it.
# PyTorch: installs the CPU build torch==2.13.0 (HDNNP_TORCH overrides the
# requirement) *before* the package, so that pip never resolves "torch" to a
# multi-GB CUDA build on a CPU-only machine. An existing torch is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" >/dev/null 2>&1; then
    python -m pip install -q "${HDNNP_TORCH:-torch==2.13.0}"
fi
python -m pip install -q -e ".[test]"
python -c "import torch, toolkit; print(f'hdnnp-toolkit {toolkit.__version__} ready (torch {torch.__version__})')"
