# From runs to a verdict: tables, figures, claims check and the HTML summary.
# Figure groups and claims reach their rules as params, and each rule declares as
# input only the package modules it imports: editing a claim or plotting code
# reruns the report jobs, never a training job.

REPORT = "../report"
FIGURES = "results/figures"


def run_files(name, dataset=None):
    return [run_file(d, a, s, name) for d, a, s in study_runs(dataset)]


def benchmark_files(dataset=None):
    """The benchmark of the job that trained each run (a pack's seeds share one)."""
    return [train_benchmark(d, a, PACK_OF_SEED[s]) for d, a, s in study_runs(dataset)]


def run_datasets():
    """Every dataset with runs: the study's datasets, then those ablations name themselves."""
    return list(dict.fromkeys(d for d, _, _ in study_runs()))


def dataset_table(name):
    return lambda w: [f"results/datasets/{d}/{name}.csv" for d in run_datasets()]


def ablations_on(dataset):
    return [a for a in STUDY["ablations"] if dataset in study_config.datasets_of(STUDY, a)]


def xor_ablations():
    """Ablations trained on the xor dataset: each gets a decision-boundary figure."""
    return ablations_on("xor")


def sweep_params():
    """sweep -> its description, swept keys and expanded points (what the sweep figure needs)."""
    return {name: {"description": sweep.get("description", ""), "keys": list(sweep["values"]),
                   "points": study_config.sweep_points(name, sweep)}
            for name, sweep in STUDY["sweeps"].items()}


CURVES_CAPTION = (
    "Training loss (full training set, log scale), train and test accuracy against "
    "iteration: line = mean over seeds, band = min-max over seeds; a red x marks where "
    "a diverged seed stopped. Each ablation's own loss is shown (kl_div's KL divergence "
    "is not on cross-entropy's scale). Accuracy axes are shared and zoomed on the end of "
    "training, so the first evaluations may lie below the axis.")
FINAL_CAPTION = (
    "Final test accuracy (blue diamond: mean over non-diverged seeds with its 95% Student t "
    "interval; grey dots: each seed) and stable accuracy (orange square: mean of the last "
    "evaluations, with its interval); diverged seeds as red crosses.")
SWEEP_CAPTION = (
    "Stable test accuracy (mean of the last 10 evaluations) against the swept value: "
    "line = mean over the non-diverged seeds of each starting ablation, bars = 95% t "
    "interval, grey dots = each seed; a red x with its count marks the seeds that diverged "
    "at that value.")


def figure_files(dataset):
    """(title, caption, png) of one study dataset's figures, in the order the summary shows them."""
    figs = [(f"Training curves: {g}", CURVES_CAPTION, f"{FIGURES}/{dataset}/curves_{g}.png")
            for g in STUDY["figure_groups"]]
    figs.append(("Final and stable test accuracy per ablation", FINAL_CAPTION,
                 f"{FIGURES}/{dataset}/final_accuracy.png"))
    figs += [(f"Sweep {name}", SWEEP_CAPTION, f"{FIGURES}/{dataset}/sweep_{name}.png")
             for name in STUDY["sweeps"]]
    return figs


def figure_list():
    """(dataset, title, caption, png) of every figure: per study dataset, then XOR boundaries."""
    figs = [(d, title, caption, png) for d in STUDY["datasets"]
            for title, caption, png in figure_files(d)]
    figs += [("xor", f"XOR decision boundary: {a}",
              "P(class 1) of the trained model over the input plane, the 0.5 boundary "
              "(black) and the training points, one panel per seed (the model is retrained "
              "from the run's hyper-parameters; the caption line in the figure says whether "
              "it matches the recorded run).",
              f"{FIGURES}/xor_boundary_{a}.png") for a in xor_ablations()]
    return figs


def report_outputs():
    """Every file the report rules make: what rule all asks for."""
    pngs = [png for _, _, _, png in figure_list()]
    return (["results/metrics.csv", "results/final.csv", "results/ablation_stats.csv",
             "results/claims.csv", "results/summary.html"]
            + [f"results/datasets/{d}/{n}.csv" for d in run_datasets()
               for n in ("metrics", "final", "ablation_stats")]
            + pngs + [png[:-4] + ".svg" for png in pngs])


def figure_outputs(kind):
    """Output patterns of the figures rule (one job per study dataset)."""
    return {"groups": [f"{FIGURES}/{{dataset}}/curves_{g}.png" for g in STUDY["figure_groups"]],
            "sweeps": [f"{FIGURES}/{{dataset}}/sweep_{s}.png" for s in STUDY["sweeps"]]}[kind]


rule aggregate:
    input:
        runs=lambda w: run_files("run.json", w.dataset),
        metrics=lambda w: run_files("metrics.csv", w.dataset),
        benchmarks=lambda w: benchmark_files(w.dataset),
        code=code_of("aggregate.py"),
    output:
        metrics="results/datasets/{dataset}/metrics.csv",
        final="results/datasets/{dataset}/final.csv",
        ablation_stats="results/datasets/{dataset}/ablation_stats.csv",
    params:
        descriptions=lambda w: {a: STUDY["ablations"][a].get("description", "")
                                for a in ablations_on(w.dataset)},
    log:
        "results/logs/report/aggregate_{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/aggregate.py"


# The study-wide tables: the datasets' tables one after the other. Adding a dataset
# reruns this cheap concatenation, never another dataset's aggregate or figures.
rule combine:
    input:
        metrics=dataset_table("metrics"),
        final=dataset_table("final"),
        ablation_stats=dataset_table("ablation_stats"),
    output:
        metrics="results/metrics.csv",
        final=report("results/final.csv", caption=f"{REPORT}/final.rst", category="Tables"),
        ablation_stats=report(
            "results/ablation_stats.csv", caption=f"{REPORT}/ablation_stats.rst", category="Tables"
        ),
    log:
        "results/logs/report/combine.log",
    script:
        "../scripts/combine.py"


rule claims:
    input:
        final="results/final.csv",
        metrics="results/metrics.csv",
        code=code_of("claims.py"),
    output:
        claims=report("results/claims.csv", caption=f"{REPORT}/claims.rst", category="Claims"),
    params:
        # Each claim with the datasets it is checked on (those where its ablations run).
        claims=[{**c, "datasets": study_config.claim_datasets(STUDY, c)} for c in STUDY["claims"]],
    log:
        "results/logs/report/claims.log",
    script:
        "../scripts/claims.py"


rule figures:
    input:
        metrics="results/datasets/{dataset}/metrics.csv",
        final="results/datasets/{dataset}/final.csv",
        ablation_stats="results/datasets/{dataset}/ablation_stats.csv",
        code=code_of("figures.py"),
    output:
        groups=[report(p, caption=f"{REPORT}/curves.rst", category="Figures",
                       subcategory="{dataset}", labels={"figure": Path(p).stem})
                for p in figure_outputs("groups")],
        group_svgs=[p[:-4] + ".svg" for p in figure_outputs("groups")],
        final=report(f"{FIGURES}/{{dataset}}/final_accuracy.png",
                     caption=f"{REPORT}/final_accuracy.rst", category="Figures",
                     subcategory="{dataset}", labels={"figure": "final_accuracy"}),
        final_svg=f"{FIGURES}/{{dataset}}/final_accuracy.svg",
        sweeps=[report(p, caption=f"{REPORT}/sweep.rst", category="Figures",
                       subcategory="{dataset}", labels={"figure": Path(p).stem})
                for p in figure_outputs("sweeps")],
        sweep_svgs=[p[:-4] + ".svg" for p in figure_outputs("sweeps")],
    params:
        groups=STUDY["figure_groups"],
        sweeps=sweep_params(),
    log:
        "results/logs/report/figures_{dataset}.log",
    script:
        "../scripts/figures.py"


rule xor_boundary:
    input:
        data="results/data/xor.pt",
        runs=lambda w: [run_file("xor", w.ablation, s, "run.json") for s in STUDY["seeds"]],
        code=code_of("xor_boundary.py"),
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
        ablation_stats="results/ablation_stats.csv",
        claims="results/claims.csv",
        figures=[png for _, _, _, png in figure_list()],
        code=code_of("summary.py"),
    output:
        html="results/summary.html",
    params:
        figures=figure_list(),
        datasets=run_datasets(),
        seeds=STUDY["seeds"],
        config_hash=study_config.config_hash(STUDY),
        protocol=STUDY["protocol"],
        ablations=[{"ablation": a, "dataset": ", ".join(study_config.datasets_of(STUDY, a)),
                    "description": spec.get("description", ""),
                    "changes": ", ".join(f"{k}={v}" for k, v in spec.items()
                                         if k not in ("description", "dataset")) or "none"}
                   for a, spec in STUDY["ablations"].items()],
    log:
        "results/logs/report/summary.log",
    script:
        "../scripts/summary.py"
