#!/usr/bin/env bash
# The GPU checks of packed training, as one command for a lent GPU machine (the device
# tool's `run`; never CI). From the repository root:
#
#   bash tests/benchmarks/gpu_session.sh
#
# 1. gpu_check.py: a gpu=1 job gets its GPU; GPU curves follow the CPU's; a pack of five
#    seeds (CUDA graph and eager) follows each seed alone; pack vs one-after-another time.
# 2. bench_study.py --gpu: the README's command on the whole default study, old layout
#    (seeds_per_job 1: one job per seed) and new (one job per ablation), in the same
#    session so they compare.
#
# That machine has torch but not snakemake and cannot download: put the wheels of
# requirements.txt's missing packages in .whl/ (ignored by git; see the device tool's
# README for `pip download --platform ...`) and carry it. Put Fashion-MNIST's four IDX .gz
# files in data/fashion-mnist/ and carry that too, else both scripts use generated data
# of the same shape (and say so). Results go to $OUT (or the current directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-.}
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 tests/benchmarks/gpu_check.py 2>&1 | tee "$out/gpu_check.log"
python3 tests/benchmarks/bench_study.py --gpu --cores 4 --layouts single,packed \
  --json "$out/bench_study.json" 2>&1 | tee "$out/bench_study.log"
