# A job trains one pack of seeds (seeds_per_job) of one ablation on one dataset and writes
# each seed's own outputs into the pack's directory. One rule for every pack: the `pack`
# wildcard (seeds0-4, seeds5) names its seeds (get_pack_seeds), so `--set-resources train:...`
# and the profiles' `train:` entries reach every training job.
rule train:
    input:
        data=rules.prepare_dataset.output.data,
        code=code_of("train.py"),
    output:
        runs=directory(pack_dir("{dataset}", "{ablation}", "{pack}")),
    log:
        "results/logs/train/{dataset}/{ablation}/{pack}.log",
    benchmark:
        train_benchmark("{dataset}", "{ablation}", "{pack}")
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
        # Resolved hyper-parameters as plain values: editing one ablation (or one
        # dataset's protocol) changes only its jobs' params, so Snakemake reruns exactly those.
        hparams=get_hparams,
        seeds=get_pack_seeds,
        on_divergence=STUDY["on_divergence"],
    script:
        "../scripts/train.py"
