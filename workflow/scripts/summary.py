"""Write the study's self-contained HTML summary.

Inputs:  input.final, input.ablation_stats, input.claims -- the tables; input.figures -- PNGs
         to embed; input.code -- modules used.
Outputs: output.html -- results/summary.html (one file, images embedded, no scripts);
         output.verdicts -- the verdicts as an HTML fragment, the head of the landing page of
         `snakemake --report` (workflow/report/workflow.rst).
Params:  figures -- (dataset, title, caption, png) list; forests -- study dataset -> its forest
         plot (PNG); datasets -- every dataset with runs; seeds (the first round's); adaptive
         (adaptive_seeds, or null); testing (how the claims were tested together, in words);
         config_hash; protocol; dataset_protocols (dataset -> the protocol keys it sets
         itself); ablations -- rows of (ablation, dataset, description, changes).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import platform

import pandas as pd

from mlpstudy.files import write_text_atomic
from mlpstudy.stats import VERDICT_RULES
from mlpstudy.summary import git_commit, render, verdicts_fragment, versions

sm = snakemake  # noqa: F821
final = pd.read_csv(sm.input.final)
stats = pd.read_csv(sm.input.ablation_stats, keep_default_na=True).fillna({"description": ""})
claims = pd.read_csv(sm.input.claims).fillna({"reference": "", "note": "", "method": "",
                                             "dataset": "", "uncertainty": "", "why_open": ""})
checksums = final[["dataset", "dataset_sha256"]].drop_duplicates().rename(
    columns={"dataset_sha256": "sha256"})
provenance = {"git commit": git_commit(sm.scriptdir or "."),
              "report written on": f"{platform.node()} ({platform.platform()})",
              **versions(final)}
html = render({
    "title": "MLP ablation study: summary",
    "datasets": list(sm.params.datasets),
    "seeds": list(sm.params.seeds), "config_hash": sm.params.config_hash,
    "adaptive": dict(sm.params.adaptive) if sm.params.adaptive else None,
    "testing": sm.params.testing,
    "protocol": dict(sm.params.protocol),
    "dataset_protocols": {d: dict(own) for d, own in sm.params.dataset_protocols.items()},
    "ablations": pd.DataFrame([dict(r) for r in sm.params.ablations]),
    "claims": claims, "ablation_stats": stats, "final": final,
    "figures": [tuple(f) for f in sm.params.figures],
    "provenance": provenance, "checksums": checksums, "verdict_rules": VERDICT_RULES,
})
write_text_atomic(sm.output.html, html)
write_text_atomic(sm.output.verdicts, verdicts_fragment(claims, dict(sm.params.forests)))
print(f"wrote {sm.output.html}: {len(html)} characters", file=sys.stderr)
