"""Draw one dataset's figures: training curves per figure group, final and stable accuracy
per ablation, and the metric-against-value figure of every sweep.

Inputs:  input.metrics, input.final, input.ablation_stats -- results/datasets/{dataset}/*.csv;
         input.code -- modules used.
Outputs: output.groups / output.group_svgs -- curves_{group}.png/.svg, in config order;
         output.final / output.final_svg -- final_accuracy.png/.svg;
         output.sweeps / output.sweep_svgs -- sweep_{name}.png/.svg, in config order
         (all under results/figures/{dataset}/).
Params:  groups -- figure group name -> list of ablations;
         sweeps -- sweep name -> {description, keys, points} (mlpstudy.config.sweep_points).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.figures import final_accuracy_figure, group_figure, save, sweep_figure

sm = snakemake  # noqa: F821
dataset = sm.wildcards.dataset
metrics = pd.read_csv(sm.input.metrics)
final = pd.read_csv(sm.input.final)
stats = pd.read_csv(sm.input.ablation_stats)
groups = dict(sm.params.groups)
for (name, ablations), png, svg in zip(groups.items(), sm.output.groups, sm.output.group_svgs):
    present = [a for a in ablations if (final["ablation"] == a).any()]
    save(group_figure(metrics, final, name, present, dataset if present else "no runs"), png, svg)
    print(f"figure group {name}: {', '.join(present)} -> {png}", file=sys.stderr)
save(final_accuracy_figure(stats, final), sm.output.final, sm.output.final_svg)
sweeps = dict(sm.params.sweeps)
for (name, sweep), png, svg in zip(sweeps.items(), sm.output.sweeps, sm.output.sweep_svgs):
    save(sweep_figure(final, name, dict(sweep), dataset), png, svg)
    print(f"sweep {name} -> {png}", file=sys.stderr)
