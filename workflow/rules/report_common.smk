# The helpers of the report's rules (report.smk): the figures each dataset gets and their
# files, captions and order on the summary page, the tables' inputs, the sweeps' points.
# Apart from the rules, as `snakemake --lint` asks.
from types import SimpleNamespace

import jinja2

# How a dataset's claims are tested together, and the verdict rules, in words (summary page,
# claims caption).
from mlpstudy.sequential import TESTING
from mlpstudy.stats import VERDICT_RULES

# Paths relative to the rule files (captions) and to the working directory (figures).
REPORT = "../report"
FIGURES = "results/figures"


def benchmark_files(dataset=None):
    """The benchmark of each training job, in the order of pack_dirs."""
    return [train_benchmark(*job) for job in plan.train_jobs(STUDY, look_extends, dataset)]


def dataset_tables(pattern):
    """One of aggregate's tables for every dataset with runs."""
    return expand(pattern, dataset=plan.run_datasets(STUDY))


def sweep_params():
    """sweep -> its description, swept keys and expanded points (what the sweep figure needs)."""
    return {
        name: {
            "description": sweep["description"],
            "keys": list(sweep["values"]),
            "points": plan.sweep_points(name, sweep, STUDY),
        }
        for name, sweep in STUDY["sweeps"].items()
    }


def ablation_rows():
    """What the summary page lists for each ablation: its datasets, description and changes."""
    return [
        {
            "ablation": a,
            "dataset": ", ".join(plan.datasets_of(STUDY, a)),
            "description": spec["description"],
            "changes": ", ".join(f"{k}={v}" for k, v in plan.overrides(STUDY, spec).items())
            or "none",
        }
        for a, spec in STUDY["ablations"].items()
    ]


def figure_png(stem, dataset="{dataset}"):
    return f"{FIGURES}/{dataset}/{stem}.png"


def figure_report(stem, caption):
    """A PNG `{stem}.png` of one dataset, shown in Snakemake's report."""
    return report(
        figure_png(stem),
        caption=f"{REPORT}/{caption}.rst",
        category="Figures",
        subcategory="{dataset}",
        labels={"figure": stem},
    )


def figure_svg(stem):
    return f"{FIGURES}/{{dataset}}/{stem}.svg"


# Each study dataset's figures as (file stem, caption, title), by the rule output that makes
# them (claims_forest; the figures rule's groups, final, sweeps; per_class), in the order
# the summary page shows them: the rules' outputs and the page read this one list.
DATASET_FIGURES = {
    "forest": [("claims_forest", "claims_forest", "The claims at a glance")],
    "groups": [(f"curves_{g}", "curves", f"Training curves: {g}") for g in STUDY["figure_groups"]],
    "final": [("final_accuracy", "final_accuracy", "Final and stable test accuracy per ablation")],
    "per_class": [
        ("per_class", "per_class", "Where each ablation wins or loses: per-class accuracy")
    ],
    "sweeps": [(f"sweep_{s}", "sweep", f"Sweep {s}") for s in STUDY["sweeps"]],
}


def xor_boundary_png(ablation="{ablation}"):
    return f"{FIGURES}/xor_boundary_{ablation}.png"


def caption_text(name, **wildcards):
    """A figure's caption as plain text for the summary page, from the .rst file that
    Snakemake's report shows (its wildcards filled in, rst markup dropped)."""
    text = (SCRIPTS.parent / "report" / f"{name}.rst").read_text()
    text = jinja2.Template(text).render(snakemake=SimpleNamespace(wildcards=wildcards))
    return " ".join(text.replace("``", "").replace("**", "").split())


def figure_list():
    """(dataset, title, caption, png) of every figure, in the order the summary page shows
    them: per study dataset its curves, final accuracy and sweeps; then the XOR boundaries."""
    figs = [
        (d, title, caption_text(caption, dataset=d), figure_png(stem, d))
        for d in STUDY["datasets"]
        for figures in DATASET_FIGURES.values()
        for stem, caption, title in figures
    ]
    return figs + [
        ("xor", f"XOR decision boundary: {a}", caption_text("xor"), xor_boundary_png(a))
        for a in plan.ablations_on(STUDY, "xor")
    ]


def layout_groups():
    """dataset -> figure group -> its ablations on that dataset, for every dataset with figures:
    the groups of TensorBoard's custom-scalars layout, as the figures rule draws them."""
    return {
        d: {
            g: [a for a in ablations if d in plan.datasets_of(STUDY, a)]
            for g, ablations in STUDY["figure_groups"].items()
        }
        for d in STUDY["datasets"]
    }


def tensorboard_runs():
    """The runs the report adds to TensorBoard (none with the live curves turned off): each
    ablation's mean over its seeds, on each dataset, and the layout of the figure groups."""
    if not STUDY["tensorboard"]:
        return []
    means = [
        str(mean_run_file(TENSORBOARD_ROOT, d, a))
        for a in STUDY["ablations"]
        for d in plan.datasets_of(STUDY, a)
    ]
    return means + [f"{TENSORBOARD_ROOT}/{LAYOUT_RUN}"]
