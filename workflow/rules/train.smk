rule train:
    input:
        data="results/data/{dataset}.pt",
        code=TRAIN_CODE,
    output:
        metrics=f"{RUN_DIR}/metrics.csv",
        run=f"{RUN_DIR}/run.json",
    params:
        # Resolved hyper-parameters as plain values: editing one ablation changes
        # only its jobs' params, so Snakemake reruns exactly those jobs.
        hparams=get_hparams,
        on_divergence=STUDY["on_divergence"],
        # Outside the declared outputs, so Snakemake never deletes it when a job dies.
        checkpoint="results/checkpoints/{dataset}/{ablation}/seed{seed}.pt",
    log:
        "results/logs/train/{dataset}/{ablation}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{ablation}/seed{seed}.tsv"
    # One thread per job: the study is many small independent runs, so filling
    # the cores with jobs beats threading inside one (override with --set-threads).
    threads: 1
    resources:
        gpu=GPU_REQUEST,
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/train.py"
