"""Aggregate every run into the study's tables.

Inputs:  input.runs, input.benchmarks -- every training job's directory (a seed{N}/run.json and
         metrics.csv per seed) and its Snakemake benchmark tsv, in the same order;
         input.code -- modules used.
Outputs: output.metrics -- results/metrics.csv (all curves, with dataset, ablation, seed);
         output.final -- results/final.csv (one row per run);
         output.ablation_stats -- results/ablation_stats.csv (one row per dataset and ablation).
Params:  descriptions -- ablation -> description, in config order.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from mlpstudy.aggregate import ablation_stats, load_runs, order_by
from mlpstudy.runs import runs_of_packs

sm = snakemake  # noqa: F821
runs = runs_of_packs(sm.input.runs, sm.input.benchmarks)
order = list(sm.params.descriptions)
metrics, final = load_runs(runs)
metrics, final = order_by(metrics, order), order_by(final, order)
stats = ablation_stats(final, dict(sm.params.descriptions))
metrics.to_csv(sm.output.metrics, index=False)
final.to_csv(sm.output.final, index=False)
stats.to_csv(sm.output.ablation_stats, index=False)
print(f"{len(final)} runs ({int((final['status'] != 'ok').sum())} diverged), "
      f"{len(stats)} ablations, {len(metrics)} curve rows", file=sys.stderr)
