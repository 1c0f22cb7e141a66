"""Write TensorBoard's custom-scalars layout: each figure group as the summary page draws it.

Inputs:  input.code -- modules used.
Outputs: output.run -- results/tensorboard/figure.groups, one event file with the layout.
Params:  groups -- dataset -> figure group -> its ablations on that dataset, in config order.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from mlpstudy.figures import PANELS
from mlpstudy.seed_groups import layout, write_layout

sm = snakemake  # noqa: F821
groups = {dataset: dict(g) for dataset, g in dict(sm.params.groups).items()}
study_layout = layout(groups, PANELS)
path = write_layout(sm.output.run, study_layout)
print(f"{len(study_layout.category)} categories of margin charts -> {path}", file=sys.stderr)
