"""Put the datasets' tables one after the other into the study-wide tables.

Inputs:  input.metrics, input.final, input.ablation_stats -- results/datasets/{dataset}/*.csv of
         every dataset with runs, in the same order.
Outputs: output.metrics, output.final, output.ablation_stats -- results/metrics.csv, final.csv,
         ablation_stats.csv (the same columns, a `dataset` column telling the rows apart).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import pandas as pd

sm = snakemake  # noqa: F821
for name in ("metrics", "final", "ablation_stats"):
    tables = [pd.read_csv(path) for path in sm.input[name]]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if name == "final" and "diverged_at_step" in table:
        table["diverged_at_step"] = table["diverged_at_step"].astype("Int64")
    table.to_csv(sm.output[name], index=False)
    print(f"{name}: {len(table)} rows from {len(tables)} dataset(s)", file=sys.stderr)
