# From runs to a verdict: tables, figures, claims check and the HTML summary page.
# Figure groups and claims reach their rules as params, and each rule declares as
# input only the package modules it imports: editing a claim or plotting code
# reruns the report jobs, never a training job. Their helpers are in report_common.smk.
rule aggregate:
    input:
        runs=lambda w: pack_dirs(w.dataset),
        benchmarks=lambda w: benchmark_files(w.dataset),
        code=code_of("aggregate.py"),
    output:
        metrics="results/datasets/{dataset}/metrics.csv",
        final="results/datasets/{dataset}/final.csv",
        ablation_stats="results/datasets/{dataset}/ablation_stats.csv",
    log:
        "results/logs/report/aggregate_{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        descriptions=lambda w: {
            a: STUDY["ablations"][a]["description"] for a in plan.ablations_on(STUDY, w.dataset)
        },
    script:
        "../scripts/aggregate.py"


# The study-wide tables: the datasets' tables one after the other. Adding a dataset
# reruns this cheap concatenation, never another dataset's aggregate or figures.
rule combine:
    input:
        metrics=dataset_tables(rules.aggregate.output.metrics),
        final=dataset_tables(rules.aggregate.output.final),
        ablation_stats=dataset_tables(rules.aggregate.output.ablation_stats),
    output:
        metrics="results/metrics.csv",
        final=report("results/final.csv", caption=f"{REPORT}/final.rst", category="Tables"),
        ablation_stats=report(
            "results/ablation_stats.csv",
            caption=f"{REPORT}/ablation_stats.rst",
            category="Tables",
        ),
    log:
        "results/logs/report/combine.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/combine.py"


rule claims:
    input:
        final=rules.combine.output.final,
        metrics=rules.combine.output.metrics,
        # Each run's test predictions, where the test set's sampling counts (uncertainty).
        runs=lambda w: pack_dirs() if "test_set" in STUDY["uncertainty"] else [],
        code=code_of("claims.py"),
    output:
        claims=report("results/claims.csv", caption=f"{REPORT}/claims.rst", category="Claims"),
    log:
        "results/logs/report/claims.log",
    conda:
        CONDA_ENV
    params:
        # Each claim with the datasets it is checked on (those where its ablations run).
        claims=STUDY["claims"],
        # The seeds of each round when adaptive (the claims tested as a family over the looks).
        rounds=ROUNDS if STUDY["adaptive_seeds"] else None,
        uncertainty=STUDY["uncertainty"],
        # For the caption of claims.csv in Snakemake's report (claims.rst).
        verdict_rules=VERDICT_RULES,
        testing=TESTING,
    script:
        "../scripts/claims.py"


rule figures:
    input:
        metrics=rules.aggregate.output.metrics,
        final=rules.aggregate.output.final,
        ablation_stats=rules.aggregate.output.ablation_stats,
        code=code_of("figures.py"),
    output:
        groups=[figure_report(stem, caption) for stem, caption, _ in DATASET_FIGURES["groups"]],
        group_svgs=[figure_svg(stem) for stem, _, _ in DATASET_FIGURES["groups"]],
        final=figure_report(*DATASET_FIGURES["final"][0][:2]),
        final_svg=figure_svg(DATASET_FIGURES["final"][0][0]),
        sweeps=[figure_report(stem, caption) for stem, caption, _ in DATASET_FIGURES["sweeps"]],
        sweep_svgs=[figure_svg(stem) for stem, _, _ in DATASET_FIGURES["sweeps"]],
    log:
        "results/logs/report/figures_{dataset}.log",
    conda:
        CONDA_ENV
    params:
        groups=STUDY["figure_groups"],
        sweeps=sweep_params(),
    script:
        "../scripts/figures.py"


rule claims_forest:
    input:
        claims=rules.claims.output.claims,
        code=code_of("claims_forest.py"),
    output:
        png=figure_report(*DATASET_FIGURES["forest"][0][:2]),
        svg=figure_svg(DATASET_FIGURES["forest"][0][0]),
    log:
        "results/logs/report/claims_forest_{dataset}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/claims_forest.py"


rule per_class:
    input:
        runs=lambda w: pack_dirs(w.dataset),
        code=code_of("per_class.py"),
    output:
        table="results/datasets/{dataset}/per_class_accuracy.csv",
        png=figure_report(*DATASET_FIGURES["per_class"][0][:2]),
        svg=figure_svg(DATASET_FIGURES["per_class"][0][0]),
    log:
        "results/logs/report/per_class_{dataset}.log",
    conda:
        CONDA_ENV
    params:
        references=lambda w: plan.references(STUDY, w.dataset),
    script:
        "../scripts/per_class.py"


rule xor_boundary:
    input:
        data=expand(rules.prepare_dataset.output.data, dataset="xor")[0],
        runs=lambda w: ablation_pack_dirs("xor", w.ablation),
        code=code_of("xor_boundary.py"),
    output:
        png=report(
            xor_boundary_png(),
            caption=f"{REPORT}/xor.rst",
            category="Figures",
            labels={"figure": "xor_boundary_{ablation}"},
        ),
        svg=f"{FIGURES}/xor_boundary_{{ablation}}.svg",
    log:
        "results/logs/report/xor_boundary_{ablation}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/xor_boundary.py"


FIGURE_LIST = figure_list()


rule summary:
    input:
        final=rules.combine.output.final,
        ablation_stats=rules.combine.output.ablation_stats,
        claims=rules.claims.output.claims,
        figures=[png for *_, png in FIGURE_LIST],
        code=code_of("summary.py"),
    output:
        html=report("results/summary.html", caption=f"{REPORT}/summary.rst", category="Summary"),
        # Read by the report's landing page (workflow/report/workflow.rst).
        verdicts="results/report/verdicts.html",
    log:
        "results/logs/report/summary.log",
    conda:
        CONDA_ENV
    params:
        figures=FIGURE_LIST,
        forests={d: figure_png(DATASET_FIGURES["forest"][0][0], d) for d in STUDY["datasets"]},
        datasets=plan.run_datasets(STUDY),
        seeds=ROUNDS[0],
        adaptive=STUDY["adaptive_seeds"],
        testing=TESTING,
        config_hash=plan.config_hash(STUDY),
        protocol=STUDY["protocol"],
        dataset_protocols={d: plan.dataset_protocol(STUDY, d) for d in plan.run_datasets(STUDY)},
        ablations=ablation_rows(),
    script:
        "../scripts/summary.py"
