"""Draw the training-curve figure of every figure group and the final accuracy chart.

Inputs:  input.metrics, input.final, input.summary -- the aggregated tables;
         input.code -- modules used.
Outputs: output.groups / output.group_svgs -- results/figures/curves_{group}.png/.svg, in
         config order; output.final / output.final_svg -- results/figures/final_accuracy.png/.svg.
Params:  groups -- figure group name -> list of ablations.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.figures import final_accuracy_figure, group_figure, save

sm = snakemake  # noqa: F821
metrics = pd.read_csv(sm.input.metrics)
final = pd.read_csv(sm.input.final)
summary = pd.read_csv(sm.input.summary)
groups = dict(sm.params.groups)
for (name, ablations), png, svg in zip(groups.items(), sm.output.groups, sm.output.group_svgs):
    datasets = ", ".join(dict.fromkeys(final.loc[final["ablation"].isin(ablations), "dataset"]))
    save(group_figure(metrics, final, name, list(ablations), datasets or "no runs"), png, svg)
    print(f"figure group {name}: {', '.join(ablations)} -> {png}", file=sys.stderr)
save(final_accuracy_figure(summary, final), sm.output.final, sm.output.final_svg)
