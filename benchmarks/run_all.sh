#!/usr/bin/env bash
# Run every engine benchmark against the reference cellpose packages, each in its own side venv.
# Usage: make bench   (or bash benchmarks/run_all.sh). Takes 2-3 hours on a 2-core CPU (the 4096^2
# comparisons against the reference and block-wise segmentation are most of it).
# docs/performance.md quotes the figures these commands print.
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
  # cellpose 3's numba dynamics corrupt memory under numpy 2: numpy<2 here, never in the product.
  .venv-ref3/bin/pip install -q "torch==2.13.0" "numpy<2" "cellpose==3.1.1.2"
fi
# The profiler of profile_segment.py (a development tool, not a dependency of the product).
$PY -c "import pyinstrument" 2>/dev/null || $PY -m pip install -q "pyinstrument==5.1.3"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== masks -> flows and flows -> masks (vs cellpose 4.2.1.1)"
$PY benchmarks/bench_flows_dynamics.py
echo "== network forward, 8 tiles of 224x224 (vs cellpose 3.1.1.2 CPnet)"
$PY benchmarks/bench_net.py --with-plain
echo "== the whole segmentation (vs cellpose 3.1.1.2 CellposeModel.eval), 4096^2 and 3D with memory"
$PY benchmarks/bench_segment.py
echo "== where the time of one segmentation goes (pyinstrument)"
$PY benchmarks/profile_segment.py --precision float32
$PY benchmarks/profile_segment.py --precision auto
echo "== automatic diameter on validation images (img2d.tif + 30 DSB 2018 images)"
$PY benchmarks/bench_size.py --n 30 --threads 1
echo "== the size estimation's crops: AP, diameter and time per image kind (DSB 2018 validation split)"
$PY benchmarks/bench_size_crops.py
echo "== 512x512 inference at a known diameter, with and without augmentation"
$PY benchmarks/bench_inference.py --device cpu
echo "== upload to masks in the browser (embedded site, headless Chromium)"
$PY benchmarks/bench_upload_to_masks.py --runs 3
echo "== the editor on a 2048^2 image with 2,025 cells (real server, headless Chromium)"
$PY benchmarks/editor_speed.py
echo "== large images: block-wise against whole-image segmentation, 4096^2 and a 3D volume"
$PY benchmarks/bench_blocks.py --cases agree volume --volume-whole
$PY benchmarks/bench_blocks.py --cases agree --augment
echo "== large images: the slide path end to end at 1024^2, and one block worker of a 20,000^2 H&E slide"
$PY benchmarks/bench_slide.py --size 1024 --block-size 512 --overlap 64
$PY benchmarks/bench_slide.py --size 20000 --one-block
echo "== large images: editing a 1024^2 region of a 20,000^2 labels image"
$PY benchmarks/bench_tiled_edit.py
echo "== large images: one Celery worker against two (PostgreSQL and redis-server, as the integration tier)"
$PY benchmarks/bench_distributed.py
echo "== training throughput"
$PY benchmarks/bench_train.py
$PY benchmarks/bench_train.py --precision bf16 --nbase 2,16,32,64,128 --nbase 2,32,64,128,256
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
