# From runs to a verdict: tables, figures, claims check and the HTML summary.
# Figure groups and claims reach their rules as params, and each rule declares as
# input only the package modules it imports: editing a claim or plotting code
# reruns the report jobs, never a training job.

REPORT = "../report"
FIGURES = "results/figures"


def report_code(*modules):
    return [str(PACKAGE / f"{m}.py") for m in ("__init__", *modules)]


def run_files(name):
    return [run_file(d, a, s, name) for d, a, s in study_runs()]


def benchmark_files():
    """The benchmark of the job that trained each run (a pack's seeds share one)."""
    return [train_benchmark(d, a, PACK_OF_SEED[s]) for d, a, s in study_runs()]


def xor_ablations():
    """Ablations trained on the xor dataset: each gets a decision-boundary figure."""
    return [a for a in STUDY["ablations"] if study_config.dataset_of(STUDY, a) == "xor"]


def group_pngs():
    return [f"{FIGURES}/curves_{g}.png" for g in STUDY["figure_groups"]]


def figure_list():
    """(title, caption, png) of every figure, in the order the summary shows them."""
    figs = [(f"Training curves: {g}",
             "Training loss (full training set, log scale), train and test accuracy against "
             "iteration: line = mean over seeds, band = min-max over seeds; a red x marks where "
             "a diverged seed stopped. Each ablation's own loss is shown (kl_div's KL divergence "
             "is not on cross-entropy's scale). Accuracy axes are shared and zoomed on the end of "
             "training, so the first evaluations may lie below the axis.",
             f"{FIGURES}/curves_{g}.png") for g in STUDY["figure_groups"]]
    figs.append(("Final test accuracy per ablation",
                 "Mean over non-diverged seeds with its 95% Student t interval (blue), "
                 "every seed as a grey dot, diverged seeds as red crosses.",
                 f"{FIGURES}/final_accuracy.png"))
    figs += [(f"XOR decision boundary: {a}",
              "P(class 1) of the trained model over the input plane, the 0.5 boundary "
              "(black) and the training points, one panel per seed (the model is retrained "
              "from the run's hyper-parameters; the caption line in the figure says whether "
              "it matches the recorded run).",
              f"{FIGURES}/xor_boundary_{a}.png") for a in xor_ablations()]
    return figs


def report_outputs():
    """Every file the report rules make: what rule all asks for."""
    return (["results/metrics.csv", "results/final.csv", "results/summary.csv",
             "results/claims.csv", "results/summary.html"]
            + [png for _, _, png in figure_list()]
            + [png[:-4] + ".svg" for _, _, png in figure_list()])


rule aggregate:
    input:
        runs=run_files("run.json"),
        metrics=run_files("metrics.csv"),
        benchmarks=benchmark_files(),
        code=report_code("aggregate", "stats"),
    output:
        metrics="results/metrics.csv",
        final=report("results/final.csv", caption=f"{REPORT}/final.rst", category="Tables"),
        summary=report("results/summary.csv", caption=f"{REPORT}/summary.rst", category="Tables"),
    params:
        descriptions={a: spec.get("description", "") for a, spec in STUDY["ablations"].items()},
    log:
        "results/logs/report/aggregate.log",
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/aggregate.py"


rule claims:
    input:
        final="results/final.csv",
        code=report_code("claims", "stats"),
    output:
        claims=report("results/claims.csv", caption=f"{REPORT}/claims.rst", category="Claims"),
    params:
        claims=STUDY["claims"],
    log:
        "results/logs/report/claims.log",
    script:
        "../scripts/claims.py"


rule figures:
    input:
        metrics="results/metrics.csv",
        final="results/final.csv",
        summary="results/summary.csv",
        code=report_code("figures"),
    output:
        groups=[report(p, caption=f"{REPORT}/curves.rst", category="Figures",
                       labels={"figure": Path(p).stem}) for p in group_pngs()],
        group_svgs=[p[:-4] + ".svg" for p in group_pngs()],
        final=report(f"{FIGURES}/final_accuracy.png", caption=f"{REPORT}/final_accuracy.rst",
                     category="Figures", labels={"figure": "final_accuracy"}),
        final_svg=f"{FIGURES}/final_accuracy.svg",
    params:
        groups=STUDY["figure_groups"],
    log:
        "results/logs/report/figures.log",
    script:
        "../scripts/figures.py"


rule xor_boundary:
    input:
        data="results/data/xor.pt",
        runs=lambda w: [run_file("xor", w.ablation, s, "run.json") for s in STUDY["seeds"]],
        code=TRAIN_CODE + report_code("figures"),
    output:
        png=report(f"{FIGURES}/xor_boundary_{{ablation}}.png", caption=f"{REPORT}/xor.rst",
                   category="Figures", labels={"figure": "xor_boundary_{ablation}"}),
        svg=f"{FIGURES}/xor_boundary_{{ablation}}.svg",
    log:
        "results/logs/report/xor_boundary_{ablation}.log",
    script:
        "../scripts/xor_boundary.py"


rule summary:
    input:
        final="results/final.csv",
        summary="results/summary.csv",
        claims="results/claims.csv",
        figures=[png for _, _, png in figure_list()],
        code=report_code("summary", "files"),
    output:
        html="results/summary.html",
    params:
        figures=figure_list(),
        seeds=STUDY["seeds"],
        config_hash=study_config.config_hash(STUDY),
        protocol=STUDY["protocol"],
        ablations=[{"ablation": a, "dataset": study_config.dataset_of(STUDY, a),
                    "description": spec.get("description", ""),
                    "changes": ", ".join(f"{k}={v}" for k, v in spec.items()
                                         if k not in ("description", "dataset")) or "none"}
                   for a, spec in STUDY["ablations"].items()],
    log:
        "results/logs/report/summary.log",
    script:
        "../scripts/summary.py"
