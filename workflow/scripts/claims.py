"""Check the report's claims against the runs, on every dataset each claim applies to.

Inputs:  input.final -- results/final.csv; input.metrics -- results/metrics.csv (the curves
         the curve metrics read); input.runs -- the training jobs' directories (their test
         predictions), when the test set counts as uncertain; input.code -- modules used.
Outputs: output.claims -- results/claims.csv (one row per claim and dataset: measured value,
         its interval at the level the verdict rests on, method, verdict, how it was tested).
Params:  claims -- the config's claims, each with `datasets`: where it is checked;
         rounds -- the seeds of each round with adaptive seeds (each dataset's claims tested
         as a family over the looks, mlpstudy.sequential), else null (one look);
         uncertainty -- what the intervals count as uncertain: seeds, and test_set.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.claims import claims_table
from mlpstudy.predictions import right_of_runs
from mlpstudy.runs import runs_of_packs

sm = snakemake  # noqa: F821
final = pd.read_csv(sm.input.final)
metrics = pd.read_csv(sm.input.metrics)
rounds = [list(r) for r in sm.params.rounds] if sm.params.rounds else None
right = right_of_runs(runs_of_packs(sm.input.runs)) if "test_set" in sm.params.uncertainty else None
claims = claims_table([dict(c) for c in sm.params.claims], final, metrics, rounds, right)
claims.to_csv(sm.output.claims, index=False)
print(claims[["dataset", "claim", "verdict", "difference", "ci_low", "ci_high"]].to_string(),
      file=sys.stderr)
