"""Aggregate every run into the study's tables.

Inputs:  input.runs, input.metrics, input.benchmarks -- run.json, metrics.csv and the
         Snakemake benchmark tsv of every run, in the same order; input.code -- modules used.
Outputs: output.metrics -- results/metrics.csv (all curves, with dataset, ablation, seed);
         output.final -- results/final.csv (one row per run);
         output.ablation_stats -- results/ablation_stats.csv (one row per dataset and ablation).
Params:  descriptions -- ablation -> description, in config order.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from mlpstudy.aggregate import load_runs, order_by, ablation_stats

sm = snakemake  # noqa: F821
runs = [{"run": r, "metrics": m, "benchmark": b}
        for r, m, b in zip(sm.input.runs, sm.input.metrics, sm.input.benchmarks)]
order = list(sm.params.descriptions)
metrics, final = load_runs(runs)
metrics, final = order_by(metrics, order), order_by(final, order)
stats = ablation_stats(final, dict(sm.params.descriptions))
metrics.to_csv(sm.output.metrics, index=False)
final.to_csv(sm.output.final, index=False)
stats.to_csv(sm.output.ablation_stats, index=False)
print(f"{len(final)} runs ({int((final['status'] != 'ok').sum())} diverged), "
      f"{len(stats)} ablations, {len(metrics)} curve rows", file=sys.stderr)
