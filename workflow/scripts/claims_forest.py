"""Draw one dataset's claims as a forest plot (mlpstudy.figures.claims_forest_figure).

Inputs:  input.claims -- results/claims.csv; input.code -- modules used.
Outputs: output.png, output.svg -- results/figures/{dataset}/claims_forest.png/.svg.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

from mlpstudy.figures import claims_forest_figure, save

sm = snakemake  # noqa: F821
dataset = sm.wildcards.dataset
claims = pd.read_csv(sm.input.claims).fillna({"reference": ""})
mine = claims[claims["dataset"] == dataset]
save(claims_forest_figure(mine, dataset), sm.output.png, sm.output.svg)
print(f"{len(mine)} claims on {dataset} -> {sm.output.png}", file=sys.stderr)
