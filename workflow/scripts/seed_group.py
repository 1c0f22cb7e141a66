"""Write one ablation's mean run for TensorBoard: its seeds' mean with their min-max band.

Inputs:  input.runs -- the ablation's training jobs' directories (a seed{N}/metrics.csv and
         run.json per seed); input.code -- modules used.
Outputs: output.run -- the event file of results/tensorboard/{dataset}/{ablation}/mean
         (tags: mlpstudy.seed_groups); the training jobs' so-far files there are removed.
"""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from mlpstudy.aggregate import load_runs
from mlpstudy.runs import runs_of_packs
from mlpstudy.seed_groups import write_mean_run

sm = snakemake  # noqa: F821
metrics, final = load_runs(runs_of_packs(sm.input.runs))
path = write_mean_run(Path(sm.output.run).parent, metrics, sm.wildcards.dataset,
                      sm.wildcards.ablation)
print(f"mean over seeds {', '.join(map(str, final['seed']))} -> {path} "
      f"({path.stat().st_size} bytes)", file=sys.stderr)
