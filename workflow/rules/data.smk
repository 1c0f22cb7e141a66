rule prepare_dataset:
    input:
        code=code_of("prepare_dataset.py"),
    output:
        data="results/data/{dataset}.pt",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=get_data_options,
    script:
        "../scripts/prepare_dataset.py"
