# Seeds as one curve with its band in TensorBoard (mlpstudy.seed_groups), beside the seeds'
# own runs that the training jobs write: each ablation's mean run, written as soon as its
# seeds have finished, and the custom-scalars layout of the figure groups.
# Turned off with the live curves (config tensorboard: false).


rule seed_group:
    input:
        runs=lambda w: ablation_pack_dirs(w.dataset, w.ablation),
        code=code_of("seed_group.py"),
    output:
        run=directory(str(mean_run_dir(TENSORBOARD_ROOT, "{dataset}", "{ablation}"))),
    log:
        "results/logs/tensorboard/{dataset}/{ablation}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/seed_group.py"


rule tensorboard_layout:
    input:
        code=code_of("tensorboard_layout.py"),
    output:
        run=directory(f"{TENSORBOARD_ROOT}/{LAYOUT_RUN}"),
    log:
        "results/logs/tensorboard/layout.log",
    conda:
        CONDA_ENV
    params:
        groups=layout_groups(),
    script:
        "../scripts/tensorboard_layout.py"
