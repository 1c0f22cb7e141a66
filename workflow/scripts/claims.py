"""Check the report's claims against the runs, on every dataset each claim applies to.

Inputs:  input.final -- results/final.csv; input.metrics -- results/metrics.csv (the curves
         the curve metrics read); input.code -- modules used.
Outputs: output.claims -- results/claims.csv (one row per claim and dataset: measured value,
         95% CI, method, verdict, notes).
Params:  claims -- the config's claims, each with `datasets`: where it is checked.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.claims import check_claims

sm = snakemake  # noqa: F821
final = pd.read_csv(sm.input.final)
metrics = pd.read_csv(sm.input.metrics)
claims = check_claims([dict(c) for c in sm.params.claims], final, metrics)
claims.to_csv(sm.output.claims, index=False)
print(claims[["dataset", "claim", "verdict", "difference", "ci_low", "ci_high"]].to_string(),
      file=sys.stderr)
