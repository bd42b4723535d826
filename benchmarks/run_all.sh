#!/usr/bin/env bash
# Run every engine benchmark against the reference cellpose packages, each in its own side venv.
# Usage: make bench   (or bash benchmarks/run_all.sh). Takes 10-20 minutes on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Reference implementations live in side venvs; the product never imports them.
if [ ! -x .venv-ref4/bin/python ]; then
  python3 -m venv .venv-ref4
  .venv-ref4/bin/pip install -q "torch==2.13.0" "cellpose==4.2.1.1"
fi
if [ ! -x .venv-ref3/bin/python ]; then
  python3 -m venv .venv-ref3
  # cellpose 3's numba dynamics corrupt memory under numpy 2; only its CPnet is used here.
  .venv-ref3/bin/pip install -q "torch==2.13.0" "numpy<2" "cellpose==3.1.1.2"
fi
echo "== masks -> flows and flows -> masks (vs cellpose 4.2.1.1)"
$PY benchmarks/bench_flows_dynamics.py
echo "== network forward, 8 tiles of 224x224 (vs cellpose 3.1.1.2 CPnet)"
$PY benchmarks/bench_net.py
echo "== 512x512 inference with the default model"
$PY benchmarks/bench_inference.py --device cpu
echo "== training throughput"
$PY benchmarks/bench_train.py
$PY benchmarks/bench_train.py --precision bf16 --nbase 2,16,32,64,128 --nbase 2,32,64,128,256
