# Adaptive seeds (config adaptive_seeds): after each round of seeds, the claims are tested
# on each dataset (a look); the claims still open ask for the next round's seeds for their
# ablations. Each look is a checkpoint: the DAG is re-evaluated once it is done, and the
# next round's training jobs (mlpstudy.plan: extended, packs_of) are the ones it asked for.


checkpoint plan_round:
    input:
        runs=lambda w: pack_dirs(w.dataset, looks=int(w.look) + 1),
        code=code_of("plan_round.py"),
    output:
        plan="results/rounds/{dataset}/look{look}.json",
    log:
        "results/logs/rounds/{dataset}/look{look}.log",
    conda:
        CONDA_ENV
    params:
        claims=lambda w: [c for c in STUDY["claims"] if w.dataset in c["datasets"]],
        rounds=ROUNDS,
        uncertainty=STUDY["uncertainty"],
    script:
        "../scripts/plan_round.py"
