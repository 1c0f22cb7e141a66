"""One look of an adaptive study: test a dataset's claims on the rounds of seeds so far and
say which ablations the still-open claims want the next round's seeds for.

Inputs:  input.runs -- the dataset's training jobs' directories of rounds 0..look;
         input.code -- modules used.
Outputs: output.plan -- results/rounds/{dataset}/look{look}.json: the look, the claims
         decided, open, and stopped for futility (with the seeds each would need), and
         `extend`, the ablations of the next round.
Params:  claims -- the config's claims checked on this dataset; rounds -- the seeds of each
         round (mlpstudy.plan.round_seeds); uncertainty -- seeds, and test_set (the runs'
         test predictions then count, as in claims.csv).
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

from mlpstudy.aggregate import load_runs
from mlpstudy.claims import Observations, curves_by_split, dataset_claims, needed_text
from mlpstudy.plan import compared
from mlpstudy.files import write_json_atomic
from mlpstudy.predictions import right_of_runs
from mlpstudy.runs import runs_of_packs
from mlpstudy.sequential import extend

sm = snakemake  # noqa: F821
dataset, look = sm.wildcards.dataset, int(sm.wildcards.look)
rounds = [list(r) for r in sm.params.rounds]
runs = runs_of_packs(sm.input.runs)
metrics, final = load_runs(runs)
right = right_of_runs(runs) if "test_set" in sm.params.uncertainty else None
rows, tracks = dataset_claims([dict(c) for c in sm.params.claims], final,
                              Observations(curves_by_split(metrics), right), dataset, rounds,
                              looks=look + 1)
open_ = [t for t in tracks if t.decided_at is None]
plan = {"dataset": dataset, "look": look, "seeds": len(set(final["seed"])),
        "decided": [t.claim["text"] for t in tracks if t.decided_at is not None],
        "open": [t.claim["text"] for t in open_],
        "futile": {t.claim["text"]: needed_text(t)
                   for t in open_ if not t.wants_seeds},
        "extend": extend(tracks, compared) if look + 1 < len(rounds) else []}
write_json_atomic(sm.output.plan, plan)
for row in rows:
    print(f"{row['verdict']:>12}  looks {row['looks']}  levels {row['look_levels'] or '-':<24} "
          f"{row['claim']}", file=sys.stderr)
for text, why in plan["futile"].items():
    print(f"stops getting seeds ({why}): {text}", file=sys.stderr)
print(f"look {look} on {dataset}: {len(plan['decided'])} decided, {len(plan['open'])} open "
      f"({len(plan['futile'])} of them stopped); next round for: "
      f"{', '.join(plan['extend']) or 'nothing'}", file=sys.stderr)
