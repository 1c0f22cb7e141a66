"""Per-class test accuracy of each ablation against its reference on one dataset: a table and
a heatmap (mlpstudy.predictions.per_class_differences, mlpstudy.figures.per_class_figure).

Inputs:  input.runs -- the dataset's training jobs' directories (each seed's
         test_predictions.npz and run.json); input.code -- modules used.
Outputs: output.table -- results/datasets/{dataset}/per_class_accuracy.csv; output.png,
         output.svg -- results/figures/{dataset}/per_class.png/.svg.
Params:  references -- ablation -> the ablation it is compared with (mlpstudy.plan.references).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import json
from pathlib import Path

from mlpstudy.figures import per_class_figure, save
from mlpstudy.predictions import per_class_accuracy, per_class_differences
from mlpstudy.runs import runs_of_packs

sm = snakemake  # noqa: F821
accuracy = {}
for paths in runs_of_packs(sm.input.runs):
    run = json.loads(Path(paths["run"]).read_text())
    if run["status"] == "ok" and Path(paths["predictions"]).is_file():
        accuracy[run["ablation"], int(run["seed"])] = per_class_accuracy(paths["predictions"])
table = per_class_differences(accuracy, dict(sm.params.references))
table.to_csv(sm.output.table, index=False)
save(per_class_figure(table, sm.wildcards.dataset), sm.output.png, sm.output.svg)
print(f"{len(accuracy)} finished runs, {table['ablation'].nunique()} ablations -> "
      f"{sm.output.png}", file=sys.stderr)
