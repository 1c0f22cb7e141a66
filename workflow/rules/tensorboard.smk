# Seeds as one curve with its band in TensorBoard (mlpstudy.seed_groups), beside the seeds'
# own runs that the training jobs write: each ablation's mean run, written by seed_group over
# all of its seeds as soon as they are done (and, where the ablation has several training
# jobs, by each of them over the seeds finished so far), and the custom-scalars layout of
# the figure groups.
# Turned off with the live curves (config tensorboard: false).


rule seed_group:
    input:
        runs=lambda w: ablation_pack_dirs(w.dataset, w.ablation),
        code=code_of("seed_group.py"),
    output:
        # The one file of the run's that is this job's alone (the training jobs' so-far
        # files beside it are a side channel, removed here).
        run=str(mean_run_file(TENSORBOARD_ROOT, "{dataset}", "{ablation}")),
    log:
        "results/logs/tensorboard/{dataset}/{ablation}.log",
    # Above every training job's (thousands of weights, plan.train_priority): the mean run
    # is written as soon as its ablation's seeds are, not after the whole study's training.
    priority: 1_000_000_000
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
