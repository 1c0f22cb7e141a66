"""Check the report's claims against the runs.

Inputs:  input.final -- results/final.csv; input.code -- modules used.
Outputs: output.claims -- results/claims.csv (one row per claim: measured difference,
         95% CI, method, verdict, notes).
Params:  claims -- the config's list of claims.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.claims import check_claims

sm = snakemake  # noqa: F821
final = pd.read_csv(sm.input.final)
claims = check_claims([dict(c) for c in sm.params.claims], final)
claims.to_csv(sm.output.claims, index=False)
print(claims[["claim", "verdict", "difference", "ci_low", "ci_high"]].to_string(), file=sys.stderr)
