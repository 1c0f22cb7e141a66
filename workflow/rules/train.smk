# One training rule per pack of seeds (seeds_per_job): a job trains one pack of one
# ablation and writes each seed's own outputs. (A rule's outputs cannot depend on a
# wildcard's value, so each pack's seed list is a rule of its own: train_seeds0-4 ->
# rule train_seeds0_4; with seeds_per_job: 1, rules train_seed0, train_seed1, ...)
for pack in SEED_PACKS:
    label = pack_label(pack)

    rule:
        name:
            "train_" + label.replace("-", "_")
        input:
            data="results/data/{dataset}.pt",
            code=TRAIN_CODE,
        output:
            metrics=[run_file("{dataset}", "{ablation}", s, "metrics.csv") for s in pack],
            runs=[run_file("{dataset}", "{ablation}", s, "run.json") for s in pack],
        params:
            # Resolved hyper-parameters as plain values: editing one ablation changes
            # only its jobs' params, so Snakemake reruns exactly those jobs.
            hparams=get_hparams,
            seeds=list(pack),
            on_divergence=STUDY["on_divergence"],
            checkpoints=get_checkpoints(pack),
        log:
            f"results/logs/train/{{dataset}}/{{ablation}}/{label}.log",
        benchmark:
            train_benchmark("{dataset}", "{ablation}", pack)
        priority: get_train_priority
        # One thread per job: the study is many small independent runs, so filling
        # the cores with jobs beats threading inside one (override with --set-threads).
        threads: 1
        resources:
            gpu=GPU_REQUEST,
            mem_mb=2000,
            runtime=60,
        script:
            "../scripts/train.py"
