rule prepare_dataset:
    output:
        data="results/data/{dataset}.pt",
    params:
        options=get_data_options,
    input:
        code=code_of("prepare_dataset.py"),
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/prepare_dataset.py"
