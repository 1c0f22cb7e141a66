"""The report end to end through the real snakemake CLI on a tiny study: every table,
figure and the HTML summary, `snakemake --report`, and reruns that touch no training."""
import pandas as pd
import pytest
import yaml

from chromium import Browser, find_chromium
from conftest import planned_jobs, run_snakemake, tiny_config

pytestmark = pytest.mark.workflow

HOSTILE = '<script>window.__pwned = true</script>'
BASE_PARAMS = 784 * 32 + 32 + 32 * 4 + 4  # tiny config: 784 -> 32 -> 4 classes


def report_config(workdir):
    return tiny_config(
        workdir,
        ablations={
            "base": {"description": f"baseline {HOSTILE}"},
            "gelu": {"activation": "gelu"},
            "wide": {"hidden": [64]},
            "xor": {"dataset": "xor", "hidden": [8], "batch_size": 4, "momentum": 0.9,
                    "epochs": 40, "max_steps": 40, "eval_every": 10},
        },
        figure_groups={"activation": ["base", "gelu"], "width": ["base", "wide"]},
        claims=[
            {"text": "GELU gives no clear gain", "ablation": "gelu", "reference": "base",
             "metric": "test_accuracy", "expect": "at_most", "tolerance": 50},
            {"text": "wide beats base", "ablation": "wide", "reference": "base",
             "metric": "test_accuracy", "expect": "greater"},
            {"text": "base parameters", "ablation": "base", "metric": "param_count",
             "expect": "about", "size": BASE_PARAMS},
            {"text": "base parameters as the report says", "ablation": "base",
             "metric": "param_count", "expect": "about", "size": BASE_PARAMS - 1},
        ])


def test_report_end_to_end(workdir):
    config = report_config(workdir)
    run_snakemake(workdir)
    results = workdir / "results"
    n_runs = len(config["ablations"]) * len(config["seeds"])

    final = pd.read_csv(results / "final.csv")
    assert len(final) == n_runs and set(final["status"]) == {"ok"}
    assert (final["gap"] == final["train_accuracy"] - final["test_accuracy"]).all()
    assert final["max_rss_mb"].notna().all() and (final["max_rss_mb"] > 0).all()
    metrics = pd.read_csv(results / "metrics.csv")
    assert {"dataset", "ablation", "seed"} <= set(metrics.columns)
    assert set(metrics["ablation"]) == set(config["ablations"])
    summary = pd.read_csv(results / "ablation_stats.csv")
    assert list(summary["ablation"]) == list(config["ablations"])
    assert (summary["n_ok"] == len(config["seeds"])).all()

    claims = pd.read_csv(results / "claims.csv")
    assert len(claims) == len(config["claims"])
    verdicts = dict(zip(claims["claim"], claims["verdict"]))
    assert verdicts["base parameters"] == "supported"
    assert verdicts["base parameters as the report says"] == "contradicted"
    assert verdicts["GELU gives no clear gain"] in ("supported", "inconclusive", "contradicted")
    # Accuracy claims count the test set's sampling too (the default uncertainty), from each
    # run's stored test predictions; parameter counts are exact.
    sources = dict(zip(claims["claim"], claims["uncertainty"]))
    assert sources["wide beats base"] == sources["GELU gives no clear gain"] \
        == "seeds and 64 test examples"
    assert sources["base parameters"] == "none: exact"
    per_class = pd.read_csv(results / "datasets" / "tiny" / "per_class_accuracy.csv")
    assert set(per_class["ablation"]) == {"gelu", "wide"}  # each against base, its reference
    assert set(per_class["reference"]) == {"base"} and per_class["difference_pp"].notna().all()

    figures = results / "figures"
    names = ["tiny/claims_forest", "tiny/curves_activation", "tiny/curves_width",
             "tiny/final_accuracy", "tiny/per_class", "xor_boundary_xor"]
    for name in names:
        for ext in ("png", "svg"):
            assert (figures / f"{name}.{ext}").stat().st_size > 1000, f"{name}.{ext}"
    assert "identical" in (results / "logs" / "report" / "xor_boundary_xor.log").read_text()

    html = (results / "summary.html").read_text()
    assert html.count("data:image/png;base64,") == len(names)
    assert "&lt;script&gt;window.__pwned" in html and "<script" not in html
    assert "not a git checkout" in html

    run_snakemake(workdir, "--report", "report.html")
    report = (workdir / "report.html").read_text()
    assert "claims.csv" in report and "curves_activation.png" in report
    # Captions from workflow/report/*.rst, filled in: the verdict rules (stats.VERDICT_RULES)
    # under claims.csv, the dataset under each figure.
    assert "exact binomial tests" in report and "{{" not in report
    assert "figure group on dataset tiny" in report

    if find_chromium():
        with Browser(find_chromium()) as browser:
            page = browser.open(results / "summary.html")
            got = page.evaluate("""(async () => {
              const imgs = [...document.images];
              const ok = await Promise.all(imgs.map(i => i.decode().then(() => true, () => false)));
              return {ok, widths: imgs.map(i => i.naturalWidth),
                      rows: document.querySelectorAll('#claims tbody tr').length,
                      pwned: window.__pwned === true};
            })()""")
            assert page.problems() == []
        assert all(got["ok"]) and min(got["widths"]) > 0 and len(got["ok"]) == len(names)
        assert got["rows"] == len(config["claims"]) and not got["pwned"]

    # Nothing left to do; then edits that must not retrain anything.
    assert "Nothing to be done" in run_snakemake(workdir, "-n").stdout
    edited = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    edited["claims"][0]["tolerance"] = 1.0
    edited["figure_groups"]["activation"] = ["gelu", "base"]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    jobs = planned_jobs(workdir)
    assert "train" not in jobs and "aggregate" not in jobs
    assert jobs.get("claims") == 1 and jobs.get("figures") == 1 and jobs.get("summary") == 1
    run_snakemake(workdir)
    plotting = workdir / "workflow" / "scripts" / "mlpstudy" / "figures.py"
    plotting.write_text(plotting.read_text() + "# an edit of the plotting code\n")
    jobs = planned_jobs(workdir)
    assert {"figures", "xor_boundary", "summary"} <= set(jobs), jobs
    assert not {"train", "prepare_dataset", "aggregate", "claims"} & set(jobs), jobs
