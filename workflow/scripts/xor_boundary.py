"""Draw the decision boundary of the XOR ablation's models with their training points.

The runs keep no weights (a whole study's would be hundreds of MB, for one figure), so
the models are retrained here from each run's recorded hyper-parameters and seed, on
CPU, which is deterministic; a few seconds for XOR. The figure says
whether the retrained model's final accuracies equal the recorded run's.

Inputs:  input.data -- results/data/xor.pt; input.runs -- the ablation's training jobs'
         directories (a seed{N}/run.json per seed);
         input.code -- training and figure modules.
Outputs: output.png, output.svg -- results/figures/xor_boundary_{ablation}.png/.svg.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import json
import math

import torch

from mlpstudy.datasets import load_prepared
from mlpstudy.figures import save, xor_boundary_figure
from mlpstudy.runs import runs_of_packs
from mlpstudy.training import train_seed

MAX_PANELS = 5
sm = snakemake  # noqa: F821
torch.set_num_threads(1)
data = load_prepared(sm.input.data)
models, matches = [], []
for paths in runs_of_packs(sm.input.runs):
    run = json.loads(paths["run"].read_text())
    if run["status"] != "ok" or len(models) == MAX_PANELS:
        continue
    result = train_seed(run["hparams"], data, run["seed"], torch.device("cpu"),
                   log=lambda line: print(line, file=sys.stderr))
    models.append((run["seed"], result.model))
    same = all(math.isclose(result.final[k], run["final"][k], abs_tol=1e-6) for k in run["final"])
    matches.append(same)
    print(f"seed {run['seed']}: retrained final {result.final}, recorded {run['final']}, "
          f"{'identical' if same else 'DIFFERENT'}", file=sys.stderr)
check = ("retrained models match the recorded runs" if matches and all(matches)
         else "note: a retrained model differs from its recorded run (e.g. recorded on a GPU)")
title = f"XOR decision boundary, ablation {sm.wildcards.ablation} ({check})"
if not models:
    title = f"XOR, ablation {sm.wildcards.ablation}: every run diverged, no boundary to draw"
save(xor_boundary_figure(models, data["train_x"], data["train_y"], title), sm.output.png,
     sm.output.svg)
