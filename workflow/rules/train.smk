# A job trains one pack of seeds (seeds_per_job) of one ablation and writes each seed's
# own outputs. A rule's outputs cannot depend on a wildcard's value, so each pack is a
# rule of its own: `train` when all seeds are one pack (the default), else one rule per
# pack named after its seeds (train_seeds0_1, train_seeds2_3, train_seed4).
for pack in SEED_PACKS:
    label = pack_label(pack)

    rule:
        name:
            "train" if len(SEED_PACKS) == 1 else "train_" + label.replace("-", "_")
        input:
            data=rules.prepare_dataset.output.data,
            code=TRAIN_CODE,
        output:
            metrics=[run_file("{dataset}", "{ablation}", s, "metrics.csv") for s in pack],
            runs=[run_file("{dataset}", "{ablation}", s, "run.json") for s in pack],
        log:
            f"results/logs/train/{{dataset}}/{{ablation}}/{label}.log",
        benchmark:
            train_benchmark("{dataset}", "{ablation}", pack)
        priority: get_train_priority
        conda:
            CONDA_ENV
        # One thread per job: the study is many small independent runs, so filling
        # the cores with jobs beats threading inside one (override with --set-threads).
        threads: 1
        resources:
            gpu=GPU_REQUEST,
            mem_mb=2000,
            runtime=60,
        params:
            # Resolved hyper-parameters as plain values: editing one ablation changes
            # only its jobs' params, so Snakemake reruns exactly those jobs.
            hparams=get_hparams,
            seeds=list(pack),
            on_divergence=STUDY["on_divergence"],
            checkpoints=get_checkpoints(pack),
        script:
            "../scripts/train.py"
